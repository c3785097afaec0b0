"""Election of one leader per job step, and a follower's look at whether it still lives
(protocol steps 1 and 5, ``ksi/rendezvous/__init__.py``): ``leader.lock`` taken with ``flock``,
then ``leader.json`` created exclusively; the member whose ``link`` succeeds leads."""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ksi.errors import RendezvousError, UsageError
from ksi.paths import remove_quietly
from ksi.rendezvous.layout import LEADER_FILE, LEADER_LOCK, create_exclusive

if TYPE_CHECKING:
    from filelock import BaseFileLock


def file_lock(path: Path) -> BaseFileLock:
    """A ``flock`` lock that never silently becomes filelock's soft marker lock (filelock >= 3.30
    falls back to one where ``flock`` says ENOSYS; older versions have no fallback)."""
    from filelock import FileLock

    kwargs: dict[str, object] = {}
    if "fallback_to_soft" in inspect.signature(FileLock.__init__).parameters:
        kwargs["fallback_to_soft"] = False
    return FileLock(str(path), mode=0o600, thread_local=False, **kwargs)  # type: ignore[arg-type]


class Election:
    """One member's part in the election of the job directory ``path``."""

    def __init__(self, path: Path, *, rank: int, warn: Callable[[str], None]) -> None:
        self.path = path
        self.lock_path = path / LEADER_LOCK
        self.rank = rank
        self.warn = warn
        self._lock: BaseFileLock | None = None  # held for the leader's whole life
        self.is_leader = False
        #: False once this member saw the lock is not exclusive across nodes (see step 1)
        self.lock_watches_leader = True

    def elect(self, node: str) -> bool:
        """Try once to become the leader; True when this member leads (protocol step 1)."""
        from filelock import Timeout

        lock = file_lock(self.lock_path)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return False
        except (OSError, NotImplementedError) as exc:
            why = getattr(exc, "strerror", None) or "file locks are not supported"
            remove_quietly(self.lock_path)  # nobody can hold a lock that does not work
            raise UsageError(
                f"cannot lock {self.lock_path}: {why}",
                hint="--shared-dir must be on a filesystem with working file locks "
                "(NFS with lockd, Lustre mounted with flock)") from None
        try:
            create_exclusive(self.path / LEADER_FILE, json.dumps(
                {"rank": self.rank, "node": node, "pid": os.getpid()}))
        except FileExistsError:
            lock.release()
            self.lock_watches_leader = False
            self.warn(f"warning: file locks in {self.path} do not exclude other nodes "
                      "(Lustre localflock? NFS nolock?): the leader record decides, and a dead "
                      "leader is noticed through its guardian and the timeouts only")
            return False
        except OSError as exc:
            lock.release()
            raise RendezvousError(f"cannot write {self.path / LEADER_FILE}: {exc.strerror}",
                                  hint=f"is the shared directory full or read-only? "
                                  f"check `df -h {self.path}`") from None
        self._lock = lock
        self.is_leader = True
        return True

    def leader_alive(self) -> bool:
        """From a follower: False when the leader's lock is free (its process is gone)."""
        from filelock import Timeout

        if not self.lock_watches_leader:
            return True  # the lock says nothing about other nodes; the guardian does
        if not self.lock_path.exists():
            return False
        probe = file_lock(self.lock_path)
        try:
            probe.acquire(timeout=0)
        except Timeout:
            return True
        except (OSError, NotImplementedError):
            return True  # cannot tell: assume alive, other timeouts still bound the wait
        probe.release()
        return False

    def release(self) -> None:
        """The leader lets go of the lock (at the very end; a no-op for a follower)."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None
