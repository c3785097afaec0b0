"""Where the time of a ``ksi run`` went: the phase table and the timeline of ``ksi report``.

Input is the events files of a job directory (one per member, ``rendezvous.event_files``, and
the single ``events.jsonl`` of older runs), or one such file, written by ``ksi.progress``: one
JSON object per line, ``{node, rank, pid, phase, start, duration, outcome}``, ``start`` in
seconds since the epoch.  A line that is not such an object
(a member killed mid-write, a foreign file) is skipped and counted, never fatal.

Members are identified by (node, rank) and shown as ``node1 r0`` (just ``node1`` outside Slurm,
where the rank is null).  A phase a member ran more than once is summed, and counts as failed if
any run of it failed.  The times of different nodes are compared as they are: their clocks are
assumed to agree within what a timeline at second resolution shows (NTP on every cluster node).

This module is pure except ``draw_timeline``, which imports matplotlib (the optional extra
``ksi[report]``) only when called, with the non-interactive Agg backend: no display needed.
"""

from __future__ import annotations

import json
import math
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ksi import constants as C
from ksi.errors import UsageError

TIMELINE_FILE = "timeline.png"
#: the hint printed when matplotlib is missing
def png_hint() -> str:
    """How to install matplotlib into the Python that runs ksi, whatever way ksi was installed
    (its own venv as in the README, pipx, a site's module): ``ksi[report]`` would fetch another
    project named ksi from PyPI when ksi was installed from a clone."""
    return f"{shlex.quote(sys.executable)} -m pip install 'matplotlib>=3.7'"


@dataclass(frozen=True)
class Event:
    """One phase of one member, as recorded by ``Progress.phase``."""

    node: str
    rank: int | None
    phase: str
    start: float
    duration: float
    outcome: str

    @property
    def end(self) -> float:
        return self.start + self.duration

    @property
    def failed(self) -> bool:
        return self.outcome != "ok"

    @property
    def member(self) -> Member:
        return Member(self.node, self.rank)


@dataclass(frozen=True)
class Member:
    node: str
    rank: int | None

    @property
    def label(self) -> str:
        return self.node if self.rank is None else f"{self.node} r{self.rank}"

    def sort_key(self) -> tuple[int, str]:
        return (-1 if self.rank is None else self.rank, self.node)


def events_path(target: Path) -> Path:
    """What ``ksi report`` reads: a job directory, or one events file."""
    return target.expanduser()


def _parse(record: Any) -> Event | None:
    if not isinstance(record, dict):
        return None
    node, rank, phase = record.get("node"), record.get("rank"), record.get("phase")
    start, duration = record.get("start"), record.get("duration")
    if not (isinstance(node, str) and isinstance(phase, str) and node and phase):
        return None
    if rank is not None and (not isinstance(rank, int) or isinstance(rank, bool)):
        return None
    numbers = (start, duration)
    if not all(isinstance(n, (int, float)) and not isinstance(n, bool) for n in numbers):
        return None
    assert isinstance(start, (int, float)) and isinstance(duration, (int, float))
    if not (math.isfinite(start) and math.isfinite(duration)) or duration < 0:
        return None
    outcome = record.get("outcome", "ok")
    return Event(node, rank, phase, float(start), float(duration),
                 outcome if isinstance(outcome, str) else "failed")


def _read(path: Path) -> str:
    from ksi.rendezvous import event_files

    files = event_files(path) if path.is_dir() else [path]
    if not files:
        raise UsageError(f"no events files in {path}",
                         hint="give a job directory (~/.ksi/jobs/JOB.STEP) or an events file")
    try:
        return "\n".join(f.read_text(errors="replace") for f in files)
    except FileNotFoundError:
        raise UsageError(f"no events file {path}",
                         hint="give a job directory (~/.ksi/jobs/JOB.STEP) or an events file")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}")


def load_events(path: Path) -> tuple[list[Event], int]:
    """The events of ``path`` (a job directory: every member's file; or one file) sorted by
    start, and how many non-blank lines were malformed.

    Raises ``UsageError`` (exit 2) when there is no file, it is unreadable or holds no event.
    """
    text = _read(path)
    events: list[Event] = []
    bad = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            event = _parse(json.loads(line))
        except ValueError:
            event = None
        if event is None:
            bad += 1
        else:
            events.append(event)
    if not events:
        ignored = f" ({bad} malformed line{'s' if bad != 1 else ''} ignored)" if bad else ""
        raise UsageError(f"no phase events in {path}{ignored}",
                         hint="ksi writes them while `ksi run` works; did the run start?")
    events.sort(key=lambda e: (e.start, e.member.sort_key()))
    return events, bad


@dataclass(frozen=True)
class Summary:
    """The phase table as values: what both the text table and ``--json`` show."""

    members: list[Member]
    phases: list[str]  # in order of first start
    #: (phase, member) -> (seconds, failed), summed over repeated runs of the phase
    cells: dict[tuple[str, Member], tuple[float, bool]]
    #: member -> seconds from its first start to its last end
    walls: dict[Member, float]
    #: seconds from the first start of any member to the last end of any member
    total_wall: float
    t0: float

    def phase_max(self, phase: str) -> float:
        return max(self.cells[(phase, m)][0] for m in self.members if (phase, m) in self.cells)

    def failures(self) -> list[tuple[str, Member]]:
        return [(p, m) for p in self.phases for m in self.members
                if self.cells.get((p, m), (0.0, False))[1]]


def summarize(events: list[Event]) -> Summary:
    members = sorted({e.member for e in events}, key=Member.sort_key)
    phases: list[str] = []
    cells: dict[tuple[str, Member], tuple[float, bool]] = {}
    for e in sorted(events, key=lambda e: e.start):
        if e.phase not in phases:
            phases.append(e.phase)
        seconds, failed = cells.get((e.phase, e.member), (0.0, False))
        cells[(e.phase, e.member)] = (seconds + e.duration, failed or e.failed)
    walls = {}
    for m in members:
        mine = [e for e in events if e.member == m]
        walls[m] = max(e.end for e in mine) - min(e.start for e in mine)
    t0 = min(e.start for e in events)
    return Summary(members, phases, cells, walls, max(e.end for e in events) - t0, t0)


FAILED_MARK = "✗"


def format_table(summary: Summary) -> str:
    """The phase table: one row per phase, one column per member plus max, in seconds.

    A failed phase is marked ``✗``; a phase a member did not run is ``-``.  The last row,
    ``total wall``, is each member's first start to last end; under max, the whole run's.
    """
    def cell(value: float | None, failed: bool = False) -> str:
        text = "-" if value is None else f"{value:.1f}"
        return text + (f" {FAILED_MARK}" if failed else "  ")

    header = ["phase (s)", *(m.label + "  " for m in summary.members), "max"]
    rows: list[list[str]] = []
    for phase in summary.phases:
        row = [phase]
        for m in summary.members:
            found = summary.cells.get((phase, m))
            row.append(cell(found[0], found[1]) if found else cell(None))
        row.append(f"{summary.phase_max(phase):.1f}")
        rows.append(row)
    rows.append(["total wall", *(cell(summary.walls[m]) for m in summary.members),
                 f"{summary.total_wall:.1f}"])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        first = row[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("  ".join([first, *rest]).rstrip())
    failures = summary.failures()
    if failures:
        lines.append(f"{FAILED_MARK} failed: " + ", ".join(f"{p} ({m.label})" for p, m in failures))
    return "\n".join(lines) + "\n"


def as_json(summary: Summary, source: Path, malformed: int) -> dict[str, Any]:
    """The table as one JSON object (``ksi report --json``); seconds rounded to 3 decimals."""
    return {
        "events": str(source),
        "malformed_lines": malformed,
        "members": [{"node": m.node, "rank": m.rank, "label": m.label}
                    for m in summary.members],
        "phases": [
            {
                "phase": p,
                "seconds": {m.label: round(summary.cells[(p, m)][0], 3)
                            for m in summary.members if (p, m) in summary.cells},
                "max": round(summary.phase_max(p), 3),
                "failed": [m.label for m in summary.members
                           if summary.cells.get((p, m), (0.0, False))[1]],
            }
            for p in summary.phases
        ],
        "wall": {m.label: round(summary.walls[m], 3) for m in summary.members},
        "total_wall": round(summary.total_wall, 3),
        "start": summary.t0,
    }


#: Fixed colours for the phases ``ksi run`` records (``constants.PHASES``, in that order), so that a phase looks
#: the same in every report; related phases share a hue (the workload and the followers' wait
#: for it).  No red: red marks failure.  Other phase names take ``_SPARE_COLOURS`` in turn.
PHASE_COLOURS = dict(zip(C.PHASES, (
    "#7f7f7f", "#c7c7c7", "#c49c94", "#1f77b4", "#aec7e8", "#8c564b", "#ff7f0e", "#ffbb78",
    "#2ca02c", "#98df8a", "#bcbd22", "#17becf", "#9467bd", "#c5b0d5", "#e377c2", "#dbdb8d",
), strict=True))
_SPARE_COLOURS = ("#393b79", "#637939", "#8c6d31", "#7b4173", "#5254a3", "#8ca252",
                  "#bd9e39", "#a55194", "#6b6ecf", "#b5cf6b", "#e7ba52", "#ce6dbd")


def phase_colours(phases: list[str]) -> dict[str, str]:
    colours = {}
    spare = 0
    for phase in phases:
        if phase in PHASE_COLOURS:
            colours[phase] = PHASE_COLOURS[phase]
        else:
            colours[phase] = _SPARE_COLOURS[spare % len(_SPARE_COLOURS)]
            spare += 1
    return colours


def _dark(colour: str) -> bool:
    """True when black text on ``colour`` (#rrggbb) would be hard to read."""
    r, g, b = (int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.299 * r + 0.587 * g + 0.114 * b < 0.5


class MatplotlibMissing(Exception):
    """matplotlib is not installed: the table is still shown, the PNG is not drawn."""


def draw_timeline(events: list[Event], png: Path, *, title: str) -> Path:
    """Draw one lane per member and one bar per phase into ``png``; return its path.

    Raises ``MatplotlibMissing`` when the optional extra is not installed.
    """
    try:
        import matplotlib
    except ImportError as exc:
        raise MatplotlibMissing(str(exc)) from exc
    matplotlib.use("Agg")  # files only, never a display
    from matplotlib import pyplot as plt
    from matplotlib.patches import Patch

    summary = summarize(events)
    members = summary.members
    lane = {m: i for i, m in enumerate(members)}
    colour = phase_colours(summary.phases)
    span = max(summary.total_wall, 1e-3)

    legend_rows = math.ceil((len(summary.phases) + 1) / 4)
    lane_height = 0.5 if len(members) <= 16 else 0.25  # inches; 64 lanes stay on a screen
    height = 1.3 + lane_height * len(members) + 0.25 * legend_rows
    fig, ax = plt.subplots(figsize=(11, height), dpi=110, layout="constrained")
    try:
        for e in events:
            x = e.start - summary.t0
            ax.barh(lane[e.member], e.duration, left=x, height=0.6, color=colour[e.phase],
                    edgecolor="red" if e.failed else "white",
                    linewidth=1.8 if e.failed else 0.5, hatch="///" if e.failed else None,
                    zorder=3 if e.failed else 2)
            if e.duration / span >= 0.04:  # the duration, inside bars wide enough for it
                box = ({"boxstyle": "round,pad=0.15", "facecolor": "white",
                        "edgecolor": "none"} if e.failed else None)
                ax.text(x + e.duration / 2, lane[e.member], f"{e.duration:.0f}s",
                        ha="center", va="center", fontsize=8, zorder=4, bbox=box,
                        color="white" if _dark(colour[e.phase]) and not e.failed else "black")
        ax.set_yticks(range(len(members)), [m.label for m in members])
        ax.set_ylim(len(members) - 0.5, -0.5)  # rank 0 on top
        ax.set_xlim(0, span * 1.01)
        ax.set_xlabel("seconds since the first start")
        ax.set_title(title, fontsize=11)
        ax.grid(axis="x", color="#dddddd", zorder=0)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        handles = [Patch(facecolor=colour[p], label=p) for p in summary.phases]
        if summary.failures():
            handles.append(Patch(facecolor="white", edgecolor="red", hatch="///",
                                 label="failed"))
        # below the axes, never over the bars
        fig.legend(handles=handles, loc="outside lower center", ncol=min(4, len(handles)),
                   frameon=False, fontsize=9)
        fig.savefig(png)  # into an existing directory only: a typo must not create a tree
    finally:
        plt.close(fig)
    return png


def title(source: Path, summary: Summary) -> str:
    """``ksi run 1234.0: 3 members, 212s, started 2026-01-01 12:00:00`` (local time)."""
    import time

    from ksi.rendezvous import EVENTS_DIR, OLD_EVENTS_FILE

    if source.is_dir():
        name = source.name
    elif source.parent.name == EVENTS_DIR:
        name = source.parent.parent.name
    else:
        name = source.parent.name if source.name == OLD_EVENTS_FILE else source.name
    count = len(summary.members)
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(summary.t0))
    return (f"ksi run {name}: {count} member{'s' if count != 1 else ''}, "
            f"{summary.total_wall:.0f}s, started {started}")
