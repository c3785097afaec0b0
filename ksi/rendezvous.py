"""Rendezvous of the members of one job step in a directory on the shared filesystem.

Protocol (one directory per job step, ``<shared-dir>/jobs/<job>.<step>/``, mode 0700):

1. Every member creates the directory if needed (``mkdir`` is atomic; losing the race is fine)
   and tries once, without waiting, to take ``leader.lock`` with ``filelock.FileLock``.  Exactly
   one member gets it, whatever the timing, and holds it for its whole life; it writes
   ``leader.json`` (rank, node, pid).  The others are followers and read ``leader.json``.
2. Every member publishes ``members/<rank>.json``: node, address, cluster name, ports, and a
   ``status`` that only moves forward (joined -> cluster-ready -> liqo-ready -> done, or
   failed with the phase and a one-line error).  Every file is written whole: a temp file in the
   same directory, then ``rename`` (atomic on POSIX and on NFS), so a reader never sees half.
3. Credentials another member needs (a follower's kubeconfig, for the leader's ``liqoctl
   peer``) go to ``secrets/<rank>.kubeconfig``, mode 0600 from creation, and are deleted at
   teardown.  Records hold no secret.
   A member that fails also writes ``failed.json`` (its rank), so that a waiting follower
   looks at one file, not at N records, to learn of a failure.
4. The leader publishes ``outcome.json`` once: the workload's exit code, or the failure that
   ended the run (node, rank, phase).  Followers wait for it, then tear down.
5. Liveness: a follower that can take ``leader.lock`` knows the leader's process is gone (the
   kernel, or the NFS lock manager, drops a dead process's locks) and tears down.  The leader
   learns of a follower's death from Slurm (the step ends) or from a record that stops moving
   past the bring-up timeout.

Why the lock holds on NFS: ``filelock.FileLock`` is ``UnixFileLock``, i.e. ``flock(2)``; Linux
NFS clients (since 2.6.12) implement ``flock`` as a whole-file POSIX lock forwarded to the server
(NLM for NFSv3, in-protocol for NFSv4), so it is exclusive across nodes.  A filesystem mounted
without lock support answers ENOLCK/ENOSYS; ksi then stops with an error naming the directory.
Not guaranteed: leader election across a network partition, and anything on a filesystem that
is not in fact shared (``ksi doctor`` checks that; the missing-member timeout names it).

Other files of the job directory: ``events/<rank>.jsonl`` (each member appends its phase events
to its own file: ``open(2)`` warns that ``O_APPEND`` may corrupt a file several NFS clients
append to; older runs wrote one ``events.jsonl``, which ``event_files`` still returns) and
``diagnostics/<node>-r<rank>/``.  Every name of this layout is spelled in this module only.

Every wait here is bounded and watches the shutdown flag.  Unreadable or foreign files in the
directory are ignored with one warning each.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from filelock import BaseFileLock

from ksi.constants import EXIT_KSI_FAILED
from ksi.errors import KsiError, PhaseTimeout, RendezvousError, UsageError
from ksi.paths import private_dir, remove_quietly, write_private
from ksi.signals import Shutdown

STATUSES = ("joined", "cluster-ready", "liqo-ready", "federated", "done")
# --- the layout of ``<shared-dir>/jobs/<job>.<step>/`` --------------------------------------------
JOBS_DIR = "jobs"
MEMBERS_DIR = "members"
SECRETS_DIR = "secrets"
EVENTS_DIR = "events"
DIAGNOSTICS_DIR = "diagnostics"
LEADER_LOCK = "leader.lock"
LEADER_FILE = "leader.json"
OUTCOME_FILE = "outcome.json"
OLD_EVENTS_FILE = "events.jsonl"  # before per-member files; still read by ``ksi report``
FAILED_FILE = "failed.json"  # written by a member that fails, or a dead one's guardian
MEMBER_FILE_RE = re.compile(r"^(\d+)\.json$")
#: seconds between two looks of the leader waiting for every member (a listing and a read
#: of each record not yet there)
POLL = 0.25
#: seconds between two looks of a follower for ``outcome.json`` (one ``open``)
OUTCOME_POLL = 0.5


@dataclass
class MemberRecord:
    rank: int
    node: str
    address: str
    cluster: str
    pid: int
    status: str = "joined"
    phase: str = ""
    error: str = ""
    api_port: int = 0
    gateway_port: int = 0
    updated: float = field(default_factory=time.time)

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    def reached(self, status: str) -> bool:
        return self.status in STATUSES and STATUSES.index(self.status) >= STATUSES.index(status)


@dataclass
class Outcome:
    status: str  # "finished" or "failed"
    exit_code: int  # what `ksi run` exits with (README, Exit codes)
    error: str = ""
    whose: str = ""  # "workload": exit_code is the workload's own; "ksi": ksi's (see cause)
    cause: str = ""  # when ksi's: bad input, missing tool, bring-up, member, time, ...


class JobDir:
    """The rendezvous directory of one job step, seen by one member."""

    def __init__(self, shared_dir: Path, run_id: str, *, rank: int, members: int,
                 warn: Callable[[str], None]) -> None:
        root = private_dir(shared_dir, what="shared directory (--shared-dir)")
        self.path = private_dir(private_dir(root / JOBS_DIR, what="jobs directory") / run_id,
                                what="job directory")
        self.members_dir = private_dir(self.path / MEMBERS_DIR, what="members directory")
        self.secrets_dir = private_dir(self.path / SECRETS_DIR, what="secrets directory")
        self.rank = rank
        self.members = members
        self.warn = warn
        self._warned: set[str] = set()
        self._lock: BaseFileLock | None = None  # held for the leader's whole life
        self.is_leader = False

    # --- election ----------------------------------------------------------------------------
    @property
    def lock_path(self) -> Path:
        return self.path / LEADER_LOCK

    @property
    def outcome_path(self) -> Path:
        return self.path / OUTCOME_FILE

    def events_path(self, rank: int) -> Path:
        """This member's own events file (``ksi.progress`` appends to it)."""
        return private_dir(self.path / EVENTS_DIR, what="events directory") / f"{rank}.jsonl"

    def diagnostics_dir(self, node: str, rank: int) -> Path:
        """Where a member saves its diagnostics (``ksi.diagnostics``), created private."""
        parent = private_dir(self.path / DIAGNOSTICS_DIR, what="diagnostics directory")
        return private_dir(parent / f"{node}-r{rank}", what="diagnostics directory")

    def elect(self, node: str) -> bool:
        """Try once to become the leader; True when this member leads."""
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.lock_path), mode=0o600, thread_local=False)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return False
        except OSError as exc:
            raise UsageError(
                f"cannot lock {self.lock_path}: {exc.strerror}",
                hint="--shared-dir must be on a filesystem with working file locks "
                "(NFS with lockd, Lustre mounted with flock)") from None
        self._lock = lock
        self.is_leader = True
        self._write(LEADER_FILE, {"rank": self.rank, "node": node, "pid": os.getpid()})
        return True

    def leader_alive(self) -> bool:
        """From a follower: False when the leader's lock is free (its process is gone)."""
        from filelock import FileLock, Timeout

        if not self.lock_path.exists():
            return False
        probe = FileLock(str(self.lock_path), mode=0o600, thread_local=False)
        try:
            probe.acquire(timeout=0)
        except Timeout:
            return True
        except OSError:
            return True  # cannot tell: assume alive, other timeouts still bound the wait
        probe.release()
        return False

    def release_leadership(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    # --- records -------------------------------------------------------------------------------
    def _write(self, name: str, data: dict[str, object] | str) -> Path:
        path = self.path / name
        try:
            return write_private(path, data if isinstance(data, str) else json.dumps(data))
        except OSError as exc:
            raise RendezvousError(
                f"cannot write {path}: {exc.strerror or exc}",
                hint=f"is the shared directory full or read-only? check `df -h {self.path}`"
            ) from None

    def _read(self, path: Path) -> dict[str, object] | None:
        try:
            # O_NOFOLLOW: a symlink planted here is refused, never followed
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd) as handle:
                data = json.loads(handle.read())
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            return data
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            self._warn_once(str(path), f"ignoring unreadable file {path}: {exc}")
            return None

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.warn(message)

    def publish(self, record: MemberRecord) -> None:
        record.updated = time.time()
        self._write(f"{MEMBERS_DIR}/{record.rank}.json", asdict(record))
        if record.failed:  # the one file a waiting follower looks at for the others' failures
            self._write(FAILED_FILE, {"rank": record.rank})

    def failure_noted(self) -> bool:
        """True once some member failed (``failed.json``): one ``open`` a look, whatever N."""
        return self._read(self.path / FAILED_FILE) is not None

    def early_failure(self) -> MemberRecord | None:
        """Another member that failed before the workload started, from the records (a full
        read: called only once ``failure_noted``); None when the run had reached the workload,
        where a lost member must not take the others with it."""
        records = self.records().values()
        failed = [r for r in records if r.failed and r.rank != self.rank]
        if failed and not any(r.reached("federated") for r in records):
            return failed[0]
        return None

    def records(self, skip: "set[int] | frozenset[int]" = frozenset()
                ) -> dict[int, MemberRecord]:
        """The members' records; those of the ranks in ``skip`` are not read (nor returned)."""
        found: dict[int, MemberRecord] = {}
        for entry in sorted(os.listdir(self.members_dir)):
            if entry.startswith("."):
                continue  # a temp file being written
            match = MEMBER_FILE_RE.match(entry)
            if not match:
                self._warn_once(entry, f"ignoring foreign file {self.members_dir / entry}")
                continue
            if int(match[1]) in skip:
                continue
            data = self._read(self.members_dir / entry)
            if data is None:
                continue
            try:
                record = MemberRecord(**data)  # type: ignore[arg-type]
            except TypeError as exc:
                self._warn_once(entry, f"ignoring malformed record {entry}: {exc}")
                continue
            if record.rank != int(match[1]) or not 0 <= record.rank < self.members:
                self._warn_once(entry, f"ignoring record {entry}: rank does not belong here")
                continue
            found[record.rank] = record
        return found

    def leader(self) -> dict[str, object] | None:
        return self._read(self.path / LEADER_FILE)

    def publish_outcome(self, outcome: Outcome) -> None:
        self._write(OUTCOME_FILE, asdict(outcome))

    def outcome(self) -> Outcome | None:
        data = self._read(self.outcome_path)
        if data is None:
            return None
        try:
            return Outcome(**data)  # type: ignore[arg-type]
        except TypeError:
            return None

    # --- secrets -------------------------------------------------------------------------------
    def secret_path(self, rank: int) -> Path:
        return self.secrets_dir / f"{rank}.kubeconfig"

    def put_secret(self, rank: int, data: str) -> Path:
        return self._write(f"{SECRETS_DIR}/{rank}.kubeconfig", data)

    def drop_secret(self, rank: int) -> None:
        remove_quietly(self.secret_path(rank))

    # --- waiting -------------------------------------------------------------------------------
    def wait_all(self, status: str, *, timeout: float,
                 shutdown: Shutdown) -> dict[int, MemberRecord]:
        """Wait until every member reached ``status``; fail fast when one failed.

        A record that reached ``status`` is not read again (a member failing after that is
        the watcher's to notice, ``ksi/watch.py``): a look costs a listing and one read per
        member still on its way.
        """
        deadline = time.monotonic() + timeout
        settled: dict[int, MemberRecord] = {}
        while True:
            shutdown.check()
            records = {**settled, **self.records(skip=set(settled))}
            settled = {r.rank: r for r in records.values() if r.reached(status)}
            failed = [r for r in records.values() if r.failed]
            if failed:
                first = failed[0]
                raise member_failed(first)
            if len(records) == self.members and all(r.reached(status)
                                                    for r in records.values()):
                return records
            if time.monotonic() > deadline:
                missing = sorted(set(range(self.members)) - set(records))
                behind = [f"{r.rank} ({r.node})" for r in sorted(records.values(),
                                                                  key=lambda r: r.rank)
                          if not r.reached(status)]
                if missing:
                    raise PhaseTimeout(
                        f"rank(s) {', '.join(map(str, missing))} never arrived in {self.path} "
                        f"after {timeout:.0f}s",
                        hint="is --shared-dir on a filesystem all nodes share?")
                raise PhaseTimeout(
                    f"rank(s) {', '.join(behind)} did not reach {status} after "
                    f"{timeout:.0f}s", hint="see those members' output; raise --timeout")
            shutdown.wait(POLL)

    def wait_outcome(self, *, shutdown: Shutdown, leader_check_every: float = 1.0,
                     deadline: float | None = None,
                     leader_alive: Callable[[], bool] | None = None) -> Outcome:
        """Follower: wait for the leader's outcome, noticing a dead leader within seconds.

        Cheap on a shared filesystem, whatever the number of members: one ``open`` of
        ``outcome.json`` every ``OUTCOME_POLL``, and every ``leader_check_every`` one ``open``
        of ``failed.json`` and one probe of the leader's lock (``leader_alive``, default
        ``self.leader_alive``; the watcher's ``LockProbe`` does it in one ``flock``): four
        operations a second.  The records are read only once a failure is noted.
        """
        alive = leader_alive or self.leader_alive
        next_check = time.monotonic() + leader_check_every
        failure_seen = False
        while True:
            shutdown.check()
            outcome = self.outcome()
            if outcome is not None:
                return outcome
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + leader_check_every
                # fail fast during bring-up, without waiting for the leader to pass it on
                if not failure_seen and self.failure_noted():
                    failure_seen = True
                    early = self.early_failure()
                    if early is not None:
                        raise member_failed(early)
                if not alive() and self.outcome() is None:
                    raise RendezvousError("the leader's process is gone (its lock is free)",
                                          hint="see the leader's output; tearing down")
            if deadline is not None and time.monotonic() >= deadline:
                raise PhaseTimeout(
                    "stopped waiting: the job's time limit is near, and the clusters must be "
                    "gone before Slurm kills the step",
                    hint="ask for more --time, or lower --teardown-margin")
            shutdown.wait(OUTCOME_POLL)

    def cleanup(self) -> None:
        """Leader, at the very end: remove what must not outlive the run (locks, secrets)."""
        for entry in list(self.secrets_dir.iterdir()) if self.secrets_dir.exists() else []:
            remove_quietly(entry)
        self.release_leadership()
        remove_quietly(self.lock_path)


def mark_dead(job_dir: Path, rank: int, *, leader: bool, why: str) -> None:
    """A guardian's news: member ``rank`` died without saying so (SIGKILL).  Its record turns
    ``failed`` so the others stop waiting for it; a dead leader also ends the run."""
    path = job_dir / MEMBERS_DIR / f"{rank}.json"
    try:
        data = json.loads(path.read_text())
        if data.get("status") in ("failed", "done"):
            return
        data.update(status="failed", error=why, updated=time.time())
        write_private(path, json.dumps(data))
        write_private(job_dir / FAILED_FILE, json.dumps({"rank": rank}))
        if leader and not (job_dir / OUTCOME_FILE).exists():
            write_private(job_dir / OUTCOME_FILE, json.dumps(asdict(Outcome(
                "failed", EXIT_KSI_FAILED, f"the leader (rank {rank} on {data.get('node')}) "
                f"{why}", whose="ksi", cause="member"))))
    except (OSError, ValueError, AttributeError):
        pass  # best effort: the lock probe and the timeouts still hold


def forget_member(job_dir: Path, rank: int, *, leader: bool) -> None:
    """What a dead member left in its job directory that must not outlive it: its credential
    and, if it led, the leader lock.  Events, records and diagnostics stay."""
    remove_quietly(job_dir / SECRETS_DIR / f"{rank}.kubeconfig")
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
            found.append(MemberRecord(**json.loads(path.read_text())))
        except (OSError, ValueError, TypeError):
            continue
    return found


def member_failed(record: MemberRecord) -> RendezvousError:
    error = RendezvousError(f"member rank {record.rank} on {record.node} failed in phase "
                            f"{record.phase or '?'}: {record.error}",
                            hint="its own output says more")
    error.about_member = True
    return error


def describe(exc: KsiError) -> str:
    """A failure as one line for a record or an outcome (node/rank/phase included).

    A failure *reported* by another member is passed on as that member said it, so the
    root cause reaches every member once, not wrapped in the location of each messenger.
    """
    if isinstance(exc, RendezvousError) and exc.about_member:
        return exc.message
    return exc.one_line().removeprefix("ERROR: ")
