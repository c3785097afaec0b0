"""The one seam through which ksi runs external tools (kind, nerdctl, liqoctl, scontrol, ...).

``Runner.run`` starts the command in its own process group (so a stop reaches the tool and its
children, and a Ctrl-C on the terminal reaches only ksi, which decides), waits with a timeout,
stops the group (SIGTERM, then SIGKILL after a grace) when ksi is asked to stop or the timeout
passes, and raises ``CommandError`` holding argv, exit code, stdout and stderr.

``sh`` is used here and nowhere else (imported lazily: ``ksi --help`` and ``ksi list`` with
nothing to list never pay for it).  The tool's stdin is the real ``/dev/null``: ``sh`` feeds a
*string* ``_in`` to the tool as data, but passes an open file through as the descriptor.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from ksi.errors import CommandError, EnvironmentProblem
from ksi.signals import Shutdown

#: seconds between two looks at the stop flag and the deadline while a tool runs
POLL = 0.05


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
        import sh  # lazy: keeps `ksi --help` fast

        argv = [str(a) for a in argv]
        full_env = dict(env if env is not None else os.environ)
        program = self.which(argv[0], full_env)
        self.log(f"$ {' '.join(argv)}")
        started = time.monotonic()
        with open(os.devnull, "rb") as devnull:
            proc = sh.Command(program)(
                *argv[1:],
                _env=full_env,
                _cwd=cwd,
                _bg=True,
                _bg_exc=False,
                _new_group=True,
                _tty_out=False,
                _in=devnull,
            )
        outcome: str | None = None
        while proc.process.is_alive()[0]:
            if not ignore_shutdown and self.shutdown is not None and self.shutdown.is_set():
                outcome = "interrupted"
            elif time.monotonic() - started > timeout:
                outcome = "timeout"
            if outcome:
                pid = proc.process.pid
                terminate_group(pid, lambda: bool(proc.process.is_alive()[0]), self.grace)
                break
            time.sleep(POLL)
        try:
            proc.wait()
            code = proc.exit_code
            stdout, stderr = proc.stdout, proc.stderr
        except sh.ErrorReturnCode as exc:
            code, stdout, stderr = exc.exit_code, exc.stdout, exc.stderr
        out = stdout.decode(errors="replace") if isinstance(stdout, bytes) else str(stdout)
        err = stderr.decode(errors="replace") if isinstance(stderr, bytes) else str(stderr)
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
