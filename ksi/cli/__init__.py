"""The ``ksi`` command line: one module per command, loaded only when that command runs.

``ksi --help`` must answer fast on a cold shared filesystem, so this module imports click and
nothing else; each command imports what it needs inside its function.
"""

from __future__ import annotations

import importlib
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


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="ksi")
def cli() -> None:
    """ksi: an ephemeral rootless Kubernetes cluster inside a Slurm job.

    \b
    srun -N3 ksi run workload.sh     one cluster over three nodes, the script run once
    ksi run workload.sh              the same on this node alone, without Slurm
    ksi run job.yaml                 apply manifests, follow their pods, exit with their code
    srun -N3 --pty ksi shell         your shell on a three-node cluster; exit tears it down
    ksi list / ksi delete --stale    find and remove clusters left behind
    """


def main() -> None:
    """Entry point: click's own errors become one ``ERROR:`` line with exit code 2."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        hint = ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f" (see `{exc.ctx.command_path} --help`)"
        click.echo(f"ERROR: {exc.format_message()}{hint}", err=True)
        sys.exit(exc.exit_code)
