"""This node's record of the clusters ksi created, for ``ksi list`` and ``ksi delete --stale``.

kind is the truth about which clusters exist (``kind get clusters``); the record says who owns
one: host, pid (with its start time, so a reused pid is not mistaken for the owner), Slurm job and
step, and whether ``--keep`` asked to leave it.  A record is written *before* ``kind create``
starts, so a ksi killed with SIGKILL in the middle of creation still leaves a record behind for
the next ``ksi delete --stale`` (or the next ``ksi run``) to act on.

Liveness: a kept cluster is ``kept`` (never reaped automatically).  Otherwise a cluster is
``stale`` when its owner process on this host is gone, or its Slurm job has ended; ``alive``
when its owner runs; ``unknown`` when nothing can be decided (no record, Slurm not answering),
and unknown clusters are never deleted by ``--stale``.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from ksi.paths import private_dir, remove_quietly, runtime_root, write_private
from ksi.plan import parse_cluster_name
from ksi.slurm import LIVE_JOB_STATES


@dataclass
class Record:
    name: str
    host: str
    pid: int
    pid_start: str
    job_id: str | None
    step_id: str | None
    rank: int
    created: float
    run_dir: str
    kept: bool = False
    #: the shared job directory, and whether this member led: a reaper removes what a dead run
    #: left there (its secret, the leader's lock) but keeps events and diagnostics
    job_dir: str = ""
    leader: bool = False


def records_dir() -> Path:
    return private_dir(runtime_root() / "clusters", what="cluster registry")


def this_host() -> str:
    return socket.gethostname().split(".")[0]


def process_start(pid: int) -> str:
    """The start time of ``pid`` in clock ticks since boot (field 22 of /proc/PID/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def save(record: Record) -> None:
    write_private(records_dir() / f"{record.name}.json", json.dumps(asdict(record)))


def load(name: str) -> Record | None:
    try:
        return Record(**json.loads((records_dir() / f"{name}.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None


def remove(name: str) -> None:
    remove_quietly(records_dir() / f"{name}.json")


def owner_alive(record: Record) -> bool | None:
    """True/False for an owner on this host; None when the owner lives on another host."""
    if record.host != this_host():
        return None
    return bool(record.pid_start) and process_start(record.pid) == record.pid_start


def liveness(name: str, record: Record | None, job_state: "JobState") -> str:
    if record is not None and record.kept:
        return "kept"
    if record is not None:
        alive = owner_alive(record)
        if alive is False:
            return "stale"
        if alive and record.job_id is None:
            return "alive"
    parsed = parse_cluster_name(name)
    if parsed is not None and parsed.job is not None:
        state = job_state(parsed.job)
        if state is None:
            return "unknown"
        return "alive" if state in LIVE_JOB_STATES else "stale"
    if parsed is not None and record is None:
        return "unknown"
    return "alive" if record is not None else "unknown"


#: job id -> Slurm state name, "GONE" when Slurm no longer knows it, None when it cannot say.
JobState = Callable[[str], "str | None"]


def age(created: float) -> str:
    seconds = max(0, int(time.time() - created))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def new_record(name: str, job_id: str | None, step_id: str | None, rank: int,
               run_dir: Path, kept: bool = False, job_dir: Path | None = None,
               leader: bool = False) -> Record:
    pid = os.getpid()
    return Record(name=name, host=this_host(), pid=pid, pid_start=process_start(pid),
                  job_id=job_id, step_id=step_id, rank=rank, created=time.time(),
                  run_dir=str(run_dir), kept=kept, job_dir=str(job_dir or ""), leader=leader)
