"""``ksi list``: this user's ksi clusters on this node."""

from __future__ import annotations

import click

from ksi.cli._common import reports_errors


@click.command("list")
@click.option("-v", "--verbose", is_flag=True, help="Show the commands ksi runs.")
@reports_errors
def list_clusters(verbose: bool) -> None:
    """List this user's ksi clusters on this node: name, owner, age, state.

    \b
    state: alive   its ksi run (or Slurm job) is still running
           stale   its owner is gone; `ksi delete --stale` removes it
           kept    left by --keep; remove it with `ksi delete NAME`
           unknown ksi cannot tell (no record here, or Slurm did not answer)
    """
    from ksi.exec import Runner
    from ksi.reaper import inventory
    from ksi.slurm import job_state
    from ksi.tools.kind import Kind

    entries = inventory(Kind(Runner()), job_state)
    if not entries:
        click.echo("no ksi clusters on this node", err=True)
        return
    rows = [("NAME", "OWNER", "AGE", "STATE")] + [(e.name, e.owner, e.age, e.state)
                                                  for e in entries]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
