"""What the user sees while ksi works, and what it records for later.

One line per phase (``constants.PHASES``) on stderr, ``[node1 r0] ✓ create cluster (12.3s)`` (``✗`` when it failed),
a summary at the end, and the same facts as JSON lines (phase, node, rank, start, duration,
outcome) in an events file that ``ksi report`` reads.  stdout belongs to the workload.  No line
ever holds a credential: callers pass none, and ``redact`` guards what comes from tools.

Output never stops ksi: when stderr is gone (``ksi run ... 2>&1 | tee log`` and Ctrl-C, a closed
terminal: EPIPE, EIO) or was closed at start, lines are dropped and the stream's descriptor is
pointed at ``/dev/null``, so neither a later line nor the interpreter's final flush fails --
teardown must run to its end whatever happens to the terminal.
"""

from __future__ import annotations

import errno
import json
import os
import re
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

_SECRET_RE = re.compile(r"(?i)(bearer\s+|token[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9._\-]{8,}")


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return _SECRET_RE.sub(lambda m: m.group(1) + "<redacted>", text)


def silence(stream: IO[str] | None) -> None:
    """Point ``stream``'s descriptor at /dev/null (its reader is gone); never raises."""
    try:
        if stream is not None:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
            os.close(devnull)
    except (OSError, ValueError):
        pass


class PhaseMark:
    """What a running phase may say about itself: failed without an exception (a workload that
    exited non-zero), with a note shown on its line and fields added to its event."""

    def __init__(self) -> None:
        self.failed = False
        self.note = ""
        self.fields: dict[str, object] = {}

    def fail(self, note: str, **fields: object) -> None:
        self.failed = True
        self.note = note
        self.fields.update(fields)


class Progress:
    """Phase lines on stderr and events in the job directory, for one member."""


    def __init__(self, *, node: str, rank: int | None, verbose: bool = False,
                 stream: IO[str] | None = None) -> None:
        self.node = node
        self.rank = rank
        self.verbose = verbose
        self.stream: IO[str] | None = stream if stream is not None else sys.stderr  # None: closed
        self.events_path: Path | None = None
        self.phases: list[tuple[str, float, str]] = []
        self.secrets: tuple[str, ...] = ()
        self._open: list[PhaseMark] = []  # the phases running now, innermost last

    @property
    def prefix(self) -> str:
        return f"[{self.node} r{self.rank}]" if self.rank is not None else "[ksi]"

    def say(self, message: str) -> None:
        if self.stream is None:
            return
        try:
            print(f"{self.prefix} {redact(message, self.secrets)}", file=self.stream, flush=True)
        except OSError as exc:
            if exc.errno not in (errno.EPIPE, errno.EIO, errno.EBADF, errno.ENOSPC):
                raise
            silence(self.stream)
            self.stream = None
        except ValueError:  # the stream was closed under us
            self.stream = None

    def debug(self, message: str) -> None:
        if self.verbose:
            self.say(message)

    def event(self, **fields: object) -> None:
        if self.events_path is None:
            return
        record = {"node": self.node, "rank": self.rank, "pid": os.getpid(), **fields}
        line = redact(json.dumps(record), self.secrets) + "\n"
        try:
            fd = os.open(self.events_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a") as handle:
                handle.write(line)
        except OSError:
            pass  # events are a record, never a reason to fail a run

    def mark(self) -> PhaseMark:
        """The innermost running phase's mark (``✗ workload (exit 3)``); a spare one outside
        any phase."""
        return self._open[-1] if self._open else PhaseMark()

    @contextmanager
    def phase(self, name: str) -> Iterator[PhaseMark]:
        start = time.time()
        t0 = time.monotonic()
        outcome = "ok"
        step = PhaseMark()
        self._open.append(step)
        try:
            yield step
        except BaseException:
            outcome = "failed"
            raise
        finally:
            self._open.remove(step)
            seconds = time.monotonic() - t0
            if step.failed:
                outcome = "failed"
            self.phases.append((name, seconds, outcome))
            mark = "✓" if outcome == "ok" else "✗"
            note = f" ({step.note})" if step.note else ""
            self.say(f"{mark} {name}{note} ({seconds:.1f}s)")
            self.event(phase=name, start=start, duration=round(seconds, 3), outcome=outcome,
                       **step.fields)

    def summary(self, outcome: str) -> None:
        total = sum(s for _, s, _ in self.phases)
        parts = ", ".join(f"{n} {s:.1f}s" for n, s, _ in self.phases)
        self.say(f"{outcome}; {total:.1f}s in phases ({parts})" if parts else outcome)
