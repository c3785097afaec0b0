"""Pruning finished job directories, so ``<shared-dir>/jobs`` does not grow forever.

Every ``ksi run`` leaves a job directory (``<shared-dir>/jobs/<job>.<step>``, outside Slurm
``jobs/ksi-p<pid>-<random>``) with its events, outcome and diagnostics, for ``ksi report`` and
for reading what went wrong.  A job directory is *finished* when it holds ``outcome.json`` (the
leader, or a guardian for a dead leader, wrote the run's end), or when nobody can still be using
it: its Slurm job is gone (job ids only; when Slurm cannot be asked, nothing is concluded), or,
outside Slurm, its ``leader.lock`` is gone (the leader removes it at its very end).

A finished job directory older than ``JOB_DIR_MAX_AGE_DAYS`` days (7; its newest entry counts)
is removed by the leader of every ``ksi run`` when it starts (within ``RUN_BUDGET`` seconds, so
a slow Slurm controller cannot delay a run; the rest waits for the next run), and by ``ksi clean``
(any age with ``--older-than``).  Only directories of this user are touched, symlinks never followed.
"""

from __future__ import annotations

import os
import shutil
import stat
import time
from pathlib import Path
from typing import Callable

from ksi.slurm import LIVE_JOB_STATES

#: finished job directories older than this are removed (README, "Files")
JOB_DIR_MAX_AGE_DAYS = 7.0
DAY = 86400.0
#: seconds a ``ksi run`` spends on pruning at most
RUN_BUDGET = 5.0


def _newest_mtime(path: Path) -> float:
    newest = os.lstat(path).st_mtime
    for entry in os.scandir(path):
        try:
            newest = max(newest, entry.stat(follow_symlinks=False).st_mtime)
        except OSError:
            pass
    return newest


def finished(job_dir: Path, job_state: Callable[[str], str | None]) -> bool:
    """True when no ksi can still be using ``job_dir`` (see the module docstring)."""
    if (job_dir / "outcome.json").exists():
        return True
    job_id = job_dir.name.split(".", 1)[0]
    if job_id.isdigit():
        state = job_state(job_id)
        return state is not None and state not in LIVE_JOB_STATES
    return not (job_dir / "leader.lock").exists()


def prunable(shared_dir: Path, older_than_days: float,
             job_state: Callable[[str], str | None], now: float | None = None,
             budget: float | None = None) -> list[Path]:
    """The finished job directories of ``shared_dir`` older than ``older_than_days``; with a
    ``budget`` (seconds), those found before it ran out (asking Slurm may be slow)."""
    jobs = shared_dir / "jobs"
    now = time.time() if now is None else now
    stop = time.monotonic() + budget if budget is not None else None
    found = []
    try:
        entries = sorted(os.scandir(jobs), key=lambda e: e.name)
    except OSError:
        return []
    for entry in entries:
        if stop is not None and time.monotonic() > stop:
            break
        try:
            st = entry.stat(follow_symlinks=False)
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
                continue
            path = Path(entry.path)
            if now - _newest_mtime(path) < older_than_days * DAY:
                continue
        except OSError:
            continue
        if finished(path, job_state):
            found.append(path)
    return found


def prune(shared_dir: Path, older_than_days: float,
          job_state: Callable[[str], str | None], *, dry_run: bool = False,
          budget: float | None = None) -> tuple[list[Path], list[str]]:
    """Remove the prunable job directories; return (removed, errors).  Never raises."""
    removed, errors = [], []
    for path in prunable(shared_dir, older_than_days, job_state, budget=budget):
        if dry_run:
            removed.append(path)
            continue
        problems: list[str] = []
        # onerror, not onexc: Python 3.11 is supported
        shutil.rmtree(path, onerror=lambda _f, p, e: problems.append(f"{p}: {e[1]}"))
        (errors.extend(problems[:1]) if problems else removed.append(path))
    return removed, errors
