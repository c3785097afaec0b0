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
        from ksi.errors import KsiError

        verbose = bool(kwargs.get("verbose"))
        try:
            return func(*args, **kwargs)
        except KsiError as exc:
            from ksi.progress import redact

            click.echo(redact(exc.one_line()), err=True)
            if verbose and exc.detail:
                click.echo(redact(exc.detail), err=True)
            sys.exit(exc.exit_code)
        except (click.ClickException, click.exceptions.Exit, SystemExit):
            raise
        except Exception as exc:  # a bug: one line, the traceback only with -v
            click.echo(f"ERROR: internal error: {type(exc).__name__}: {exc} "
                       "(rerun with -v for the traceback and report it)", err=True)
            if verbose:
                import traceback

                traceback.print_exc()
            sys.exit(1)

    return wrapper  # type: ignore[return-value]
