"""Signals only set a flag; the code that waits looks at it and unwinds through ``finally``.

Slurm sends SIGTERM to the task (``scancel``, the time limit, ``--signal=TERM@N``), srun sends
SIGINT on a double Ctrl-C, a closed terminal sends SIGHUP.  With ``proctrack/cgroup`` only the ksi
task receives SIGTERM, not its children, so whoever runs a child (``exec.Runner``,
``workload.run``) must forward the stop to the child's process group itself.

A second signal during teardown changes nothing: teardown is sacred and bounded by its own
timeouts; Slurm's SIGKILL after KillWait is the only thing that can cut it short.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

from ksi.errors import Interrupted

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Shutdown:
    """A flag raised by the first of SIGINT, SIGTERM or SIGHUP (and by ``request``)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def install(self) -> "Shutdown":
        for sig in HANDLED:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.request(signum)

    def request(self, signum: int = signal.SIGTERM) -> None:
        if self.signum is None:
            self.signum = signum
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; return True at once if a stop was requested."""
        return self._event.wait(seconds)

    def check(self) -> None:
        """Raise ``Interrupted`` if a stop was requested."""
        if self._event.is_set():
            raise Interrupted(self.signum or signal.SIGTERM)
