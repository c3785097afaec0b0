"""What every command shares: turning a ``KsiError`` into one line and an exit code."""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(func: F) -> F:
    """Print ``ERROR: ...`` (plus the story with -v) and exit with the error's code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ksi.errors import InternalError, KsiError

        verbose = bool(kwargs.get("verbose"))
        try:
            return func(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, SystemExit):
            raise
        except Exception as exc:  # a bug: one line, the traceback only with -v
            error = exc if isinstance(exc, KsiError) else InternalError.from_exception(exc)
            _echo_err(error.one_line())
            if verbose and error.detail:
                _echo_err(error.detail)
            sys.exit(error.exit_code)

    return wrapper  # type: ignore[return-value]


def _echo_err(line: str) -> None:
    """One line on stderr; a closed or broken stderr loses it but changes no exit code."""
    from ksi.progress import silence

    try:
        click.echo(line, err=True)
    except (OSError, ValueError):
        silence(sys.stderr)

