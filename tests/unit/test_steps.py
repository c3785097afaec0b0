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
