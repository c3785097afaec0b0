"""``ksi list``: this user's ksi clusters on this node."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import click

from ksi.cli._common import App, pass_app, reports_errors, shared_dir_option, verbose_option


def _table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())


def _all_nodes(shared_dir: Path, job_state: Callable[[str], str | None]) -> None:
    """One row per member of every live job step with a job directory in ``shared_dir``."""
    from ksi.errors import UsageError
    from ksi.rendezvous import ended, job_dirs, read_members
    from ksi.slurm import LIVE_JOB_STATES

    if not shared_dir.is_dir():
        raise UsageError(f"the shared directory {shared_dir} does not exist",
                         hint="pass the --shared-dir that `ksi run` used")
    rows: list[tuple[str, ...]] = [("JOB", "RANK", "NODE", "CLUSTER", "STATUS")]
    for job_dir in job_dirs(shared_dir):
        job_id = job_dir.name.split(".")[0]
        if not job_id.isdigit() or ended(job_dir):
            continue
        if job_state(job_id) not in LIVE_JOB_STATES:
            continue
        for record in sorted(read_members(job_dir), key=lambda r: r.rank):
            rows.append((job_dir.name, str(record.rank), record.node, record.cluster,
                         record.status))
    if len(rows) == 1:
        click.echo("no ksi clusters of live jobs in " + str(shared_dir), err=True)
        return
    _table(rows)


@click.command("list")
@click.option("--all-nodes", is_flag=True,
              help="Show the clusters of this user's live Slurm jobs on every node, from the "
              "shared directory.")
@shared_dir_option("Where the job directories are.")
@verbose_option("Show the commands ksi runs.")
@pass_app
@reports_errors
def list_clusters(app: App, all_nodes: bool, shared_dir: Path) -> None:
    """List this user's ksi clusters on this node: name, owner, age, state.

    \b
    state: alive   its ksi run (or Slurm job) is still running
           stale   its owner is gone; `ksi delete --stale` removes it
           kept    left by --keep; remove it with `ksi delete NAME`
           unknown ksi cannot tell (no record here, or Slurm did not answer)
    """
    from ksi.reaper import inventory
    from ksi.slurm import job_state
    from ksi.tools.kind import Kind

    if all_nodes:
        _all_nodes(shared_dir.expanduser(), job_state)
        return
    entries = inventory(Kind(app.runner), job_state)
    if not entries:
        click.echo("no ksi clusters on this node", err=True)
        return
    rows: list[tuple[str, ...]] = [("NAME", "OWNER", "AGE", "STATE")]
    _table(rows + [(e.name, e.owner, e.age, e.state) for e in entries])
