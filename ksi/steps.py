"""Bring-up as a list of named steps, each with its undo; teardown unwinds them under one deadline.

Modelled on kind's create actions (kubernetes-sigs/kind ``pkg/cluster/internal/create/create.go``:
a list of actions, the cluster deleted when one fails).  A ``Step`` has a name, a ``do`` and
optionally an ``undo``.  ``Bringup.run`` runs the steps in order; **a step's undo is pushed when
the step starts**, not when it ends, because a step cut short (``kind create`` stopped by SIGTERM
leaves its node container) needs its undo as much as a finished one -- so every undo copes with
a half-done or never-started step, and every undo is idempotent.

``Bringup.teardown`` pops the undos in reverse order under **one deadline** (``--teardown-timeout``,
default ``constants.TEARDOWN_TIMEOUT``, chosen to fit Slurm's default KillWait of 30 s):

* each undo runs in a daemon thread and is given ``seconds`` to finish: what is left of the
  deadline minus what the undos after it reserve (``Undo.reserve``), at most ``Undo.budget``;
  an undo still running when its time is up is abandoned (reported, never waited for);
* every exception of an undo -- a ``KsiError``, an ``OSError`` such as ENOSPC on the shared
  filesystem or EPIPE/EIO on stderr, or a bug -- is reported and the next undo still runs;
* output errors inside an undo are its own problem like any other: they never reach the loop.

Every problem is kept in the ``Outcome`` as a ``KsiError`` whose message names the undo; the
first becomes a ``TeardownError`` and the caller decides what it means for the exit code (and
reports the others as warnings).
"""

from __future__ import annotations

import threading
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Callable

from ksi.errors import KsiError, TeardownError

#: seconds an undo with no reservation of its own is guaranteed at the end of the deadline
DEFAULT_RESERVE = 0.5


@dataclass(frozen=True)
class Undo:
    """What reverses a step.  ``fn(seconds)`` must finish within ``seconds``."""

    name: str
    fn: Callable[[float], None]
    #: seconds kept free for this undo while the undos before it run
    reserve: float = DEFAULT_RESERVE
    #: the most this undo may take, even when the deadline leaves more
    budget: float | None = None


@dataclass(frozen=True)
class Step:
    """One named step of bring-up.  ``phase``: shown as a phase line and recorded as an event."""

    name: str
    do: Callable[[], None]
    undo: Undo | None = None
    phase: bool = True


@dataclass
class Outcome:
    """What one teardown did: the undos in the order they ran, and each one's problem."""

    ran: list[str] = field(default_factory=list)
    problems: list[KsiError] = field(default_factory=list)

    def error(self) -> TeardownError | None:
        if not self.problems:
            return None
        first = self.problems[0]
        return TeardownError(first.message, hint=first.hint or "`ksi list` shows what is left; "
                             "`ksi delete NAME` removes a cluster", detail=first.detail)


class Bringup:
    """Runs steps and remembers their undos for one teardown."""

    def __init__(self, phase: Callable[[str], AbstractContextManager[object]] | None = None
                 ) -> None:
        self._phase = phase
        self.undos: list[Undo] = []

    def run(self, steps: list[Step]) -> None:
        """Run ``steps`` in order; an exception stops the run (the undos stay for teardown)."""
        for step in steps:
            if step.undo is not None:
                self.undos.append(step.undo)
            if step.phase and self._phase is not None:
                with self._phase(step.name):
                    step.do()
            else:
                step.do()

    def push(self, undo: Undo) -> None:
        self.undos.append(undo)

    def teardown(self, deadline: float) -> Outcome:
        """Unwind every undo (last pushed first) before ``deadline`` (``time.monotonic``)."""
        outcome = Outcome()
        while self.undos:
            undo = self.undos.pop()
            reserved = sum(u.reserve for u in self.undos)
            seconds = deadline - time.monotonic() - reserved
            if undo.budget is not None:
                seconds = min(seconds, undo.budget)
            seconds = max(0.1, seconds)
            outcome.ran.append(undo.name)
            problem = self._run_one(undo, seconds)
            if problem is not None:
                outcome.problems.append(problem)
        return outcome

    @staticmethod
    def _run_one(undo: Undo, seconds: float) -> KsiError | None:
        problem: list[KsiError] = []

        def target() -> None:
            try:
                undo.fn(seconds)
            except KsiError as exc:
                problem.append(exc)
            except OSError as exc:
                problem.append(KsiError(f"{undo.name}: {exc.strerror or exc}"))
            except BaseException as exc:  # noqa: BLE001 - a bug in one undo stops no other
                problem.append(KsiError(f"{undo.name}: internal error: "
                                        f"{type(exc).__name__}: {exc}"))

        thread = threading.Thread(target=target, name=f"ksi-undo-{undo.name}", daemon=True)
        thread.start()
        thread.join(seconds)
        if thread.is_alive():
            return KsiError(f"{undo.name} did not finish in {seconds:.1f}s; left running")
        return problem[0] if problem else None
