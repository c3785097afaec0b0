"""The layout of ``<shared-dir>/jobs/<job>.<step>/``: every name in it is spelled here only;
also ``ksi doctor``'s meeting place ``<shared-dir>/doctor/<job>.<step>/`` (``ksi.doctor.gather``).

Besides the names, what processes other than the members need of a job directory, without
joining it: the listing (``ksi list --all-nodes``), the reaper and a dead member's guardian
(``mark_dead``, ``forget_member``), ``ksi report`` (``event_files``).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from dataclasses import asdict
from pathlib import Path

from ksi.constants import EXIT_KSI_FAILED
from ksi.paths import ForeignFile, read_private, remove_quietly, write_private
from ksi.rendezvous.records import MemberRecord, Outcome

JOBS_DIR = "jobs"
MEMBERS_DIR = "members"
SECRETS_DIR = "secrets"
EVENTS_DIR = "events"
DIAGNOSTICS_DIR = "diagnostics"
LEADER_LOCK = "leader.lock"
LEADER_FILE = "leader.json"
OUTCOME_FILE = "outcome.json"
JOB_FILE = "job.json"  # which job the directory belongs to (protocol step 0)
OLD_EVENTS_FILE = "events.jsonl"  # before per-member files; still read by ``ksi report``
FAILED_FILE = "failed.json"  # written by a member that fails, or a dead one's guardian
MEMBER_FILE_RE = re.compile(r"^(\d+)\.json$")
DOCTOR_DIR = "doctor"  # <shared-dir>/doctor/<job>.<step>/: ksi doctor across nodes


def doctor_arrival(rank: int) -> str:
    """A ``ksi doctor`` rank's arrival (its node), relative to the doctor's step directory."""
    return f"{rank}.arrived"


def doctor_results(rank: int) -> str:
    """A ``ksi doctor`` rank's checks, relative to the doctor's step directory."""
    return f"{rank}.json"


def member_file(rank: int) -> str:
    """A member's record, relative to the job directory."""
    return f"{MEMBERS_DIR}/{rank}.json"


def secret_file(rank: int) -> str:
    """A member's kubeconfig for the leader's ``liqoctl peer``, relative to the job directory."""
    return f"{SECRETS_DIR}/{rank}.kubeconfig"


def create_exclusive(path: Path, data: str) -> None:
    """Create ``path`` whole, failing with FileExistsError when it exists (temp + link: atomic
    on local filesystems and on NFS, whatever the lock semantics)."""
    tmp = write_private(path.with_name(f".{path.name}.{secrets.token_hex(6)}"), data)
    try:
        os.link(tmp, path)
    finally:
        remove_quietly(tmp)


def mark_dead(job_dir: Path, rank: int, *, leader: bool, why: str) -> None:
    """A guardian's news: member ``rank`` died without saying so (SIGKILL).  Its record turns
    ``failed`` so the others stop waiting for it; a dead leader also ends the run."""
    path = job_dir / member_file(rank)
    try:
        data = json.loads(read_private(path))
        if data.get("status") in ("failed", "done"):
            return
        data.update(status="failed", error=why, updated=time.time())
        write_private(path, json.dumps(data))
        write_private(job_dir / FAILED_FILE, json.dumps({"rank": rank}))
        if leader and not (job_dir / OUTCOME_FILE).exists():
            write_private(job_dir / OUTCOME_FILE, json.dumps(asdict(Outcome(
                "failed", EXIT_KSI_FAILED, f"the leader (rank {rank} on {data.get('node')}) "
                f"{why}", whose="ksi", cause="member"))))
    except (OSError, ValueError, AttributeError, ForeignFile):
        pass  # best effort: the lock probe and the timeouts still hold


def forget_member(job_dir: Path, rank: int, *, leader: bool) -> None:
    """What a dead member left in its job directory that must not outlive it: its credential
    and, if it led, the leader lock.  Events, records and diagnostics stay."""
    remove_quietly(job_dir / secret_file(rank))
    if leader:
        remove_quietly(job_dir / LEADER_LOCK)


def job_dirs(shared_dir: Path) -> list[Path]:
    """The job directories under ``shared_dir`` (``<job>.<step>``), sorted; nothing created."""
    return sorted((shared_dir / JOBS_DIR).glob("*.*"))


def ended(job_dir: Path) -> bool:
    """True once the leader (or a guardian for a dead leader) published the outcome."""
    return (job_dir / OUTCOME_FILE).exists()


def event_files(job_dir: Path) -> list[Path]:
    """Every events file of a job directory: one per member, and the single file of older runs."""
    old = job_dir / OLD_EVENTS_FILE
    return ([old] if old.is_file() else []) + sorted((job_dir / EVENTS_DIR).glob("*.jsonl"))


def read_members(job_dir: Path) -> list[MemberRecord]:
    """The member records of a job directory, for ``ksi list --all-nodes`` (no checks)."""
    found = []
    for path in (job_dir / MEMBERS_DIR).glob("*.json"):
        try:
            found.append(MemberRecord(**json.loads(read_private(path))))
        except (OSError, ValueError, TypeError, ForeignFile):
            continue
    return found
