"""The ``ksi`` command line: one module per command, loaded only when that command runs.

``ksi --help`` must answer fast on a cold shared filesystem, so this module imports click and
nothing else; each command imports what it needs inside its function.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from ksi import __version__

#: command name -> "module:attribute"; one module per command.
COMMANDS = {
    "run": "ksi.cli.run:run",
    "shell": "ksi.cli.shell:shell",
    "list": "ksi.cli.listing:list_clusters",
    "delete": "ksi.cli.delete:delete",
    "images": "ksi.cli.images:images",
    "report": "ksi.cli.report:report",
    "submit": "ksi.cli.submit:submit",
    "doctor": "ksi.cli.doctor:doctor",
    "clean": "ksi.cli.clean:clean",
}

#: ``ksi --help``'s one line per command: whole sentences (click would cut the docstrings), and
#: no command module imported to print them.
SUMMARIES = {
    "run": "Bring up cluster(s), run WORKLOAD once, tear everything down.",
    "list": "List this user's ksi clusters here (--all-nodes: of live jobs).",
    "delete": "Delete named ksi clusters, or with --stale those whose run is gone.",
    "images": "Fill the image cache on the shared directory for offline nodes.",
    "report": "Show the phase table and timeline of a run from its job directory.",
    "submit": "Write and submit an sbatch script that runs WORKLOAD with ksi run.",
    "doctor": "Check this node (under srun: every node) for what ksi needs.",
    "clean": "Remove finished job directories older than --older-than days.",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        command: click.Command = getattr(importlib.import_module(module), attr)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, self._summary(ctx, name))
                                for name in self.list_commands(ctx)])

    def _summary(self, ctx: click.Context, name: str) -> str:
        """``SUMMARIES``' line; a command without one gets its whole first docstring line."""
        if name in SUMMARIES:
            return SUMMARIES[name]
        command = self.get_command(ctx, name)
        return command.get_short_help_str(limit=1000) if command is not None else ""


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]},
             invoke_without_command=True)
@click.version_option(__version__, "-V", "--version", prog_name="ksi")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """ksi: an ephemeral rootless Kubernetes cluster inside a Slurm job.

    \b
    srun -N3 ksi run workload.sh     one cluster over three nodes, the script run once
    ksi run workload.sh              the same on this node alone, without Slurm
    ksi run job.yaml                 apply manifests, follow their pods, exit with their code
    srun -N3 --pty ksi shell         your shell on a three-node cluster; exit tears it down
    ksi list / ksi delete --stale    find and remove clusters left behind
    """
    if ctx.invoked_subcommand is None:  # `ksi` alone: the help, and success
        click.echo(ctx.get_help())


def _from_environment(exc: click.BadParameter) -> None:
    """Name the environment variable when a bad value came from one (``K8S_PORT=abc``), not
    only the option the user never typed."""
    from click.core import ParameterSource

    param, ctx = exc.param, exc.ctx
    if param is None or ctx is None or param.name is None:
        return
    if ctx.get_parameter_source(param.name) is not ParameterSource.ENVIRONMENT:
        return
    names = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar or ())
    for name in names:
        if name in os.environ:
            exc.param_hint = (f"environment variable {name}={os.environ[name]!r} "
                              f"({param.get_error_hint(ctx)})")
            return


def _is_run(ctx: click.Context | None) -> bool:
    return ctx is not None and ctx.parent is not None and ctx.info_name == "run" \
        and ctx.parent.parent is None


def main() -> None:
    """Entry point: click's own errors become one ``ERROR:`` line with exit code 2 (125 for
    ``ksi run``, whose codes follow ``ksi.exits``)."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        hint = ""
        if isinstance(exc, click.BadParameter):
            _from_environment(exc)
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f" (see `{exc.ctx.command_path} --help`)"
        click.echo(f"ERROR: {exc.format_message()}{hint}", err=True)
        if isinstance(exc, click.UsageError) and _is_run(exc.ctx):
            from ksi import exits
            from ksi.constants import EXIT_KSI_FAILED

            click.echo(exits.usage_line(), err=True)
            sys.exit(EXIT_KSI_FAILED)
        sys.exit(exc.exit_code)
