"""``JobDir``: the rendezvous directory of one job step as one member sees it -- its claim
(protocol step 0), the records and the outcome read back with every check (steps 2 and 4), the
secrets (step 3); the election (``election.py``) and the waits (``waiting.py``) are its parts."""

from __future__ import annotations

import errno
import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Iterable

from ksi.errors import RendezvousError
from ksi.paths import (
    ForeignFile,
    private_dir,
    read_private,
    remove_quietly,
    shared_root,
    write_private,
)
from ksi.rendezvous import waiting
from ksi.rendezvous.election import Election
from ksi.rendezvous.layout import (
    DIAGNOSTICS_DIR,
    EVENTS_DIR,
    FAILED_FILE,
    JOB_FILE,
    JOBS_DIR,
    LEADER_FILE,
    MEMBER_FILE_RE,
    MEMBERS_DIR,
    OUTCOME_FILE,
    SECRETS_DIR,
    create_exclusive,
    member_file,
    secret_file,
)
from ksi.rendezvous.records import MemberRecord, Outcome
from ksi.signals import Shutdown


class JobDir:
    """The rendezvous directory of one job step, seen by one member."""

    def __init__(self, shared_dir: Path, run_id: str, *, rank: int, members: int,
                 warn: Callable[[str], None], identity: str | None = None) -> None:
        root = shared_root(shared_dir)
        self.jobs_dir = private_dir(root / JOBS_DIR, what="jobs directory")
        self.warn = warn
        self.path = self._claim(self.jobs_dir / run_id, identity)
        self.members_dir = private_dir(self.path / MEMBERS_DIR, what="members directory")
        self.secrets_dir = private_dir(self.path / SECRETS_DIR, what="secrets directory")
        self.rank = rank
        self.members = members
        self._warned: set[str] = set()
        self.election = Election(self.path, rank=rank, warn=warn)

    # --- the job's own directory -------------------------------------------------------------
    def _claim(self, path: Path, identity: str | None) -> Path:
        """Create or join ``path``; set aside one left by another job (protocol step 0)."""
        for _ in range(5):
            private_dir(path, what="job directory")
            if identity is None:
                return path
            try:
                data = json.loads(read_private(path / JOB_FILE))
                found = data.get("identity") if isinstance(data, dict) else None
            except FileNotFoundError:
                try:
                    create_exclusive(path / JOB_FILE, json.dumps({"identity": identity}))
                    return path
                except FileExistsError:
                    continue  # another member was first: read theirs
            except (ForeignFile, ValueError) as exc:
                found = f"unreadable ({exc})"
            if found == identity:
                return path
            self._set_aside(path, found)
        raise RendezvousError(f"cannot claim the job directory {path}: it keeps changing",
                              hint="is another job using the same job id and shared directory?")

    def _set_aside(self, path: Path, found: object) -> None:
        try:
            inode = os.lstat(path).st_ino
            target = path.with_name(f"{path.name}.stale-{inode}")
            os.rename(path, target)
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise RendezvousError(f"cannot set aside the stale job directory {path}: "
                                      f"{exc.strerror}", hint=f"remove {path} by hand") from None
            return  # another member set it aside first
        self.warn(f"warning: {path} was left by another job ({found}); set aside as "
                  f"{target.name}, not used")

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

    # --- election (``election.py``) ------------------------------------------------------------
    @property
    def lock_path(self) -> Path:
        return self.election.lock_path

    @property
    def is_leader(self) -> bool:
        return self.election.is_leader

    @property
    def lock_watches_leader(self) -> bool:
        """False once this member saw the lock is not exclusive across nodes (step 1)."""
        return self.election.lock_watches_leader

    def elect(self, node: str) -> bool:
        """Try once to become the leader; True when this member leads (protocol step 1)."""
        return self.election.elect(node)

    def leader_alive(self) -> bool:
        """From a follower: False when the leader's lock is free (its process is gone)."""
        return self.election.leader_alive()

    def release_leadership(self) -> None:
        self.election.release()

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
            data = json.loads(read_private(path))  # no link followed; ours; nobody else's
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            return data
        except FileNotFoundError:
            return None
        except ForeignFile as exc:
            raise RendezvousError(f"refusing {exc} (someone else can write to the job "
                                  "directory?)", hint="check who can write to --shared-dir "
                                  "and its parents") from None
        except (OSError, ValueError) as exc:
            self._warn_once(str(path), f"ignoring unreadable file {path}: {exc}")
            return None

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.warn(message)

    def publish(self, record: MemberRecord) -> None:
        record.updated = time.time()
        self._write(member_file(record.rank), asdict(record))
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
        return self.path / secret_file(rank)

    def put_secret(self, rank: int, data: str) -> Path:
        return self._write(secret_file(rank), data)

    def peer_kubeconfig(self, rank: int) -> Path:
        """A follower's kubeconfig for ``liqoctl peer``, checked like every file read back."""
        path = self.secret_path(rank)
        try:
            read_private(path)
        except FileNotFoundError:
            raise RendezvousError(f"rank {rank} published no kubeconfig ({path})",
                                  hint="see that member's output") from None
        except ForeignFile as exc:
            raise RendezvousError(f"refusing {exc}", hint="check who can write to "
                                  "--shared-dir and its parents") from None
        return path

    def drop_secret(self, rank: int) -> None:
        remove_quietly(self.secret_path(rank))

    def drop_secrets(self) -> None:
        """Every follower's kubeconfig (the leader, once it has peered: none is needed again)."""
        for entry in list(self.secrets_dir.iterdir()) if self.secrets_dir.exists() else []:
            remove_quietly(entry)

    # --- waiting (``waiting.py``) ----------------------------------------------------------------
    def wait_all(self, status: str, *, timeout: float, shutdown: Shutdown,
                 on_look: Callable[[Iterable[MemberRecord]], None] | None = None
                 ) -> dict[int, MemberRecord]:
        """Wait until every member reached ``status`` (``waiting.wait_all``)."""
        return waiting.wait_all(self, status, timeout=timeout, shutdown=shutdown,
                                on_look=on_look)

    def wait_outcome(self, *, shutdown: Shutdown, leader_check_every: float = 1.0,
                     deadline: float | None = None,
                     leader_alive: Callable[[], bool] | None = None) -> Outcome:
        """Follower: wait for the leader's outcome (``waiting.wait_outcome``)."""
        return waiting.wait_outcome(self, shutdown=shutdown,
                                    leader_check_every=leader_check_every,
                                    deadline=deadline, leader_alive=leader_alive)

    def cleanup(self) -> None:
        """Leader, at the very end: remove what must not outlive the run (locks, secrets)."""
        self.drop_secrets()
        self.release_leadership()
        remove_quietly(self.lock_path)
