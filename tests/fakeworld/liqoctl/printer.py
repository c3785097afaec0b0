"""liqoctl's console output: pterm prefix printers and spinners, with styling off (not a terminal).

Upstream: liqotech/liqo v1.0.0 ``pkg/liqoctl/output/output.go`` (printers ``INFO`` for Info and
Success, ``WARN``, ``ERRO``; scopes ``local``/``remote``/``global`` when a command talks to two
clusters; spinners with a timer, 100 ms frames, on stderr; ``PrettyErr`` turns
``context deadline exceeded`` into ``timed out waiting for the condition``) and pterm v0.12.79
(``prefix_printer.go``: `` INFO `` + space + `` (scope) `` + message, continuation lines indented
by ``len(prefix) + 2`` spaces plus one; ``spinner_printer.go``: frames ``\\r<frame> <text> (<t>)``,
``Success``/``Fail`` clear the line with 80 spaces (the fallback terminal width) and print the final
message, ``Stop`` ends the line).  Everything goes to stderr except what commands print to stdout
(``version``).
"""

from __future__ import annotations

import sys
import time
from typing import IO

FRAMES = ["⠈⠁", "⠈⠑", "⠈⠱", "⠈⡱", "⢀⡱", "⢄⡱", "⢄⡱", "⢆⡱", "⢎⡱", "⢎⡰", "⢎⡠", "⢎⡀", "⢎⠁", "⠎⠁", "⠊⠁"]
TERMINAL_WIDTH = 80
DEADLINE_EXCEEDED = "context deadline exceeded"
TIMED_OUT = "timed out waiting for the condition"


def pretty(err: BaseException | str) -> str:
    """``output.PrettyErr``: kubectl's standard message for API/connection errors, else the text."""
    text = err.pretty() if hasattr(err, "pretty") else str(err)
    return text.replace(DEADLINE_EXCEEDED, TIMED_OUT, 1)


def go_duration(seconds: float) -> str:
    """``time.Duration.Round(time.Second).String()`` for the spinner timer."""
    total = round(seconds)
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{h}h{m}m{s}s"
    if m:
        return f"{m}m{s}s"
    return f"{s}s"


class Printer:
    """One ``output.Printer``: ``scope`` is None for unscoped commands (install, offload)."""

    def __init__(self, scope: str | None = None, verbose: bool = False, err: IO[str] | None = None):
        self.scope = scope
        self.verbose = verbose
        self.err = err or sys.stderr

    def _line(self, prefix: str, message: str) -> str:
        lines = message.rstrip("\n").split("\n")
        head = f" {prefix}  " + (f" ({self.scope}) " if self.scope else "") + lines[0]
        pad = " " * (len(prefix) + 2) + " "
        return head + "".join("\n" + pad + rest for rest in lines[1:])

    def _print(self, prefix: str, message: str) -> None:
        self.err.write(self._line(prefix, message) + "\n")
        self.err.flush()

    def info(self, message: str) -> None:
        self._print("INFO", message)

    success = info

    def warning(self, message: str) -> None:
        self._print("WARN", message)

    def error(self, message: str) -> None:
        self._print("ERRO", message)

    def verbosef(self, message: str) -> None:
        if self.verbose:
            self.info(message)

    def spinner(self, text: str) -> Spinner:
        return Spinner(self, text)


class Spinner:
    """A running pterm spinner; ``tick`` draws a frame (callers tick while they wait)."""

    def __init__(self, printer: Printer, text: str):
        self.printer, self.text = printer, text
        self.started = time.monotonic()
        self.frame = 0
        self.active = True
        self.tick()

    def tick(self) -> None:
        if not self.active:
            return
        elapsed = go_duration(time.monotonic() - self.started)
        self.printer.err.write(f"\r{FRAMES[self.frame % len(FRAMES)]} {self.text} ({elapsed})")
        self.printer.err.flush()
        self.frame += 1

    def _finish(self, prefix: str, message: str) -> None:
        if not self.active:
            return
        self.active = False
        out = self.printer.err
        out.write("\r" + " " * TERMINAL_WIDTH + "\r" + self.printer._line(prefix, message) + "\n")
        out.flush()

    def success(self, message: str | None = None) -> None:
        self._finish("INFO", self.text if message is None else message)

    def warning(self, message: str | None = None) -> None:
        self._finish("WARN", self.text if message is None else message)

    def fail(self, message: str | None = None) -> None:
        self._finish("ERRO", self.text if message is None else message)
