"""``ksi delete``: delete named ksi clusters, or every stale one, on this node."""

from __future__ import annotations

import click

from ksi import constants as C
from ksi.cli._common import App, pass_app, reports_errors, verbose_option


@click.command()
@click.argument("names", nargs=-1)
@click.option("--stale", envvar=C.ENV["stale"], is_flag=True,
              help="Delete every cluster whose ksi run or Slurm job is gone.")
@verbose_option("Show the commands ksi runs and kind's full output on errors.")
@pass_app
@reports_errors
def delete(app: App, names: tuple[str, ...], stale: bool) -> None:
    """Delete this user's ksi clusters NAMES... on this node (see `ksi list`)."""
    from ksi.errors import TeardownError, UsageError
    from ksi.reaper import inventory, reap
    from ksi.slurm import job_state
    from ksi.tools.kind import Kind

    if not names and not stale:
        raise UsageError("nothing to delete", hint="name clusters (see `ksi list`) or pass --stale")
    kind = Kind(app.runner)
    entries = inventory(kind, job_state)
    by_name = {e.name: e for e in entries}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise UsageError(f"no ksi cluster named {', '.join(unknown)} on this node",
                         hint="`ksi list` shows the clusters; nothing was deleted")
    chosen = [by_name[n] for n in dict.fromkeys(names)]
    if stale:
        chosen += [e for e in entries if e.state == "stale" and e.name not in names]
    deleted, errors = reap(kind, chosen)
    for name in deleted:
        click.echo(f"deleted {name}")
    if stale and not chosen:
        click.echo("no stale ksi clusters on this node", err=True)
    if errors:
        raise TeardownError("could not delete " + "; ".join(errors),
                            hint="rerun with -v to see kind's output")
