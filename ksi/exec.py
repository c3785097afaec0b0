"""The one seam through which ksi runs external tools (kind, nerdctl, liqoctl, scontrol, ...).

``Runner.run`` starts the command in its own process group (so a stop reaches the tool and its
children, and a Ctrl-C on the terminal reaches only ksi, which decides), waits with a timeout,
stops the group (SIGTERM, then SIGKILL after a grace) when ksi is asked to stop or the timeout
passes, and raises ``CommandError`` holding argv, exit code, stdout and stderr.

It uses ``subprocess`` with one ``select`` loop, not ``sh``: importing ``sh`` costs ~65 ms (it
pulls in ``asyncio``), which alone was a fifth of ``ksi list``'s time, and every ``sh`` command
runs background threads that wake up to poll; a member runs some twenty tools (issue 14: ksi's
own CPU time per member is measured by ``bench/``).
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from ksi.errors import CommandError, EnvironmentProblem
from ksi.signals import Shutdown


@dataclass(frozen=True)
class Result:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def terminate_group(
    pgid: int, is_alive: Callable[[], bool], grace: float, first: int = signal.SIGTERM
) -> None:
    """Send ``first`` (SIGTERM) to a process group, wait up to ``grace`` s, then SIGKILL it."""
    for sig, wait in ((first, grace), (signal.SIGKILL, 2.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        end = time.monotonic() + wait
        while time.monotonic() < end:
            if not is_alive():
                return
            time.sleep(0.05)


class Runner:
    """Runs commands; every call has a timeout and honours the shutdown flag."""

    def __init__(
        self,
        shutdown: Shutdown | None = None,
        *,
        grace: float = 5.0,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.shutdown = shutdown
        self.grace = grace
        self.log = log or (lambda line: None)

    def which(self, program: str, env: Mapping[str, str] | None = None) -> str:
        path = (env or os.environ).get("PATH", os.defpath)
        found = shutil.which(program, path=path)
        if not found:
            raise EnvironmentProblem(
                f"`{program}` was not found on PATH",
                hint=f"install {program} on this node or add its directory to PATH; "
                "`ksi doctor` checks every prerequisite",
            )
        return found

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        check: bool = True,
        ignore_shutdown: bool = False,
    ) -> Result:
        """Run ``argv`` to completion; raise ``CommandError`` on failure or timeout.

        With ``ignore_shutdown`` (teardown) a requested stop does not interrupt the command.
        """
        argv = [str(a) for a in argv]
        full_env = dict(env if env is not None else os.environ)
        program = self.which(argv[0], full_env)
        self.log(f"$ {' '.join(argv)}")
        started = time.monotonic()
        proc = subprocess.Popen([program, *argv[1:]], env=full_env, cwd=cwd,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, process_group=0)
        outcome: str | None = None
        output = _Output(proc)
        while not output.done():
            if proc.poll() is not None:
                continue  # draining what the tool wrote last (bounded by ``_Output``)
            if not ignore_shutdown and self.shutdown is not None and self.shutdown.is_set():
                outcome = "interrupted"
            elif time.monotonic() - started > timeout:
                outcome = "timeout"
            if outcome:
                terminate_group(proc.pid, lambda: proc.poll() is None, self.grace)
                end = time.monotonic() + _Output.DRAIN
                while not output.done() and time.monotonic() < end:
                    pass  # what it said while stopping (kind's last error line)
                break
        code = proc.wait()
        out, err = output.text()
        seconds = time.monotonic() - started
        if outcome == "interrupted":
            assert self.shutdown is not None
            raise self.shutdown.reason()
        if outcome == "timeout":
            raise CommandError(argv, code, out, err, timed_out=True)
        if check and code != 0:
            self.log(f"  exit {code}; stderr: {err.strip()[-2000:]}")
            raise CommandError(argv, code, out, err)
        return Result(argv, code, out, err, seconds)


class _Output:
    """Reads a child's stdout and stderr without threads: one ``select`` with a short timeout a
    turn, so the caller looks at its stop flag and deadline between turns."""

    #: seconds between two looks at the flag and the deadline while the tool runs
    TURN = 0.05
    #: after the tool exits, how long a grandchild that kept our pipes open (a daemon the
    #: tool started) may keep us reading
    DRAIN = 1.0

    def __init__(self, proc: "subprocess.Popen[bytes]") -> None:
        self.proc = proc
        self.selector = selectors.DefaultSelector()
        self.chunks: dict[int, list[bytes]] = {}
        for stream in (proc.stdout, proc.stderr):
            assert stream is not None
            self.selector.register(stream.fileno(), selectors.EVENT_READ)
            self.chunks[stream.fileno()] = []
        self.order = [proc.stdout.fileno(), proc.stderr.fileno()]  # type: ignore[union-attr]
        self.exited: float | None = None

    def done(self) -> bool:
        """One turn of reading; True once both pipes are closed (or drained long enough)."""
        if not self.selector.get_map():
            return True
        if self.exited is None and self.proc.poll() is not None:
            self.exited = time.monotonic()
        if self.exited is not None and time.monotonic() - self.exited > self.DRAIN:
            return True
        for key, _ in self.selector.select(self.TURN):
            data = os.read(key.fd, 65536)
            if data:
                self.chunks[key.fd].append(data)
            else:
                self.selector.unregister(key.fd)
        return not self.selector.get_map()

    def text(self) -> tuple[str, str]:
        """stdout and stderr, decoded; closes the pipes."""
        self.selector.close()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        out, err = (b"".join(self.chunks[fd]).decode(errors="replace") for fd in self.order)
        return out, err
