"""``ksi doctor``: check this node (under srun: every node of the step) for what ksi needs."""

from __future__ import annotations

from pathlib import Path

import click

from ksi import constants as C
from ksi.cli._common import reports_errors, shared_dir_option, verbose_option

E = C.ENV


@click.command()
@click.option("--json", "as_json", envvar=E["doctor_json"], is_flag=True,
              help=f"Print a JSON list of {{check, status, finding, fix, node}} instead of "
              f"lines. [env {E['doctor_json']}]")
@shared_dir_option("The shared directory `ksi run` will use (created 0700 when missing).")
@click.option("--api-address", envvar=E["api_address"], default=None,
              help=f"Address the port check binds on. Default: as `ksi run` (the node's Slurm "
              f"NodeAddr, else its host address). [env {E['api_address']}]")
@click.option("--wait", envvar=E["doctor_wait"], type=click.FloatRange(min=0), default=60.0,
              show_default=True, help=f"Under srun: seconds rank 0 waits for the other ranks' "
              f"results. [env {E['doctor_wait']}]")
@click.option("--root", envvar=E["doctor_root"], type=click.Path(path_type=Path, file_okay=False),
              default=Path("/"), hidden=True,
              help=f"Read system files under this directory. [env {E['doctor_root']}]")
@verbose_option("Show full errors.")
@reports_errors
def doctor(as_json: bool, shared_dir: Path, api_address: str | None, wait: float,
           root: Path) -> None:
    """Check this node for everything ksi needs, each problem with its fix.

    \b
    One line per check: PASS|WARN|FAIL  check: finding (and, for WARN/FAIL, how to fix it).
    Under srun (one task per node) rank 0 prints one table for all nodes and checks that the
    shared directory is the same on every node; the other ranks print only a summary on stderr.
    Exit code 0 when nothing failed, 3 when a check failed.
    """
    import json
    import sys

    from ksi import doctor as D
    from ksi.slurm import SlurmContext

    ctx = SlurmContext.from_env()
    got = D.diagnose(D.SystemView.from_env(root), ctx, shared_dir, api_address, wait=wait)
    failed = any(c.status == D.FAIL for c in got.checks)
    where = f"rank {ctx.rank} on {ctx.node_name}" if ctx.multi_node else ctx.node_name
    if got.leader:
        if as_json:
            click.echo(json.dumps([c.as_dict() for c in got.checks], indent=1))
        else:
            click.echo("\n".join(D.lines_of(got.checks, got.nodes)))
        if len(got.nodes) > 1:
            where = f"{len(got.nodes)} nodes"
        click.echo(f"ksi doctor: {where}: {D.summary(got.checks)}", err=True)
    elif got.collected:
        click.echo(f"ksi doctor: {where}: {D.summary(got.checks)} (rank 0 prints the table)",
                   err=True)
    else:  # rank 0 never saw these results: show them here, or nobody will
        click.echo("\n".join(D.lines_of(got.checks)), err=True)
        click.echo(f"ksi doctor: {where}: {D.summary(got.checks)}", err=True)
    sys.exit(C.EXIT_ENVIRONMENT if failed else C.EXIT_OK)
