"""One error hierarchy.  The user sees one line (``ERROR: ...`` with the fix); ``-v`` adds the story.

Every error knows its exit code, and may say where it happened (node, rank, phase), which is what
a user reading a Slurm output file of a 64-node job needs first.
"""

from __future__ import annotations

import shlex
from typing import Sequence

from ksi import constants as C


class KsiError(Exception):
    """Base of every error ksi reports to the user."""

    exit_code: int = C.EXIT_BRINGUP

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        node: str | None = None,
        rank: int | None = None,
        phase: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.node = node
        self.rank = rank
        self.phase = phase
        self.detail = detail

    def where(self) -> str:
        parts = []
        if self.node is not None:
            parts.append(f"node {self.node}")
        if self.rank is not None:
            parts.append(f"rank {self.rank}")
        if self.phase:
            parts.append(f"phase {self.phase}")
        return ", ".join(parts)

    def one_line(self) -> str:
        where = self.where()
        line = f"ERROR: {self.message}"
        if where:
            line = f"ERROR: [{where}] {self.message}"
        if self.hint:
            line += f" ({self.hint})"
        return line

    def located(self, *, node: str, rank: int, phase: str | None) -> "KsiError":
        """Fill in where the error happened, keeping what the raiser already knew."""
        self.node = self.node or node
        self.rank = self.rank if self.rank is not None else rank
        self.phase = self.phase or phase
        return self


class UsageError(KsiError):
    exit_code = C.EXIT_USAGE


class EnvironmentProblem(KsiError):
    exit_code = C.EXIT_ENVIRONMENT


class BringUpError(KsiError):
    exit_code = C.EXIT_BRINGUP


class RendezvousError(KsiError):
    exit_code = C.EXIT_RENDEZVOUS


class PhaseTimeout(KsiError):
    exit_code = C.EXIT_TIMEOUT


class TeardownError(KsiError):
    exit_code = C.EXIT_TEARDOWN


class Interrupted(KsiError):
    """ksi was asked to stop (SIGINT, SIGTERM, SIGHUP); teardown still runs."""

    def __init__(self, signum: int, **kw: object) -> None:
        import signal

        name = signal.Signals(signum).name
        super().__init__(f"stopped by {name}", **kw)  # type: ignore[arg-type]
        self.signum = signum
        self.exit_code = C.EXIT_SIGNAL_BASE + signum


class CommandError(BringUpError):
    """An external command failed: holds what is needed to paste it into a shell and see why."""

    def __init__(
        self,
        argv: Sequence[str],
        exit_code: int | None,
        stdout: str,
        stderr: str,
        *,
        timed_out: bool = False,
    ) -> None:
        self.argv = list(argv)
        self.returncode = exit_code
        self.stdout = stdout
        self.stderr = stderr
        self.timed_out = timed_out
        last = _last_line(stderr) or _last_line(stdout)
        if timed_out:
            message = f"`{self.command}` did not finish in time"
        else:
            message = f"`{self.command}` failed with exit code {exit_code}"
            if last:
                message += f": {last}"
        super().__init__(message, detail=f"stdout:\n{stdout}\nstderr:\n{stderr}")
        if timed_out:
            self.exit_code = C.EXIT_TIMEOUT

    @property
    def command(self) -> str:
        return shlex.join(self.argv)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
