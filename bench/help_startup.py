#!/usr/bin/env python3
"""How fast does `ksi --help` answer?  Target: under 0.3 s (issue: lazy imports).

Runs each command N times (warm page cache) side by side in one process and prints a table of
median and worst wall times, with the bare interpreter and an eager `import kubernetes` as
reference points, so the ratio to the interpreter's own start-up is visible.

    python bench/help_startup.py [-n 20]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time


def measure(argv: list[str], n: int) -> list[float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t0)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20)
    args = parser.parse_args()
    ksi = shutil.which("ksi") or sys.exit("ksi is not on PATH: pip install -e . first")
    cases = [
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("ksi --help", [ksi, "--help"]),
        ("ksi run --help", [ksi, "run", "--help"]),
        ("ksi --version", [ksi, "--version"]),
        ("python -c 'import kubernetes.client'", [sys.executable, "-c", "import kubernetes.client"]),
    ]
    rows = []
    for label, argv in cases:
        measure(argv, 2)  # warm-up
        t = measure(argv, args.n)
        rows.append((label, statistics.median(t), max(t)))
    base = rows[0][1]
    print(f"{'command':40} {'median s':>9} {'max s':>7} {'x python':>9}")
    for label, med, worst in rows:
        print(f"{label:40} {med:9.3f} {worst:7.3f} {med / base:9.2f}")
    help_median = rows[1][1]
    print(f"\nksi --help median {help_median:.3f}s: "
          f"{'within' if help_median < 0.3 else 'OVER'} the 0.3 s target")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
