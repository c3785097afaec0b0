"""The step engine (``ksi.steps``): undos run last-first, each under the one deadline, and no
failure of one -- an exception, EPIPE on a closed terminal, ENOSPC on a full shared filesystem,
a hang -- keeps the others from running."""

from __future__ import annotations

import errno
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

import pytest

from ksi.errors import KsiError, TeardownError
from ksi.steps import Bringup, Step, Undo

UNDOS = ["stop image loads", "collect diagnostics", "delete cluster", "leave rendezvous",
         "release ports"]
FAULTS: dict[str, Callable[[], BaseException]] = {
    "exception": lambda: RuntimeError("a bug"),
    "EPIPE": lambda: BrokenPipeError(errno.EPIPE, "Broken pipe"),
    "ENOSPC": lambda: OSError(errno.ENOSPC, "No space left on device"),
    "ksi error": lambda: KsiError("kind delete failed"),
}


def engine_with(undo_fn: Callable[[str], Callable[[float], None]]) -> Bringup:
    """A bring-up whose steps push the five undos of ``ksi run``, in bring-up order."""
    bringup = Bringup()
    bringup.run([Step(f"step {i}", lambda: None, Undo(name, undo_fn(name)))
                 for i, name in enumerate(reversed(UNDOS))])
    return bringup


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("broken", UNDOS)
def test_a_failing_undo_is_reported_and_every_other_one_still_runs(broken: str, fault: str):
    done: list[str] = []

    def make(name: str) -> Callable[[float], None]:
        def undo(seconds: float) -> None:
            if name == broken:
                raise FAULTS[fault]()
            done.append(name)
        return undo

    outcome = engine_with(make).teardown(time.monotonic() + 5)
    assert outcome.ran == UNDOS  # last pushed first, every one of them
    assert done == [n for n in UNDOS if n != broken]
    assert len(outcome.problems) == 1
    error = outcome.error()
    assert isinstance(error, TeardownError) and error.exit_code == 7
    assert broken in error.message or fault == "ksi error"


def test_teardown_ends_within_its_deadline_when_every_undo_hangs():
    release = threading.Event()
    started: list[str] = []

    def make(name: str) -> Callable[[float], None]:
        def undo(seconds: float) -> None:
            started.append(name)
            release.wait(60)  # hangs far past the deadline
        return undo

    t0 = time.monotonic()
    outcome = engine_with(make).teardown(t0 + 2.0)
    took = time.monotonic() - t0
    release.set()
    assert took < 2.0 + 0.1 * len(UNDOS), took  # each undo is at least tried, briefly
    assert started == UNDOS  # a hanging undo does not keep the next ones from starting
    assert [p.message.split(" did not finish")[0] for p in outcome.problems] == UNDOS


def test_each_undo_gets_the_time_left_minus_what_the_later_ones_reserve():
    given: dict[str, float] = {}
    bringup = Bringup()
    bringup.push(Undo("delete cluster", lambda s: given.__setitem__("delete", s), reserve=12))
    bringup.push(Undo("collect diagnostics", lambda s: given.__setitem__("diag", s), budget=3))
    bringup.push(Undo("first", lambda s: given.__setitem__("first", s)))
    bringup.teardown(time.monotonic() + 25)
    assert 12 < given["first"] <= 13  # 25 - 12 (delete) - 0.5 (diagnostics' default reserve)
    assert given["diag"] == 3  # its own budget
    assert 24 < given["delete"] <= 25


def test_an_undo_is_pushed_when_its_step_starts_so_a_step_cut_short_is_undone():
    phases: list[str] = []

    @contextmanager
    def phase(name: str) -> Iterator[None]:
        phases.append(name)
        yield

    undone: list[str] = []
    bringup = Bringup(phase)

    def create() -> None:
        raise KsiError("kind create cluster was stopped halfway")

    with pytest.raises(KsiError):
        bringup.run([Step("register", lambda: None, Undo("delete", lambda s: undone.append("d"))),
                     Step("create cluster", create, Undo("diagnostics",
                                                         lambda s: undone.append("g"))),
                     Step("never", lambda: None, Undo("never undone", lambda s: undone.append("n")))])
    assert phases == ["register", "create cluster"]
    assert bringup.teardown(time.monotonic() + 5).problems == []
    assert undone == ["g", "d"]


def test_a_second_teardown_has_nothing_left_to_do():
    bringup = engine_with(lambda name: lambda s: None)
    assert bringup.teardown(time.monotonic() + 5).ran == UNDOS
    assert bringup.teardown(time.monotonic() + 5).ran == []


def test_every_phase_a_run_shows_is_in_the_one_tuple_of_phase_names(tmp_path, monkeypatch):
    """Progress lines, events and ``ksi report``'s rows and colours share ``PHASES``."""
    from ksi import constants as C
    from ksi.orchestrator import Member
    from ksi.plan import RunOptions
    from ksi.progress import Progress
    from ksi.report import PHASE_COLOURS
    from ksi.runstate import RunState
    from ksi.signals import Shutdown
    from ksi.slurm import SlurmContext

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    shown: set[str] = set()
    for members in (1, 3):
        ctx = SlurmContext(job_id="7" if members > 1 else None, step_id="0", rank=0,
                           ntasks=members, nnodes=members, node_name="n1")
        out = Progress(node="n1", rank=0)
        state = RunState.start(RunOptions(workload=tmp_path), ctx, Shutdown(), out)
        member = Member(state)
        for role in ("standalone", "leader", "follower"):
            steps = member.common_steps() + member.role_steps(role)
            shown |= {s.name for s in steps if s.phase}
    shown |= {"reap stale clusters", "load node image from cache", "load images",
              "collect diagnostics", "delete cluster"}  # opened inside their steps
    assert shown == set(C.PHASES)
    assert list(PHASE_COLOURS) == list(C.PHASES)


def test_a_hanging_image_load_leaves_the_diagnostics_their_time(tmp_path, monkeypatch):
    """The undos ``ksi run`` pushes, all hanging, under the default 25 s: stopping the image
    loads may not eat the time of the diagnostics, and ``kind delete`` keeps its reserve."""
    from ksi.orchestrator import Member
    from ksi.plan import RunOptions
    from ksi.progress import Progress
    from ksi.runstate import RunState
    from ksi.signals import Shutdown
    from ksi.slurm import SlurmContext

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    ctx = SlurmContext(job_id=None, step_id=None, rank=0, ntasks=1, nnodes=1, node_name="n1")
    member = Member(RunState.start(RunOptions(workload=tmp_path), ctx, Shutdown(),
                                   Progress(node="n1", rank=0)))
    given: dict[str, float] = {}
    for step in member.common_steps():
        if step.undo is not None:
            undo = step.undo
            member.bringup.push(Undo(undo.name, lambda s, n=undo.name: given.__setitem__(n, s),
                                     reserve=undo.reserve, budget=undo.budget))
    member.bringup.teardown(time.monotonic() + 25)
    assert given["stop image loads"] <= 6
    assert given["collect diagnostics"] >= 6
    assert given["delete cluster"] >= 12
