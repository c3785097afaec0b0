#!/usr/bin/env python3
"""How fast do `ksi --help` and an empty `ksi list` answer?  Targets (issue 14): `ksi --help`
<= 0.10 s, `ksi list` with nothing to list <= 0.3 s (no kubernetes import where not needed).

Runs each command N times (warm page cache) side by side in one process and prints a table of
median and worst wall times, with the bare interpreter and an eager `import kubernetes` as
reference points, so the ratio to the interpreter's own start-up is visible.

`ksi list` runs `kind get clusters`.  It is measured twice: with the test double of kind (a
Python program that itself runs the nerdctl double: ~0.2 s of its own), and with a stub `kind`
that answers like the real one with no cluster (`No kind clusters found.` on stderr, exit 0;
kind's pkg/cmd/kind/get/clusters/clusters.go), which is what a Go binary costs (a few ms):
the second is ksi's own time, the one the target is about.

    python bench/help_startup.py [-n 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HELP_TARGET = 0.10
LIST_TARGET = 0.30


def measure(argv: list[str], n: int, env: dict[str, str] | None = None) -> list[float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                       env=env)
        times.append(time.perf_counter() - t0)
    return times


def list_envs(tmp: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Environments for `ksi list`: the doubles on PATH, and a stub kind on PATH."""
    (tmp / "fake").mkdir()
    (tmp / "xdg").mkdir(mode=0o700)
    base = {**os.environ, "KSI_FAKE_ROOT": str(tmp / "fake"), "XDG_RUNTIME_DIR": str(tmp / "xdg")}
    doubles = {**base, "PATH": f"{ROOT / 'tests' / 'fakeworld' / 'bin'}:{os.environ['PATH']}"}
    stub_dir = tmp / "stub"
    stub_dir.mkdir()
    stub = stub_dir / "kind"
    stub.write_text("#!/bin/sh\necho 'No kind clusters found.' >&2\n")
    stub.chmod(0o755)
    stubbed = {**base, "PATH": f"{stub_dir}:{os.environ['PATH']}"}
    return doubles, stubbed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20)
    args = parser.parse_args()
    ksi = shutil.which("ksi") or sys.exit("ksi is not on PATH: pip install -e . first")
    tmp = Path(tempfile.mkdtemp(prefix="ksi-bench-help-"))
    doubles, stubbed = list_envs(tmp)
    kind_double = str(ROOT / "tests" / "fakeworld" / "bin" / "kind")
    cases = [
        ("python -c pass", [sys.executable, "-c", "pass"], None),
        ("ksi --help", [ksi, "--help"], None),
        ("ksi run --help", [ksi, "run", "--help"], None),
        ("ksi --version", [ksi, "--version"], None),
        ("ksi list (stub kind: ksi's own)", [ksi, "list"], stubbed),
        ("ksi list (kind double)", [ksi, "list"], doubles),
        ("kind get clusters (double alone)", [kind_double, "get", "clusters"],
         {**doubles, "KIND_EXPERIMENTAL_PROVIDER": "nerdctl"}),
        ("python -c 'import kubernetes.client'",
         [sys.executable, "-c", "import kubernetes.client"], None),
    ]
    rows = []
    try:
        for label, argv, env in cases:
            measure(argv, 2, env)  # warm-up
            t = measure(argv, args.n, env)
            rows.append((label, statistics.median(t), max(t)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base = rows[0][1]
    print(f"{'command':40} {'median s':>9} {'max s':>7} {'x python':>9}")
    for label, med, worst in rows:
        print(f"{label:40} {med:9.3f} {worst:7.3f} {med / base:9.2f}")
    help_median, list_median = rows[1][1], rows[4][1]
    print(f"\nksi --help median {help_median:.3f}s: "
          f"{'within' if help_median <= HELP_TARGET else 'OVER'} the {HELP_TARGET} s target")
    print(f"ksi list (nothing to list) median {list_median:.3f}s: "
          f"{'within' if list_median <= LIST_TARGET else 'OVER'} the {LIST_TARGET} s target "
          f"(with the kind double: {rows[5][1]:.3f}s, of which the double alone "
          f"{rows[6][1]:.3f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
