"""``ksi clean``: remove finished job directories from the shared directory."""

from __future__ import annotations

from pathlib import Path

import click

from ksi import constants as C
from ksi.cli._common import reports_errors
from ksi.housekeeping import JOB_DIR_MAX_AGE_DAYS


@click.command()
@click.option("--older-than", "days", type=click.FloatRange(min=0), default=JOB_DIR_MAX_AGE_DAYS,
              show_default=True, help="Remove finished job directories older than this many "
              "days (0: every finished one).")
@click.option("--shared-dir", envvar=C.ENV["shared_dir"], type=click.Path(path_type=Path),
              default=Path("~/.ksi"), show_default=True, help="Where the job directories are.")
@click.option("-n", "--dry-run", is_flag=True, help="Only say what would be removed.")
@click.option("-v", "--verbose", is_flag=True, help="Show full errors.")
@reports_errors
def clean(days: float, shared_dir: Path, dry_run: bool, verbose: bool) -> None:
    """Remove finished job directories (<shared-dir>/jobs/...) older than --older-than days.

    A job directory is finished when its run recorded an outcome, or its Slurm job is gone
    (outside Slurm: its leader lock is gone).  `ksi run` does the same with the default age.
    Exit code 0, or 4 when a directory could not be removed.
    """
    import math

    from ksi.errors import TeardownError
    from ksi.housekeeping import prune
    from ksi.slurm import job_state

    if not math.isfinite(days):
        raise click.BadParameter(f"{days!r} is not a finite number of days",
                                 param_hint="'--older-than'")
    removed, errors = prune(shared_dir.expanduser(), days, job_state, dry_run=dry_run)
    for path in removed:
        click.echo(f"{'would remove' if dry_run else 'removed'} {path}")
    if not removed and not errors:
        click.echo(f"nothing to clean in {shared_dir.expanduser() / 'jobs'}", err=True)
    if errors:
        error = TeardownError("could not remove " + "; ".join(errors))
        error.exit_code = C.CMD_FAILED
        raise error
