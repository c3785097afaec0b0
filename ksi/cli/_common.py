"""What every command shares: turning a ``KsiError`` into one line and an exit code.

``reports_errors`` is for the commands that run no workload (short codes, ``constants``);
``runs_workload`` is for ``ksi run`` (the command-wrapper codes of ``ksi.exits``, and a closing
line saying whose code it is).
"""

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


def runs_workload(func: F) -> F:
    """``ksi run``'s ending: exit with the workload's code or ksi's (``ksi.exits``), print the
    one ``ERROR:`` line (the story with -v), and always a closing line saying whose code it is."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ksi import constants as C
        from ksi import exits
        from ksi.errors import InternalError, KsiError

        verbose = bool(kwargs.get("verbose"))
        try:
            code = func(*args, **kwargs)
        except BrokenPipeError:
            # stdout closed early (`ksi run --dry-run w.sh | head -c 1`): stop as a tool killed
            # by SIGPIPE does, 128+13 -- not click's exit 1, which would read as the workload's
            import signal

            from ksi.progress import silence

            silence(sys.stdout)
            code = C.EXIT_SIGNAL_BASE + signal.SIGPIPE
            _echo_err(f"ksi: exit {code}: ksi's stdout was closed (SIGPIPE)")
            sys.exit(code)
        except (click.ClickException, click.exceptions.Exit, SystemExit):
            raise
        except Exception as exc:  # a KsiError, or a bug: one line, the story only with -v
            error = exc if isinstance(exc, KsiError) else InternalError.from_exception(exc)
            _echo_err(error.one_line())
            if verbose and error.detail:
                _echo_err(error.detail)
            _echo_err(exits.error_line(error))
            sys.exit(error.run_code)
        if kwargs.get("dry_run"):
            _echo_err(f"ksi: exit {code}: dry run, no workload ran")
        else:
            _echo_err(exits.workload_line(code))
        sys.exit(code)

    return wrapper  # type: ignore[return-value]
