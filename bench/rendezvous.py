#!/usr/bin/env python3
"""The rendezvous alone (no Slurm, no clusters): N members as processes on one node sharing a
job directory, as ``ksi run`` uses it (``ksi/rendezvous/``).

Every member arrives at a random moment within ``--spread`` seconds (its record reaches
``liqo-ready``, as after its bring-up); the leader waits for all of them
(``JobDir.wait_all``) and publishes the outcome; the followers wait for it
(``JobDir.wait_outcome`` with the watcher's lock probe, as ``ksi run`` does).  Reported:

* release: from the last arrival to the moment the last member knows the outcome;
* filesystem operations per second of one waiting follower and of the waiting leader, counted
  with ``strace -c -f`` while they wait (every file-system system call: open, stat, getdents,
  read, write, close, flock, rename, unlink...; not the sleeps): on NFS or Lustre most are a round
  trip to the server.

    python -m bench.rendezvous [--members 16,64,256] [--spread 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ksi.rendezvous import JobDir, MemberRecord, Outcome  # noqa: E402
from ksi.signals import Shutdown  # noqa: E402
try:
    from ksi.watch import LockProbe
except ImportError:  # ksi before issue 14 (for the "before" column): the follower's own probe
    LockProbe = None  # type: ignore[assignment,misc]

#: system calls that are not file-system operations (waiting, clocks, memory, signals)
NOT_FS = {"futex", "clock_nanosleep", "nanosleep", "select", "pselect6", "poll", "ppoll",
          "epoll_wait", "clock_gettime", "gettimeofday", "mmap", "munmap", "brk", "mprotect",
          "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "getpid", "gettid", "wait4",
          "madvise", "restart_syscall", "getrandom", "sched_yield", "total"}


def member(shared: Path, rank: int, members: int, arrive_at: float, out: Path) -> None:
    """One member's life (in a forked child)."""
    time.sleep(max(0.0, arrive_at - time.time()))
    job = JobDir(shared, "bench.0", rank=rank, members=members, warn=lambda _: None)
    leader = job.elect(f"host{rank}")
    record = MemberRecord(rank=rank, node=f"host{rank}", address="127.0.0.1",
                          cluster=f"c{rank}", pid=os.getpid(), status="liqo-ready")
    job.publish(record)
    arrived = time.time()
    shutdown = Shutdown()
    if leader:
        (out / "leader.pid").write_text(str(os.getpid()))
        job.wait_all("liqo-ready", timeout=600, shutdown=shutdown)
        job.publish_outcome(Outcome("finished", 0))
    else:
        if LockProbe is None:
            job.wait_outcome(shutdown=shutdown)
        else:
            probe = LockProbe(job.lock_path, job)
            job.wait_outcome(shutdown=shutdown, leader_alive=probe.held)
            probe.close()
    known = time.time()
    (out / f"{rank}.json").write_text(json.dumps({"rank": rank, "arrived": arrived,
                                                  "known": known, "leader": leader}))
    if leader:  # as at the end of a run: wait for the followers to be gone (not measured)
        time.sleep(1.0)
        job.cleanup()


def strace_count(pid: int, seconds: float) -> tuple[float, dict[str, int]]:
    """File-system system calls per second of ``pid`` (and its threads) over ``seconds``."""
    proc = subprocess.Popen(["strace", "-c", "-f", "-p", str(pid)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(seconds)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    counts: dict[str, int] = {}
    for line in err.splitlines():
        parts = line.split()
        # % time, seconds, usecs/call, calls, [errors], syscall
        if len(parts) >= 5 and re.fullmatch(r"[\d.]+", parts[0]) and parts[-1] not in NOT_FS:
            counts[parts[-1]] = int(parts[3])
    return sum(counts.values()) / seconds, counts


def one(members: int, spread: float, measure: float) -> dict[str, Any]:
    base = Path(tempfile.mkdtemp(prefix="ksi-bench-rdv-"))
    shared, out = base / "shared", base / "out"
    shared.mkdir(mode=0o700)
    out.mkdir()
    start = time.time() + 0.5
    # rank 0 arrives first and leads; rank 1 arrives next and is the follower strace watches;
    # the others arrive at random within the spread, the last one at its end
    arrivals = [0.0, 0.05] + [random.uniform(0.1, spread) for _ in range(members - 3)] + [spread]
    arrivals = arrivals[:members]
    pids = []
    for rank in range(members):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                member(shared, rank, members, start + arrivals[rank], out)
            except BaseException:  # noqa: BLE001
                code = 1
            os._exit(code)
        pids.append(pid)
    follower_ops = leader_ops = (0.0, {})
    if shutil.which("strace") and measure > 0:
        # both have arrived and wait; the window closes before the last arrival
        time.sleep(max(0.0, start + 1.0 - time.time()))
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(2) as pool:
            follower = pool.submit(strace_count, pids[1], measure)
            leader = pool.submit(strace_count, pids[0], measure)
            follower_ops, leader_ops = follower.result(), leader.result()
    codes = [os.waitpid(p, 0)[1] for p in pids]
    results = [json.loads((out / f"{r}.json").read_text()) for r in range(members)
               if (out / f"{r}.json").exists()]
    shutil.rmtree(base, ignore_errors=True)
    if any(codes) or len(results) != members:
        raise RuntimeError(f"{members} members: {sum(1 for c in codes if c)} failed")
    last_arrival = max(r["arrived"] for r in results)
    release = max(r["known"] for r in results) - last_arrival
    return {"members": members, "release": release, "follower_ops": follower_ops[0],
            "follower_calls": follower_ops[1], "leader_ops": leader_ops[0],
            "leader_calls": leader_ops[1]}


def run(members_list: list[int], spread: float, repeat: int, log=print) -> list[dict[str, Any]]:
    rows = []
    for members in members_list:
        tries = [one(members, spread, measure=min(2.0, spread - 1.5)) for _ in range(repeat)]
        for t in tries:
            log(f"  rendezvous {members}: release {t['release']:.2f}s, "
                f"follower {t['follower_ops']:.1f} ops/s, leader {t['leader_ops']:.1f} ops/s")
        rows.append({
            "members": members,
            "release": statistics.median(t["release"] for t in tries),
            "release_max": max(t["release"] for t in tries),
            "follower_ops": statistics.median(t["follower_ops"] for t in tries),
            "leader_ops": statistics.median(t["leader_ops"] for t in tries),
            "follower_calls": tries[0]["follower_calls"], "leader_calls": tries[0]["leader_calls"],
        })
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    out = ["| members | release after the last arrival s (median, max) | fs ops/s of a waiting "
           "follower | fs ops/s of the waiting leader | a follower's calls |",
           "| --- | --- | --- | --- | --- |"]
    for r in rows:
        counts = sorted(r["follower_calls"].items(), key=lambda kv: -kv[1])
        calls = ", ".join(f"{k} {v}" for k, v in counts)
        out.append(f"| {r['members']} | {r['release']:.2f} ({r['release_max']:.2f}) | "
                   f"{r['follower_ops']:.1f} | {r['leader_ops']:.1f} | {calls or '-'} |")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", default="16,64,256")
    parser.add_argument("--spread", type=float, default=4.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = run([int(m) for m in args.members.split(",")], args.spread, args.repeat,
               log=lambda s: print(s, file=sys.stderr, flush=True))
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
