"""``ksi report`` on recorded events files of a 3-node run: exact table, a real PNG, errors.

tests/cli/report/data/events-3nodes.jsonl is a successful federated run (leader node1 r0 peers, runs the
workload; followers wait for it); events-3nodes-failed.jsonl is the same step where Liqo's
install failed on node2 (the others' waits fail with it), plus two malformed lines.
"""

from __future__ import annotations

import json
import shutil
import struct
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ksi.cli import cli
from ksi.report import Event, format_table, load_events, summarize

DATA = Path(__file__).resolve().parent / "data"
OK = DATA / "events-3nodes.jsonl"
FAILED = DATA / "events-3nodes-failed.jsonl"

OK_TABLE = """\
phase (s)          node1 r0    node2 r1    node3 r2      max
rendezvous              0.4         0.3         0.2      0.4
create cluster         24.9        26.1        24.0     26.1
wait for nodes         16.2        15.9        17.4     17.4
install Liqo           52.3        55.1        55.8     55.8
wait for members        3.9           -           -      3.9
wait for leader           -       110.9       110.9    110.9
peer                   38.6           -           -     38.6
virtual nodes           6.1           -           -      6.1
credentials             0.7           -           -      0.7
offload namespace       4.2           -           -      4.2
workload               61.1           -           -     61.1
delete cluster          3.6         3.4         3.7      3.7
total wall            212.3       211.9       212.1    212.4
"""

FAILED_TABLE = """\
phase (s)            node1 r0    node2 r1    node3 r2      max
rendezvous                0.4         0.3         0.2      0.4
create cluster           25.0        25.9        24.2     25.9
wait for nodes           15.9        16.1        17.0     17.0
install Liqo             51.9        78.0 ✗      54.9     78.0
wait for members         27.7 ✗         -           -     27.7
wait for leader             -           -        25.1 ✗   25.1
collect diagnostics       6.4         7.1         6.0      7.1
delete cluster            3.6         3.4         3.5      3.6
total wall              131.1       130.9       131.0    131.3
✗ failed: install Liqo (node2 r1), wait for members (node1 r0), wait for leader (node3 r2)
"""


def report(*args: str):
    return CliRunner().invoke(cli, ["report", *args], catch_exceptions=False)


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR; fails the test when the file is not a PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    assert data[-8:-4] == b"IEND", f"{path} is truncated"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def job_dir(tmp_path: Path, source: Path) -> Path:
    """A job directory like ~/.ksi/jobs/1234.0 holding a copy of ``source``."""
    d = tmp_path / "jobs" / "1234.0"
    d.mkdir(parents=True)
    shutil.copy(source, d / "events.jsonl")
    return d


def test_the_phase_table_of_a_three_node_run(tmp_path):
    png = tmp_path / "t.png"
    res = report(str(OK), "--png", str(png))
    assert res.exit_code == 0, res.output
    assert res.stdout == OK_TABLE
    assert res.stderr == f"timeline: {png}\n"
    width, height = png_size(png)
    assert 1000 <= width <= 1400 and 250 <= height <= 600, (width, height)
    assert png.stat().st_size > 20_000  # bars, labels and a legend, not an empty canvas


def test_a_failed_phase_is_marked_and_malformed_lines_are_counted_once(tmp_path):
    png = tmp_path / "t.png"
    res = report(str(FAILED), "--png", str(png))
    assert res.exit_code == 0, res.output
    assert res.stdout == FAILED_TABLE
    assert res.stderr == (f"warning: ignored 2 malformed lines in {FAILED}\n"
                          f"timeline: {png}\n")
    png_size(png)


def test_a_job_directory_gets_its_timeline_next_to_the_events(tmp_path):
    d = job_dir(tmp_path, OK)
    res = report(str(d))
    assert res.exit_code == 0, res.output
    assert res.stdout == OK_TABLE
    assert res.stderr == f"timeline: {d / 'timeline.png'}\n"
    png_size(d / "timeline.png")


def test_json_holds_the_same_numbers(tmp_path):
    res = report(str(FAILED), "--json", "--png", str(tmp_path / "t.png"))
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert [m["label"] for m in data["members"]] == ["node1 r0", "node2 r1", "node3 r2"]
    assert data["malformed_lines"] == 2
    liqo = next(p for p in data["phases"] if p["phase"] == "install Liqo")
    assert liqo == {"phase": "install Liqo", "max": 77.998, "failed": ["node2 r1"],
                    "seconds": {"node1 r0": 51.906, "node2 r1": 77.998, "node3 r2": 54.88}}
    waits = next(p for p in data["phases"] if p["phase"] == "wait for members")
    assert waits["seconds"] == {"node1 r0": 27.713}
    assert data["total_wall"] == 131.312
    assert data["wall"]["node1 r0"] == 131.056


def test_json_alone_writes_no_timeline(tmp_path):
    d = job_dir(tmp_path, OK)
    res = report(str(d), "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["members"] and res.stderr == ""
    assert not (d / "timeline.png").exists()


def test_png_does_not_create_parent_directories(tmp_path):
    target = tmp_path / "typo" / "deeper" / "t.png"
    res = report(str(OK), "--png", str(target))
    assert res.exit_code == 2
    assert res.stderr.startswith(f"ERROR: cannot write the timeline {target}: No such file or "
                                 "directory"), res.stderr
    assert not (tmp_path / "typo").exists()


def test_a_failed_workload_is_a_failure_in_the_report(tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_text(
        '{"node": "n1", "rank": 0, "phase": "create cluster", "start": 100.0, "duration": 10.0,'
        ' "outcome": "ok"}\n'
        '{"node": "n1", "rank": 0, "phase": "workload", "start": 110.0, "duration": 5.0,'
        ' "outcome": "failed", "exit_code": 42}\n')
    res = report(str(events), "--json")
    assert res.exit_code == 0, res.output
    [workload] = [p for p in json.loads(res.stdout)["phases"] if p["phase"] == "workload"]
    assert workload["failed"] == ["n1 r0"]  # drawn red and hatched in the timeline


def test_without_matplotlib_the_table_is_still_shown(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    png = tmp_path / "t.png"
    res = report(str(OK), "--png", str(png))
    assert res.exit_code == 0, res.output
    assert res.stdout == OK_TABLE
    # the fix names the very Python that runs ksi, so it works however ksi was installed
    assert res.stderr == ("no timeline: matplotlib is missing "
                          f"(`{sys.executable} -m pip install 'matplotlib>=3.7'` to draw it)\n")
    assert not png.exists()


@pytest.mark.parametrize("content", [None, "", "\n\n"])
def test_a_missing_or_empty_events_file_is_one_error_line_exit_2(tmp_path, content):
    d = tmp_path / "jobs" / "1.0"
    d.mkdir(parents=True)
    if content is not None:
        (d / "events.jsonl").write_text(content)
    res = report(str(d))
    assert res.exit_code == 2
    assert res.stdout == ""
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ERROR: "), res.stderr
    if content is None:
        assert lines[0].startswith(f"ERROR: no events files in {d} ")
    else:
        assert lines[0].startswith(f"ERROR: no phase events in {d} ")
    assert not (d / "timeline.png").exists()


def test_one_events_file_per_member_reads_like_the_old_single_file(tmp_path):
    """Members write ``events/<rank>.jsonl`` (issue 10 item 4); the report reads them all."""
    source = DATA / "events-3nodes.jsonl"
    old = report(str(job_dir(tmp_path / "old", source)), "--json")
    d = tmp_path / "new" / "jobs" / "1234.0"
    (d / "events").mkdir(parents=True)
    for line in source.read_text().splitlines():
        rank = json.loads(line)["rank"]
        with open(d / "events" / f"{rank}.jsonl", "a") as handle:
            handle.write(line + "\n")
    assert len(list((d / "events").iterdir())) == 3
    new = report(str(d), "--json")
    assert new.exit_code == old.exit_code == 0, new.stderr
    assert json.loads(new.stdout)["phases"] == json.loads(old.stdout)["phases"]


def test_only_malformed_lines_is_an_error_that_counts_them(tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_text('{"node": "node1", "ra\nnot json\n{"phase": "x"}\n')
    res = report(str(events))
    assert res.exit_code == 2
    assert res.stderr.startswith(f"ERROR: no phase events in {events} (3 malformed lines "
                                 "ignored) ")
    assert len(res.stderr.splitlines()) == 1


def test_an_unwritable_timeline_is_exit_2_after_the_table(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    res = report(str(OK), "--png", str(blocker / "t.png"))
    assert res.exit_code == 2
    assert res.stdout == OK_TABLE
    assert res.stderr.startswith(f"ERROR: cannot write the timeline {blocker / 't.png'}")


def _event(node: str, rank: int | None, phase: str, start: float, duration: float,
           outcome: str = "ok") -> Event:
    return Event(node, rank, phase, start, duration, outcome)


def test_repeated_phases_are_summed_and_a_run_outside_slurm_has_no_rank():
    events = [
        _event("login1", None, "create cluster", 100.0, 10.0, "failed"),
        _event("login1", None, "create cluster", 110.5, 12.25),
        _event("login1", None, "workload", 123.0, 1.0),
    ]
    assert format_table(summarize(events)) == (
        "phase (s)       login1     max\n"
        "create cluster    22.2 ✗  22.2\n"
        "workload           1.0     1.0\n"
        "total wall        24.0    24.0\n"
        "✗ failed: create cluster (login1)\n"
    )


def test_load_events_skips_lines_that_are_not_phase_events(tmp_path):
    path = tmp_path / "events.jsonl"
    good = {"node": "n", "rank": 0, "pid": 1, "phase": "p", "start": 5, "duration": 1.5,
            "outcome": "ok"}
    bad = [{**good, "rank": "0"}, {**good, "duration": -1}, {**good, "start": None},
           {**good, "node": ""}, {**good, "rank": True}, [1, 2], 3]
    path.write_text("\n".join(json.dumps(x) for x in [good, *bad, good]) + "\n")
    events, malformed = load_events(path)
    assert malformed == len(bad)
    assert events == [_event("n", 0, "p", 5.0, 1.5)] * 2
