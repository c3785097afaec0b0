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
        from ksi.errors import KsiError

        verbose = bool(kwargs.get("verbose"))
        try:
            return func(*args, **kwargs)
        except KsiError as exc:
            click.echo(exc.one_line(), err=True)
            if verbose and exc.detail:
                click.echo(exc.detail, err=True)
            sys.exit(exc.exit_code)
        except (click.ClickException, click.exceptions.Exit, SystemExit, BrokenPipeError):
            raise
        except Exception as exc:  # a bug: one line, the traceback only with -v
            click.echo(f"ERROR: internal error: {type(exc).__name__}: {exc} "
                       "(rerun with -v for the traceback and report it)", err=True)
            if verbose:
                import traceback

                traceback.print_exc()
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def runs_workload(func: F) -> F:
    """``ksi run``'s ending: exit with the workload's code or ksi's (``ksi.exits``), print the
    one ``ERROR:`` line (the story with -v), and always a closing line saying whose code it is."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ksi import constants as C
        from ksi import exits
        from ksi.errors import KsiError

        verbose = bool(kwargs.get("verbose"))
        try:
            code = func(*args, **kwargs)
        except KsiError as exc:
            click.echo(exc.one_line(), err=True)
            if verbose and exc.detail:
                click.echo(exc.detail, err=True)
            click.echo(exits.error_line(exc), err=True)
            sys.exit(exc.run_code)
        except BrokenPipeError:
            # stdout closed early (`ksi run --dry-run w.sh | head -c 1`): stop as a tool killed
            # by SIGPIPE does, 128+13 -- not click's exit 1, which would read as the workload's
            import os
            import signal

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            code = C.EXIT_SIGNAL_BASE + signal.SIGPIPE
            click.echo(f"ksi: exit {code}: ksi's stdout was closed (SIGPIPE)", err=True)
            sys.exit(code)
        except (click.ClickException, click.exceptions.Exit, SystemExit):
            raise
        except Exception as exc:  # a bug: one line, the traceback only with -v
            click.echo(f"ERROR: internal error: {type(exc).__name__}: {exc} "
                       "(rerun with -v for the traceback and report it)", err=True)
            if verbose:
                import traceback

                traceback.print_exc()
            click.echo(f"ksi: exit {C.EXIT_KSI_FAILED}: ksi failed (internal error), not the "
                       "workload", err=True)
            sys.exit(C.EXIT_KSI_FAILED)
        if kwargs.get("dry_run"):
            click.echo(f"ksi: exit {code}: dry run, no workload ran", err=True)
        else:
            click.echo(exits.workload_line(code), err=True)
        sys.exit(code)

    return wrapper  # type: ignore[return-value]
