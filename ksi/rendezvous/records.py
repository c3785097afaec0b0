"""What the members of a job step tell each other: a member's record, the run's outcome, and a
failure as one line (protocol steps 2 and 4, ``ksi/rendezvous/__init__.py``)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ksi.errors import KsiError, RendezvousError

#: a member's ``status`` only moves forward along these (or turns ``failed``)
STATUSES = ("joined", "cluster-ready", "liqo-ready", "federated", "done")


@dataclass
class MemberRecord:
    """``members/<rank>.json``: where a member is and how far it got."""

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
    """``outcome.json``: how the run ended, published once by the leader."""

    status: str  # "finished" or "failed"
    exit_code: int  # what `ksi run` exits with (README, Exit codes)
    error: str = ""
    whose: str = ""  # "workload": exit_code is the workload's own; "ksi": ksi's (see cause)
    cause: str = ""  # when ksi's: bad input, missing tool, bring-up, member, time, ...


def member_failed(record: MemberRecord) -> RendezvousError:
    """The error another member's failed record stands for, passed on as that member said it."""
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
