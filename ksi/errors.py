"""One error hierarchy.  The user sees one line (``ERROR: ...`` with the fix); ``-v`` adds the story.

Every error knows its *cause* (bad input, missing tool, bring-up, member, time, could not
delete), two exit codes -- ``run_code`` for ``ksi run`` (the command-wrapper convention of
timeout(1): 124 time, 125 ksi failed, 126/127 the workload cannot be run / was not found, 128+N a
signal) and ``exit_code`` for the commands that run no workload (2 bad input, 3 node lacks
something, 4 failed, 6 time, 7 could not delete) -- and may say where it happened (node, rank,
phase), which is what a user reading a Slurm output file of a 64-node job needs first.
"""

from __future__ import annotations

import re
import shlex
from typing import Sequence

from ksi import constants as C


class KsiError(Exception):
    """Base of every error ksi reports to the user."""

    exit_code: int = C.CMD_FAILED
    #: ``ksi run``'s exit code for this error (see ``constants``)
    run_code: int = C.EXIT_KSI_FAILED
    #: what kind of failure, in the closing line and the outcome record
    cause: str = "bring-up"

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
        #: set when the workload had already run (and exited with this code)
        self.workload_code: int | None = None

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
        """A copy that says where the error happened, keeping what the raiser already knew
        (a raised error is never changed: its ``str`` and its traceback stay true)."""
        other = type(self).__new__(type(self))  # not copy.copy: subclasses' __init__ differ
        other.args = self.args
        other.__dict__.update(self.__dict__)
        other.node = self.node or node
        other.rank = self.rank if self.rank is not None else rank
        other.phase = self.phase or phase
        return other


class UsageError(KsiError):
    exit_code = C.CMD_USAGE
    cause = "bad input"


class WorkloadNotFound(UsageError):
    """The workload, or the interpreter its shebang names, does not exist (like env(1): 127)."""

    run_code = C.EXIT_NOT_FOUND
    cause = "workload not found"


class WorkloadNotRunnable(UsageError):
    """The workload exists but cannot be run: a directory, unreadable, ... (env(1): 126)."""

    run_code = C.EXIT_CANNOT_RUN
    cause = "workload cannot be run"


class EnvironmentProblem(KsiError):
    exit_code = C.CMD_ENVIRONMENT
    cause = "missing tool"


class BringUpError(KsiError):
    exit_code = C.CMD_FAILED
    cause = "bring-up"


class RendezvousError(KsiError):
    exit_code = C.EXIT_RENDEZVOUS
    cause = "member"
    #: True when the error reports another member's failure (passed on verbatim)
    about_member = False


class PhaseTimeout(KsiError):
    exit_code = C.CMD_TIMEOUT
    run_code = C.EXIT_TIMEOUT
    cause = "time"


class WorkloadCannotStart(KsiError):
    """The workload cannot run: a manifest's pod can never start (image pull, scheduling)."""

    exit_code = C.CMD_FAILED
    run_code = C.EXIT_CANNOT_RUN
    cause = "workload cannot start"


class TeardownError(KsiError):
    exit_code = C.CMD_TEARDOWN
    cause = "could not delete"


class InternalError(KsiError):
    """A bug in ksi (an exception that is not a ``KsiError``); teardown still ran."""

    exit_code = C.EXIT_INTERNAL
    cause = "internal error"

    @classmethod
    def from_exception(cls, exc: BaseException) -> "InternalError":
        import traceback

        return cls(f"internal error: {type(exc).__name__}: {exc}",
                   hint="rerun with -v for the traceback and report it",
                   detail="".join(traceback.format_exception(exc)))


class Interrupted(KsiError):
    """ksi was asked to stop (SIGINT, SIGTERM, SIGHUP); teardown still runs."""

    def __init__(self, signum: int, **kw: object) -> None:
        import signal

        name = signal.Signals(signum).name
        super().__init__(f"stopped by {name}", **kw)  # type: ignore[arg-type]
        self.signum = signum
        self.exit_code = self.run_code = C.EXIT_SIGNAL_BASE + signum
        self.cause = f"stopped by {name}"


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
        last = _telling_line(stderr) or _telling_line(stdout)
        if timed_out:
            message = f"`{self.short}` did not finish in time"
        else:
            message = f"`{self.short}` failed with exit code {exit_code}"
            if last:
                message += f": {last}"
        super().__init__(message, detail=f"command: {self.command}\nstdout:\n{stdout}\n"
                         f"stderr:\n{stderr}")
        if timed_out:
            self.exit_code = C.CMD_TIMEOUT
            self.run_code = C.EXIT_TIMEOUT
            self.cause = "time"

    @property
    def command(self) -> str:
        """The whole command, to paste into a shell (shown with -v)."""
        return shlex.join(self.argv)

    @property
    def short(self) -> str:
        """The program and its subcommand words, e.g. ``kind create cluster``."""
        words = [self.argv[0].rsplit("/", 1)[-1]]
        for arg in self.argv[1:]:
            if arg.startswith("-"):
                break
            words.append(arg)
        return " ".join(words[:4])


#: kind ends a failure with "To see the stack trace ... --v=5", liqoctl with usage text: the
#: line that says what went wrong is the last one that looks like an error.
_ERROR_LINE = re.compile(r"^(ERROR|Error|ERRO|FATA|error)\b|\berror:|\bfailed\b")


def _telling_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    for line in reversed(lines):  # kind's own summary first: "ERROR: failed to create cluster: ..."
        if line.startswith("ERROR"):
            return line[:300]
    for line in reversed(lines):
        if _ERROR_LINE.search(line):
            return line[:300]
    return lines[-1][:300] if lines else ""
