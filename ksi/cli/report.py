"""``ksi report``: the phase table and timeline of a run, from its job directory's events."""

from __future__ import annotations

from pathlib import Path

import click

from ksi.cli._common import reports_errors, verbose_option


@click.command()
@click.argument("jobdir", type=click.Path(path_type=Path))
@click.option("--png", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Where to draw the timeline. Default: timeline.png next to the events file.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the table as one JSON object instead of text.")
@verbose_option("Show full errors.")
@reports_errors
def report(jobdir: Path, png: Path | None, as_json: bool) -> None:
    """Show where the time of a run went, per phase and node.

    JOBDIR is a job directory (~/.ksi/jobs/JOB.STEP, see --shared-dir of `ksi run`) or one
    events file in it.  Prints one row per phase (seconds per member, and the slowest) and
    draws a timeline with one lane per member (needs matplotlib; ksi says how to install it).
    With --json only the JSON is printed: no timeline is drawn unless --png names one.  --png
    writes into an existing directory only.
    """
    import json

    from ksi import report as rep
    from ksi.errors import UsageError

    source = rep.events_path(jobdir)
    events, malformed = rep.load_events(source)
    if malformed:
        click.echo(f"warning: ignored {malformed} malformed line{'s' if malformed != 1 else ''} "
                   f"in {source}", err=True)
    summary = rep.summarize(events)
    if as_json:
        click.echo(json.dumps(rep.as_json(summary, source, malformed), indent=1))
    else:
        click.echo(rep.format_table(summary), nl=False)
    if as_json and png is None:
        return  # a machine asked for data: write nothing next to the events
    default = (source if source.is_dir() else source.parent) / rep.TIMELINE_FILE
    target = png.expanduser() if png is not None else default
    title = rep.title(source, summary)
    try:
        rep.draw_timeline(events, target, title=title)
    except rep.MatplotlibMissing:
        click.echo(f"no timeline: matplotlib is missing (`{rep.png_hint()}` to draw it)", err=True)
        return
    except OSError as exc:
        raise UsageError(f"cannot write the timeline {target}: {exc.strerror or exc}",
                         hint="choose another file with --png")
    click.echo(f"timeline: {target}", err=True)
