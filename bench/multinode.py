#!/usr/bin/env python3
"""Wall time of `srun -N1/-N2/-N3 ksi run` on the Slurm harness, with doubles that sleep like the
real tools: do the members work in parallel?

The doubles sleep for a configurable fraction of what the real tools take on a typical node
(`--scale`, default 0.1: kind create 40 s -> 4 s, node Ready 15 s -> 1.5 s, liqoctl install
60 s -> 6 s, liqoctl peer 30 s -> 3 s).  Each N runs `--repeat` times, side by side in one
process; the table shows the median wall time, T(N)/T(1), and where the time went (the phase
durations of the leader from the job's events file), so what remains serial is visible.

    sudo python -m tests.slurm.harness up      # once (needs root)
    python bench/multinode.py [--scale 0.1] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.slurm.harness import DEFAULT_BASE_DIR, SlurmCluster  # noqa: E402

#: seconds the real tools take on a typical node (kind v0.29, Liqo v1.0, warm image cache)
REAL = {"KSI_FAKE_KIND_CREATE_SECONDS": 40, "KSI_FAKE_NODE_READY_SECONDS": 15,
        "KSI_FAKE_LIQO_INSTALL_SECONDS": 60, "KSI_FAKE_LIQO_PEER_SECONDS": 30}


def one_run(env: dict[str, str], base: Path, nodes: int) -> tuple[float, dict[str, float]]:
    work = base / "work"
    (work / "w.sh").write_text("kubectl get nodes -o name | wc -l > nodes.txt\n")
    argv = ["srun", f"-N{nodes}", "--ntasks-per-node=1", "-w", f"node[1-{nodes}]",
            str(ROOT / "tests" / "slurm" / "onnode.sh"), "ksi", "run", "w.sh"]
    t0 = time.perf_counter()
    res = subprocess.run(argv, cwd=work, env=env, text=True, capture_output=True, timeout=600,
                         check=False)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        sys.exit(f"srun -N{nodes} failed ({res.returncode}):\n{res.stderr}")
    seen = int((work / "nodes.txt").read_text())
    if seen != nodes:
        sys.exit(f"srun -N{nodes}: the workload saw {seen} nodes")
    phases: dict[str, float] = {}
    from ksi.rendezvous import LEADER_FILE, event_files, job_dirs

    job = sorted(job_dirs(base / "shared"), key=lambda p: p.stat().st_mtime)[-1]
    leader = json.loads((job / LEADER_FILE).read_text())["rank"]
    lines = [line for f in event_files(job) for line in f.read_text().splitlines()]
    for line in lines:
        event = json.loads(line)
        if event.get("rank") == leader and "phase" in event:
            phases[event["phase"]] = phases.get(event["phase"], 0.0) + event["duration"]
    return wall, phases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--max-nodes", type=int, default=3)
    args = parser.parse_args()
    cluster = SlurmCluster(os.environ.get("KSI_SLURM_BASE_DIR", DEFAULT_BASE_DIR))
    if not cluster.is_healthy():
        sys.exit("the Slurm harness is not up: sudo python -m tests.slurm.harness up")
    if not shutil.which("ksi"):
        sys.exit("ksi is not on PATH: pip install -e . first")
    results: dict[int, tuple[list[float], dict[str, float]]] = {}
    for nodes in range(1, args.max_nodes + 1):
        walls, last = [], {}
        for _ in range(args.repeat):
            base = Path(tempfile.mkdtemp(prefix="ksi-bench-"))
            for sub in ("fake", "shared", "xdg", "work", "home"):
                (base / sub).mkdir(mode=0o700)
            env = cluster.client_env({k: v for k, v in os.environ.items()
                                      if not k.startswith(("KSI_", "K8S_"))})
            env.update({k: f"{v * args.scale:g}" for k, v in REAL.items()})
            env.update({"PATH": f"{ROOT / 'tests' / 'doubles' / 'bin'}:{env['PATH']}",
                        "KSI_FAKE_ROOT": str(base / "fake"),
                        "KSI_SHARED_DIR": str(base / "shared"), "HOME": str(base / "home"),
                        "KSI_TEST_XDG_BASE": str(base / "xdg")})
            wall, last = one_run(env, base, nodes)
            walls.append(wall)
            shutil.rmtree(base, ignore_errors=True)
        results[nodes] = (walls, last)
    t1 = statistics.median(results[1][0])
    print(f"doubles sleep {args.scale:g} x the real tools: "
          + ", ".join(f"{k.removeprefix('KSI_FAKE_').lower()} {v * args.scale:g}s"
                      for k, v in REAL.items()))
    print()
    print(f"{'srun':<8} {'median s':>9} {'runs':>18} {'T(N)/T(1)':>10}")
    for nodes, (walls, _) in results.items():
        med = statistics.median(walls)
        runs = " ".join(f"{w:.1f}" for w in walls)
        print(f"{'-N' + str(nodes):<8} {med:>9.1f} {runs:>18} {med / t1:>10.2f}")
    print()
    names = list(dict.fromkeys(p for _, phases in results.values() for p in phases))
    print(f"{'leader phase (s)':<28}" + "".join(f"{'-N' + str(n):>8}" for n in results))
    for name in names:
        print(f"{name:<28}" + "".join(f"{results[n][1].get(name, 0.0):>8.1f}" for n in results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
