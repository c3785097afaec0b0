"""Watching the other members while this member's own long steps run.

Without it a member learns of the others only between its steps: a follower whose leader was
SIGKILLed during ``kind create`` noticed it when its own ``kind create`` returned (21.6 s in
``docs/faults.md``).  A ``Watcher`` is a daemon thread started right after the rendezvous and
stopped before the workload (leader) or the wait for the outcome (follower, whose wait does the
same checks).  Once a second it looks for bad news and, when it finds some, raises the shutdown
flag with that news (``Shutdown.fail``): the tool running at that moment (kind, liqoctl, the
readiness wait) is stopped like on a signal, the member tears down, and its error line is the
news ("the leader's process is gone", "member rank 2 on node3 failed ...").

What each role watches, and what it costs on the shared filesystem (every operation is a round
trip to the server on NFS or Lustre, so the watch is kept to two per second for a follower):

* a follower: ``outcome.json`` and ``failed.json`` (one ``open`` each, which fails while there
  is none) and the leader's lock (one non-blocking ``flock`` on a descriptor kept open, see
  ``LockProbe``).  It reads the other members' records only once ``failed.json`` appears, which
  keeps a follower's cost independent of N.
* the leader: the member records (a listing and one read per member), for a member that failed
  during bring-up; one process, so N reads a second in all.

After the workload has started nothing here runs: a member lost then must not stop the others
(the workload may finish without it), and the follower's own wait watches the leader.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from ksi.errors import KsiError, RendezvousError
from ksi.rendezvous import JobDir, member_failed
from ksi.signals import Shutdown

if TYPE_CHECKING:
    from ksi.runstate import RunState

#: seconds between two looks: a dead leader is noticed within this, plus the tool's stop
EVERY = 1.0


class LockProbe:
    """Is the leader's lock still held?  One ``flock(LOCK_EX|LOCK_NB)`` a look.

    The lock is ``filelock.FileLock``, i.e. ``flock(2)`` (``ksi/rendezvous/election.py``); the
    kernel (or the NFS lock manager) drops it when the leader's process dies.  The descriptor is
    opened once and kept, so a look is a single lock request instead of open + lock + unlock +
    close.  Opened read-write because NFS emulates ``flock`` with whole-file POSIX locks, and an
    exclusive POSIX lock needs a descriptor open for writing.  When the lock file is gone the
    leader has cleaned up (or never was): the caller decides with ``outcome.json``.
    """

    def __init__(self, path: Path, fallback: "JobDir | None" = None) -> None:
        self.path = path
        self.fallback = fallback
        self._fd: int | None = None

    def held(self) -> bool:
        """True while some process holds the lock; also True when this cannot be told."""
        if self.fallback is not None and not self.fallback.lock_watches_leader:
            return True  # locks here exclude only within a node (see rendezvous, step 1)
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
            except FileNotFoundError:
                return False
            except OSError:
                return True  # cannot tell: other timeouts still bound every wait
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            # a filesystem without flock (filelock's soft-lock fallback): ask the slow way
            return self.fallback.leader_alive() if self.fallback is not None else True
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        return False

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def leader_lost() -> RendezvousError:
    return RendezvousError("the leader's process is gone (its lock is free)",
                           hint="see the leader's output; tearing down")


def run_failed(error: str) -> RendezvousError:
    failure = RendezvousError(f"the run failed: {error}")
    failure.about_member = True
    return failure


class Watcher:
    """Raises ``shutdown`` with the news when the run is lost while this member works."""

    def __init__(self, job: JobDir, shutdown: Shutdown, *, every: float = EVERY) -> None:
        self.job = job
        self.shutdown = shutdown
        self.every = every
        self.probe = LockProbe(job.lock_path, fallback=job)
        self.failure_seen = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "Watcher":
        self._thread = threading.Thread(target=self._loop, name="ksi-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self, keep_probe: bool = False) -> None:
        """Stop watching (idempotent); returns once the thread has stopped.  With
        ``keep_probe`` the lock probe stays open for the follower's wait for the outcome."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if not keep_probe:
            self.probe.close()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            if self.shutdown.is_set():
                return
            try:
                news = self.look()
            except (OSError, KsiError):
                continue  # the shared filesystem hiccuped: look again next time
            if news is not None and not self._stop.is_set():
                self.shutdown.fail(news)
                return

    def look(self) -> KsiError | None:
        """One look: the bad news, or None."""
        if self.job.is_leader:
            for record in self.job.records().values():
                if record.failed and record.rank != self.job.rank:
                    return member_failed(record)
            return None
        outcome = self.job.outcome()
        if outcome is not None:
            return run_failed(outcome.error) if outcome.status != "finished" else None
        if not self.failure_seen and self.job.failure_noted():
            self.failure_seen = True
            early = self.job.early_failure()
            if early is not None:
                return member_failed(early)
        if not self.probe.held() and self.job.outcome() is None:
            return leader_lost()
        return None


# --- the steps of ``ksi run`` (``ksi/orchestrator.py``) ----------------------------------------
def start_watching(s: "RunState") -> None:
    """Step "watch the others": from here until the workload (leader) or the wait for the
    outcome (follower), the others' news stops this member's running tool."""
    from ksi import kube

    kube.preload()  # overlaps `kind create`
    if s.ctx.members > 1:
        s.watcher = Watcher(s.job, s.shutdown).start()


def stop_watching(s: "RunState", seconds: float = 0.0, *, keep_probe: bool = False) -> None:
    """Undo of "watch the others" (idempotent); also before the workload and the wait for the
    outcome, which hands the lock probe over (``keep_probe``)."""
    if s.watcher is not None:
        s.watcher.stop(keep_probe=keep_probe)
        s.watcher = None
