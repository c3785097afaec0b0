"""The two waits of the rendezvous: the leader for every member to reach a status (protocol
step 2), a follower for the leader's outcome (steps 4 and 5).  Both are bounded, watch the
shutdown flag, and cost a few operations on the shared filesystem per look whatever N."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable, Iterable

from ksi.errors import PhaseTimeout, RendezvousError
from ksi.rendezvous.records import MemberRecord, Outcome, member_failed
from ksi.signals import Shutdown

if TYPE_CHECKING:
    from ksi.rendezvous.jobdir import JobDir

#: seconds between two looks of the leader waiting for every member (a listing and a read
#: of each record not yet there)
POLL = 0.25
#: seconds between two looks of a follower for ``outcome.json`` (one ``open``)
OUTCOME_POLL = 0.5


def wait_all(job: JobDir, status: str, *, timeout: float, shutdown: Shutdown,
             on_look: Callable[[Iterable[MemberRecord]], None] | None = None
             ) -> dict[int, MemberRecord]:
    """Wait until every member reached ``status``; fail fast when one failed.

    A record that reached ``status`` is not read again (a member failing after that is
    the watcher's to notice, ``ksi/watch.py``): a look costs a listing and one read per
    member still on its way.  ``on_look``, called at every look with the records that reached
    ``status`` since the last one (the leader peers each at once, ``roles.wait_members``), may
    raise to end the wait.
    """
    deadline = time.monotonic() + timeout
    settled: dict[int, MemberRecord] = {}
    while True:
        shutdown.check()
        records = {**settled, **job.records(skip=set(settled))}
        before = settled
        settled = {r.rank: r for r in records.values() if r.reached(status)}
        if on_look is not None:
            on_look([r for rank, r in sorted(settled.items()) if rank not in before])
        failed = [r for r in records.values() if r.failed]
        if failed:
            first = failed[0]
            raise member_failed(first)
        if len(records) == job.members and all(r.reached(status) for r in records.values()):
            return records
        if time.monotonic() > deadline:
            missing = sorted(set(range(job.members)) - set(records))
            behind = [f"{r.rank} ({r.node})" for r in sorted(records.values(),
                                                              key=lambda r: r.rank)
                      if not r.reached(status)]
            if missing:
                raise PhaseTimeout(
                    f"rank(s) {', '.join(map(str, missing))} never arrived in {job.path} "
                    f"after {timeout:.0f}s",
                    hint="is --shared-dir on a filesystem all nodes share?")
            raise PhaseTimeout(
                f"rank(s) {', '.join(behind)} did not reach {status} after "
                f"{timeout:.0f}s", hint="see those members' output; raise --timeout")
        shutdown.wait(POLL)


def wait_outcome(job: JobDir, *, shutdown: Shutdown, leader_check_every: float = 1.0,
                 deadline: float | None = None,
                 leader_alive: Callable[[], bool] | None = None) -> Outcome:
    """Follower: wait for the leader's outcome, noticing a dead leader within seconds.

    Cheap on a shared filesystem, whatever the number of members: one ``open`` of
    ``outcome.json`` every ``OUTCOME_POLL``, and every ``leader_check_every`` one ``open``
    of ``failed.json`` and one probe of the leader's lock (``leader_alive``, default
    ``job.leader_alive``; the watcher's ``LockProbe`` does it in one ``flock``): four
    operations a second.  The records are read only once a failure is noted.
    """
    alive = leader_alive or job.leader_alive
    next_check = time.monotonic() + leader_check_every
    failure_seen = False
    while True:
        shutdown.check()
        outcome = job.outcome()
        if outcome is not None:
            return outcome
        if time.monotonic() >= next_check:
            next_check = time.monotonic() + leader_check_every
            # fail fast during bring-up, without waiting for the leader to pass it on
            if not failure_seen and job.failure_noted():
                failure_seen = True
                early = job.early_failure()
                if early is not None:
                    raise member_failed(early)
            if not alive() and job.outcome() is None:
                raise RendezvousError("the leader's process is gone (its lock is free)",
                                      hint="see the leader's output; tearing down")
        if deadline is not None and time.monotonic() >= deadline:
            raise PhaseTimeout(
                "stopped waiting: the job's time limit is near, and the clusters must be "
                "gone before Slurm kills the step",
                hint="ask for more --time, or lower --teardown-margin")
        shutdown.wait(OUTCOME_POLL)
