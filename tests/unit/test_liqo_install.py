"""The Liqo install starts while the node becomes Ready (issue 14, "the real critical path"):
only once the API server lists the controller manager (liqoctl's own precondition), once; it is
stopped by the member's flag like every tool, and alone by its undo; its failure is told even
when the member fails for another reason."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest

from ksi import federation, roles
from ksi.errors import CommandError, Interrupted, KsiError
from ksi.exec import Runner
from ksi.signals import Shutdown


class FakeKube:
    def __init__(self, listed: bool) -> None:
        self.listed = listed
        self.asked: list[tuple[str, str]] = []

    def has_pods(self, namespace: str, selector: str) -> bool:
        self.asked.append((namespace, selector))
        return self.listed


def state(shutdown: Shutdown) -> Any:
    """What ``roles.start_liqo_install`` reads of a member's ``RunState``."""
    return SimpleNamespace(liqo_install=None, liqo=SimpleNamespace(env={}),
                           plan=SimpleNamespace(), remaining=lambda: 30.0,
                           opts=SimpleNamespace(liqo_chart=None, liqo_set=()),
                           runner=Runner(shutdown, grace=1.0))


def test_the_install_starts_only_once_the_controller_manager_is_listed(monkeypatch):
    calls: list[float] = []
    monkeypatch.setattr(federation, "install", lambda *a, **kw: calls.append(kw["timeout"]))
    s = state(Shutdown())
    not_yet = FakeKube(listed=False)
    roles.start_liqo_install(s, not_yet)
    assert s.liqo_install is None
    assert not_yet.asked == [("kube-system",
                              "component=kube-controller-manager,tier=control-plane")]
    roles.start_liqo_install(s, FakeKube(listed=True))
    first = s.liqo_install
    assert first is not None
    roles.start_liqo_install(s, FakeKube(listed=True))  # the next looks start nothing more
    roles.install_liqo(s)  # "install Liqo" joins the one started early
    assert s.liqo_install is first and calls == [30.0]


def test_install_liqo_starts_it_when_wait_for_nodes_did_not(monkeypatch):
    calls: list[float] = []
    monkeypatch.setattr(federation, "install", lambda *a, **kw: calls.append(kw["timeout"]))
    s = state(Shutdown())
    roles.install_liqo(s)
    assert calls == [30.0]


def sleeping_install(seconds: float = 30) -> Any:
    def run(runner: Runner) -> None:
        runner.run(["sleep", str(seconds)], timeout=60)
    return run


def test_the_undo_stops_a_running_install_without_stopping_the_member():
    member = Shutdown()
    install = federation.BackgroundInstall(sleeping_install(), Runner(member, grace=1.0)).start()
    time.sleep(0.3)
    started = time.monotonic()
    install.stop(5.0)  # no error: the stop is ours, not the install's failure
    assert time.monotonic() - started < 2.0
    assert not member.is_set()
    assert isinstance(install.error, Interrupted)


def test_the_members_flag_stops_the_install_and_join_raises_why():
    member = Shutdown()
    install = federation.BackgroundInstall(sleeping_install(), Runner(member, grace=1.0)).start()
    time.sleep(0.3)
    member.fail(KsiError("the leader's process is gone (its lock is free)"))
    started = time.monotonic()
    with pytest.raises(KsiError, match="the leader's process is gone"):
        install.join()
    assert time.monotonic() - started < 2.0


def test_an_install_that_failed_before_the_member_failed_is_told_too():
    def failing(runner: Runner) -> None:
        raise CommandError(["liqoctl", "install"], 1, "", "Error installing or upgrading Liqo")

    install = federation.BackgroundInstall(failing, Runner(Shutdown())).start()
    time.sleep(0.2)
    with pytest.raises(KsiError, match="the Liqo install .* failed too"):
        install.stop(5.0)  # the undo, after "wait for nodes" failed for its own reason


def test_a_finished_install_stops_quietly():
    install = federation.BackgroundInstall(lambda runner: None, Runner(Shutdown())).start()
    install.join()
    install.stop(1.0)


def test_an_install_failure_raised_by_install_liqo_is_not_told_twice():
    def failing(runner: Runner) -> None:
        raise CommandError(["liqoctl", "install"], 1, "", "Error installing or upgrading Liqo")

    install = federation.BackgroundInstall(failing, Runner(Shutdown())).start()
    with pytest.raises(CommandError):
        install.join()  # "install Liqo" fails with it: the member's error
    install.stop(1.0)  # the undo says nothing more
