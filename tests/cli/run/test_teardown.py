"""Teardown of ``ksi run`` against the doubles: every undo runs whatever happens to the others,
to the terminal, or to the shared filesystem, and nothing is left behind.

The in-process tests run the real orchestrator (``run_member``) with the doubles on PATH and
inject a fault into one teardown step at a time, after that step did its work: an exception
(a bug), EPIPE (``ksi run ... | tee log`` and Ctrl-C) and ENOSPC (a full shared filesystem).
The ``world`` fixture then fails the test if anything -- container, daemon, run file, registry
record, port claim, lock, credential -- was left behind.
"""

from __future__ import annotations

import errno
import os
import subprocess
import time
from typing import Any, Callable

import pytest

from ksi import bringup, roles
from ksi.errors import InternalError, TeardownError
from ksi.orchestrator import run_member
from ksi.plan import RunOptions
from ksi.ports import PortClaims
from tests.conftest import WORKLOADS, World, wait_for

PROBE = WORKLOADS / "probe.sh"
SLEEPER = WORKLOADS / "sleeper.sh"

#: teardown step -> (module or class, function) that implements it
UNDOS: dict[str, tuple[object, str]] = {
    "stop image loads": (bringup, "stop_loader"),
    "stop Liqo install": (roles, "stop_liqo_install"),
    "collect diagnostics": (bringup, "collect_diagnostics"),
    "delete cluster": (bringup, "delete_cluster"),
    "leave rendezvous": (bringup, "leave"),
    "release ports": (PortClaims, "release"),
}
FAULTS: dict[str, Callable[[], BaseException]] = {
    "exception": lambda: RuntimeError("injected bug"),
    "EPIPE": lambda: BrokenPipeError(errno.EPIPE, "Broken pipe"),
    "ENOSPC": lambda: OSError(errno.ENOSPC, "No space left on device"),
}


@pytest.fixture
def inside(world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    """The world's environment and work directory for an in-process ``run_member``."""
    for key in list(os.environ):
        monkeypatch.delenv(key)
    for key, value in world.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(world.base / "work")
    return world


def options(world: World, *args: str, **kw: Any) -> RunOptions:
    return RunOptions(workload=PROBE, args=(str(world.base / "out"), *args),
                      shared_dir=world.shared, **kw)


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("step", UNDOS)
def test_a_fault_in_one_teardown_step_stops_no_other(inside: World, monkeypatch, capsys,
                                                    step: str, fault: str):
    cls, method = UNDOS[step]
    original = getattr(cls, method)
    calls: list[str] = []

    def faulty(*args: object) -> None:
        original(*args)
        calls.append(step)
        raise FAULTS[fault]()

    monkeypatch.setattr(cls, method, faulty)
    with pytest.raises(TeardownError) as raised:  # the workload succeeded: exit 7
        run_member(options(inside, collect_logs=True))
    assert calls == [step]
    assert step in raised.value.message
    err = capsys.readouterr().err
    assert "✓ workload" in err
    if step != "delete cluster":
        assert "✓ delete cluster" in err
    if step != "collect diagnostics":
        assert "diagnostics saved in" in err
    # the world fixture: nothing left behind (cluster, run files, record, claims, lock, secret)


def test_a_bug_in_a_step_still_tears_down_and_exits_125(inside: World, monkeypatch, capsys):
    def broken(state: object) -> None:
        raise ZeroDivisionError("injected")

    monkeypatch.setattr(roles, "credentials", broken)
    with pytest.raises(InternalError) as raised:
        run_member(options(inside))
    # ksi run: 125, ksi failed (internal error); other commands: 8
    assert (raised.value.run_code, raised.value.cause) == (125, "internal error")
    assert raised.value.exit_code == 8
    assert raised.value.one_line().startswith(
        "ERROR: [node ") and "phase credentials] internal error: ZeroDivisionError" in \
        raised.value.one_line()
    assert "✓ delete cluster" in capsys.readouterr().err


def test_teardown_ends_within_its_deadline_when_every_undo_hangs(inside: World, monkeypatch):
    hung: list[str] = []

    def hanging(name: str, original: Callable[..., None]) -> Callable[..., None]:
        def undo(*args: object) -> None:
            hung.append(name)
            time.sleep(3)  # far past its share of a 2 s deadline ...
            original(*args)  # ... then it finishes, so the world is left clean

        return undo

    for step, (cls, method) in UNDOS.items():
        monkeypatch.setattr(cls, method, hanging(step, getattr(cls, method)))
    t0 = time.monotonic()
    with pytest.raises(TeardownError) as raised:
        run_member(options(inside, teardown_timeout=2.0))
    took = time.monotonic() - t0
    assert "did not finish" in raised.value.message
    assert sorted(hung) == sorted(UNDOS)
    # bring-up and the workload take a few seconds; the teardown itself at most ~2.5 s
    assert took < 30
    # let the abandoned undos finish before the world checks what is left
    wait_for(lambda: not inside.containers() and not list(
        (inside.runtime / "ports").glob("*")), 30, "the abandoned undos")
    time.sleep(3.5)


def test_a_broken_stderr_pipe_stops_no_teardown(world: World):
    """``ksi run ... 2>&1 | tee log`` and Ctrl-C: the reader of stderr is gone (EPIPE)."""
    out = world.base / "sleeper"
    proc = subprocess.Popen(["ksi", "run", "--grace", "1", str(SLEEPER), str(out)],
                            cwd=world.base / "work", text=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=world.env, start_new_session=True)
    wait_for(lambda: (out / "started").exists() or proc.poll() is not None, 60, "workload")
    assert proc.stderr is not None
    proc.stderr.close()  # every later line on stderr gets EPIPE
    os.kill(proc.pid, 15)
    assert proc.wait(timeout=40) == 143
    # the world fixture: the cluster and every file are gone


def test_a_closed_stderr_stops_no_run(world: World):
    """stderr closed at start (``ksi run ... 2>&-``): the run and its teardown complete."""
    res = subprocess.run(["ksi", "run", str(PROBE), str(world.base / "out")], text=True,
                         cwd=world.base / "work", stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, env=world.env, timeout=120,
                         preexec_fn=lambda: os.close(2))
    assert res.returncode == 0
    assert (world.base / "out" / "token").exists()
    assert "[ksi]" not in res.stdout  # progress never moves to the workload's stdout
