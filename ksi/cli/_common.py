"""What every command shares: the application object, the shared options, and turning a
``KsiError`` into one line and an exit code.

Like hatch's ``Application`` (``src/hatch/cli/application.py``), one ``App`` lives in
``ctx.obj``: it holds the verbosity and owns the configured ``Runner``, so every command that
runs a tool prints the commands under ``-v``.  Like kopf's ``logging_options``, each option
several commands take is declared once here, with its environment variable.

``reports_errors`` is for the commands that run no workload (short codes, ``constants``);
``runs_workload`` is for ``ksi run`` (the command-wrapper codes of ``ksi.exits``, and a closing
line saying whose code it is).
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import click

from ksi import constants as C

if TYPE_CHECKING:
    from ksi.exec import Runner

F = TypeVar("F", bound=Callable[..., Any])


class App:
    """The application object of one ``ksi`` command (``ctx.obj``)."""

    def __init__(self, verbose: bool = False) -> None:
        self.verbose = verbose
        self._runner: Runner | None = None

    def log(self, line: str) -> None:
        """A command ksi runs, shown with -v (on stderr: stdout is the command's answer)."""
        _echo_err(line)

    @property
    def runner(self) -> "Runner":
        """The one Runner of this command, printing every command under -v."""
        if self._runner is None:
            from ksi.exec import Runner

            self._runner = Runner(log=self.log if self.verbose else None)
        return self._runner


pass_app = click.make_pass_decorator(App, ensure=True)


def _set_verbose(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.ensure_object(App).verbose = True
    return value


def verbose_option(help: str = "Show every command ksi runs and the full errors."
                   ) -> Callable[[F], F]:
    """``-v``/``--verbose`` (``KSI_VERBOSE``): sets ``App.verbose``, not a parameter."""
    return click.option("-v", "--verbose", envvar=C.ENV["verbose"], is_flag=True,
                        expose_value=False, is_eager=True, callback=_set_verbose,
                        help=f"{help} [env {C.ENV['verbose']}]")


def shared_dir_option(help: str) -> Callable[[F], F]:
    """``--shared-dir`` (``KSI_SHARED_DIR``, default ``~/.ksi``)."""
    return click.option("--shared-dir", envvar=C.ENV["shared_dir"],
                        type=click.Path(path_type=Path), default=C.DEFAULT_SHARED_DIR,
                        show_default=True, help=f"{help} [env {C.ENV['shared_dir']}]")


def reports_errors(func: F) -> F:
    """Print ``ERROR: ...`` (plus the story with -v) and exit with the error's code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ksi.errors import InternalError, KsiError

        try:
            return func(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, SystemExit):
            raise
        except Exception as exc:  # a bug: one line, the traceback only with -v
            error = exc if isinstance(exc, KsiError) else InternalError.from_exception(exc)
            _echo_err(error.one_line())
            if _verbose() and error.detail:
                _echo_err(error.detail)
            sys.exit(error.exit_code)

    return wrapper  # type: ignore[return-value]


def _verbose() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and isinstance(ctx.obj, App) and ctx.obj.verbose)


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

        verbose = _verbose()
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
