"""Signals only set a flag; the code that waits looks at it and unwinds through ``finally``.

Slurm sends SIGTERM to the task (``scancel``, the time limit, ``--signal=TERM@N``), srun sends
SIGINT on a double Ctrl-C, a closed terminal sends SIGHUP.  With ``proctrack/cgroup`` only the ksi
task receives SIGTERM, not its children, so whoever runs a child (``exec.Runner``,
``workload.run``) must forward the stop to the child's process group itself.

A second signal during teardown changes nothing: teardown is sacred and bounded by its own
timeouts; Slurm's SIGKILL after KillWait is the only thing that can cut it short.

The same flag also carries bad news from another member (``fail``, raised by the watcher of
``ksi/watch.py``: the leader is gone, the run failed): the running tool is stopped the same way,
and the error raised is that news, not "stopped by a signal".
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

from ksi.errors import Interrupted, KsiError

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Shutdown:
    """A flag raised by the first of SIGINT, SIGTERM or SIGHUP (and by ``request``)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signum: int | None = None
        #: the news that raised the flag when it was not a signal (see ``fail``)
        self.error: KsiError | None = None
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

    def fail(self, error: KsiError) -> None:
        """Raise the flag because of ``error`` (another member's news), unless already raised."""
        if not self._event.is_set():
            self.error = error
            self._event.set()

    def reason(self) -> KsiError:
        """The error that says why the flag is up: the news, else the signal."""
        if self.error is not None and self.signum is None:
            return self.error
        return Interrupted(self.signum or signal.SIGTERM)

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; return True at once if a stop was requested."""
        return self._event.wait(seconds)

    def check(self) -> None:
        """Raise why a stop was requested (``Interrupted``, or another member's news), if it was."""
        if self._event.is_set():
            raise self.reason()


class LinkedStop(Shutdown):
    """A stop flag of one background tool run (a Liqo install started early, ``federation``):
    up when ``stop`` is called or whenever the member's own flag (``parent``) is, so a signal or
    a member's news stops the tool as always, and the tool alone can be stopped without stopping
    the member (its undo).  ``exec.Runner`` looks only at ``is_set`` and ``reason``."""

    def __init__(self, parent: Shutdown) -> None:
        super().__init__()
        self.parent = parent

    def stop(self) -> None:
        self.request()

    def is_set(self) -> bool:
        return self._event.is_set() or self.parent.is_set()

    def reason(self) -> KsiError:
        return self.parent.reason() if self.parent.is_set() else super().reason()
