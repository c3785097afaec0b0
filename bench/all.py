#!/usr/bin/env python3
"""The whole benchmark of issue 14 in one command; prints Markdown tables for docs/performance.md.

    sudo .venv/bin/python -m bench.all [--quick] [--repeat 3] [--nodes 1,2,3,4,8,16] [--scale 0.1]
                                       [--no-cheap]

1. start-up: ``ksi --help`` and an empty ``ksi list`` (``bench/help_startup.py``);
2. the rendezvous alone at 16, 64 and 256 members (``bench/rendezvous.py``);
3. ``srun -N<N> ksi run`` for N = 1, 2, 3, 4, 8, 16 (issue 14 asks T(8)/T(3) and T(16)/T(4)),
   with Liqo and side by side with ``--no-federation``, median of 3 (``bench/multinode.py``),
   with the doubles in their low-CPU mode (``--no-cheap``: the normal doubles), on the bench's
   own 16-node Slurm harness instance (/tmp/ksi-bench-harness, bridge ksibench0, 10.201.0.x,
   nodes bn1..bn16, ports 6917/6919), brought up if needed and left up (``python -m tests.slurm.harness down
   --base-dir /tmp/ksi-bench-harness ...`` removes it); never the shared default instance.

Needs root (the harness), strace for the filesystem counts (``apt-get install strace``), and ksi
installed in the interpreter that runs it.  ``--quick``: N = 1, 2, 4, one run each, 16/64
members (a try, not numbers to publish).  The load average before each run is in the tables.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import multinode, rendezvous  # noqa: E402


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{os.cpu_count()} CPUs ({cpu}), {mem} RAM, Linux {platform.release()}, "
            f"Python {platform.python_version()}; load average before the bench: {load}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--nodes", default="1,2,3,4,8,16")
    parser.add_argument("--members", default="16,64,256")
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--harness-base", default=None)
    parser.add_argument("--cheap", action=argparse.BooleanOptionalAction, default=True,
                        help="the doubles' low-CPU mode (KSI_FAKE_CHEAP=1; default: on)")
    parser.add_argument("--skip", default="", help="comma list of: startup,rendezvous,multinode")
    args = parser.parse_args()
    if args.quick:
        args.repeat, args.nodes, args.members = 1, "1,2,4", "16,64"
    skip = set(filter(None, args.skip.split(",")))
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    started = time.time()
    print(f"# ksi benchmark ({time.strftime('%Y-%m-%d %H:%M %Z')})\n")
    print(f"Machine: {machine()}\n")
    if "startup" not in skip:
        log("start-up...")
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        out = subprocess.run([sys.executable, str(ROOT / "bench" / "help_startup.py"), "-n",
                              "10" if args.quick else "20"], env=env, text=True,
                             capture_output=True, check=True).stdout
        print("## Start-up\n\n```\n" + out.rstrip() + "\n```\n")
    if "rendezvous" not in skip:
        log("rendezvous...")
        rows = rendezvous.run([int(m) for m in args.members.split(",")], 4.0,
                              1 if args.quick else args.repeat, log=log)
        print("## Rendezvous alone (processes on one node, one shared directory)\n")
        print(rendezvous.table(rows) + "\n")
    if "multinode" not in skip:
        nodes_list = [int(n) for n in args.nodes.split(",")]
        cluster = multinode.harness(args.harness_base, max(nodes_list + [16]))
        log(f"Slurm harness {cluster.base_dir} ({cluster.n_nodes} nodes)...")
        cluster.up(timeout=120, started_by="bench")
        results = multinode.run_set(cluster, nodes_list, args.repeat, args.scale, log=log,
                                    cheap=args.cheap)
        print("## srun -N<N> ksi run, with the doubles\n")
        print(multinode.tables(results, args.scale, args.cheap) + "\n")
    print(f"(bench took {time.time() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
