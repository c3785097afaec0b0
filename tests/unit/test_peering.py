"""The leader peers each follower as soon as its Liqo is ready (issue 14, "the real critical
path"), in-process: a real job directory, members publishing their records from the test, a
fake liqoctl.  Every failure is still reported, a failed member still stops the leader, and the
followers' kubeconfigs go after the last peering."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ksi import roles
from ksi.errors import BringUpError, CommandError, RendezvousError
from ksi.plan import RunPlan
from ksi.rendezvous import JobDir, MemberRecord
from ksi.signals import Shutdown
from ksi.tools.env import ToolEnv

N = 4


class FakeLiqoctl:
    """liqoctl peer: takes ``seconds``, fails for the addresses in ``failures``, stops when the
    shutdown flag is raised (as ``exec.Runner`` stops the real one)."""

    def __init__(self, shutdown: Shutdown, seconds: float = 0.0,
                 failures: dict[str, str] | None = None) -> None:
        self.shutdown = shutdown
        self.seconds = seconds
        self.failures = failures or {}
        self.started: dict[str, float] = {}
        self.lock = threading.Lock()

    def bypassing(self, addresses: list[str]) -> "FakeLiqoctl":
        return self

    def peer(self, *, provider_address: str, **_: object) -> None:
        with self.lock:
            self.started[provider_address] = time.monotonic()
        if self.shutdown.wait(self.seconds):
            self.shutdown.check()
        if provider_address in self.failures:
            raise CommandError(["liqoctl", "peer"], 1, "", self.failures[provider_address])


def record(rank: int, status: str) -> MemberRecord:
    return MemberRecord(rank=rank, node=f"node{rank + 1}", address=f"10.0.0.{rank + 1}",
                        cluster=f"ksi-77-0-{rank}", pid=1000 + rank, status=status)


def leader_state(tmp_path: Path, liqo: FakeLiqoctl, shutdown: Shutdown) -> Any:
    dirs = [JobDir(tmp_path, "77.0", rank=r, members=N, warn=lambda m: None) for r in range(N)]
    dirs[0].publish(record(0, "liqo-ready"))
    for d in dirs[1:]:
        d.put_secret(d.rank, "kubeconfig of rank %d" % d.rank)
    plan = RunPlan(cluster_name="ksi-77-0-0", rank=0, members=N, node="node1", image="i",
                   workdir=Path("/w"), api_address="10.0.0.1", api_port=1, k8s_port=30000,
                   pod_subnet="100.64.0.0/16", service_subnet="198.18.0.0/21",
                   run_dir=tmp_path / "run")
    state = SimpleNamespace(federate=True, job=dirs[0], ctx=SimpleNamespace(rank=0), plan=plan,
                            liqo=liqo, shutdown=shutdown, tools=ToolEnv.current(),
                            peering=None, records={}, remaining=lambda: 5.0)
    state.use_tools = lambda tools: setattr(state, "tools", tools)
    return state, dirs


def in_thread(fn: Any, *args: Any) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def target() -> None:
        try:
            fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    return thread, errors


def test_a_ready_follower_is_peered_before_the_last_one_is_ready(tmp_path):
    shutdown = Shutdown()
    liqo = FakeLiqoctl(shutdown, seconds=0.3)
    s, dirs = leader_state(tmp_path, liqo, shutdown)
    dirs[1].publish(record(1, "liqo-ready"))
    dirs[2].publish(record(2, "liqo-ready"))
    dirs[3].publish(record(3, "cluster-ready"))  # still installing Liqo
    thread, errors = in_thread(roles.wait_members, s)
    time.sleep(1.0)
    assert sorted(liqo.started) == ["10.0.0.2", "10.0.0.3"]  # peered while 4 is not ready
    assert thread.is_alive()
    dirs[3].publish(record(3, "liqo-ready"))
    thread.join(5)
    assert not thread.is_alive() and not errors
    assert sorted(s.records) == [0, 1, 2, 3]
    assert dirs[0].secret_path(3).exists()  # "peer" still needs it, or is still using it
    roles.peer(s)
    assert sorted(liqo.started) == ["10.0.0.2", "10.0.0.3", "10.0.0.4"]
    assert not any(dirs[0].secret_path(r).exists() for r in (1, 2, 3))


def test_a_failed_peering_ends_the_wait_and_every_failure_is_reported(tmp_path):
    shutdown = Shutdown()
    liqo = FakeLiqoctl(shutdown, seconds=0.2, failures={"10.0.0.2": "error: no route",
                                                          "10.0.0.3": "error: refused"})
    s, dirs = leader_state(tmp_path, liqo, shutdown)
    dirs[1].publish(record(1, "liqo-ready"))
    dirs[2].publish(record(2, "liqo-ready"))
    # rank 3 never gets ready: the leader must not wait for it once a peering failed
    started = time.monotonic()
    roles.wait_members(s)
    with pytest.raises(BringUpError) as raised:
        roles.peer(s)
    assert time.monotonic() - started < 3
    message = raised.value.message
    assert "2 of 2" in message
    assert "rank 1 on node2: " in message and "no route" in message
    assert "rank 2 on node3: " in message and "refused" in message
    assert "10.0.0.4" not in liqo.started


def test_a_member_failing_while_others_peer_stops_the_leader_and_the_peerings(tmp_path):
    shutdown = Shutdown()
    liqo = FakeLiqoctl(shutdown, seconds=30)  # a peering far longer than the test
    s, dirs = leader_state(tmp_path, liqo, shutdown)
    dirs[1].publish(record(1, "liqo-ready"))
    failed = record(3, "failed")
    failed.phase, failed.error = "install Liqo", "liqoctl install failed"
    thread, errors = in_thread(roles.wait_members, s)
    time.sleep(0.6)
    assert "10.0.0.2" in liqo.started
    dirs[3].publish(failed)
    thread.join(5)
    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], RendezvousError)
    assert "rank 3 on node4 failed in phase install Liqo" in errors[0].message
    assert shutdown.is_set()  # the running peering was stopped, not waited for
