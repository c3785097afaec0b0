"""Bugs found while restructuring (issue 10 item 9), each pinned by a test."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from ksi import federation
from ksi.errors import CommandError, KsiError, PhaseTimeout
from ksi.images import Loader
from ksi.plan import RunPlan


def plan() -> RunPlan:
    return RunPlan(cluster_name="ksi-1-0-0", rank=0, members=3, node="n1", image="i",
                   workdir=Path("/w"), api_address="10.0.0.1", api_port=1, k8s_port=30000,
                   pod_subnet="100.64.0.0/16", service_subnet="198.18.0.0/21",
                   run_dir=Path("/r"))


class FailingLiqoctl:
    def __init__(self, failures: dict[str, KsiError]) -> None:
        self.failures = failures
        self.peered: list[str] = []

    def peer(self, *, provider_address: str, **kw: object) -> None:
        self.peered.append(provider_address)
        if provider_address in self.failures:
            raise self.failures[provider_address]


def providers() -> list[federation.Provider]:
    return [federation.Provider(rank=r, node=f"node{r + 1}", address=f"10.0.0.{r + 1}",
                                gateway_port=40000 + r, kubeconfig=Path(f"/s/{r}"))
            for r in (1, 2, 3)]


def test_peer_all_reports_every_failure_naming_each_node():
    liqo = FailingLiqoctl({"10.0.0.2": CommandError(["liqoctl", "peer"], 1, "", "error: no route"),
                           "10.0.0.4": CommandError(["liqoctl", "peer"], 1, "", "error: refused")})
    with pytest.raises(KsiError) as raised:
        federation.peer_all(liqo, plan(), providers(), timeout=5)  # type: ignore[arg-type]
    message = raised.value.message
    assert "2 of 3" in message
    assert "rank 1 on node2" in message and "no route" in message
    assert "rank 3 on node4" in message and "refused" in message
    assert raised.value.exit_code == 4
    assert sorted(liqo.peered) == ["10.0.0.2", "10.0.0.3", "10.0.0.4"]


def test_peer_all_timing_out_everywhere_is_a_timeout():
    timeout = CommandError(["liqoctl", "peer"], None, "", "", timed_out=True)
    liqo = FailingLiqoctl({f"10.0.0.{r}": timeout for r in (2, 3, 4)})
    with pytest.raises(PhaseTimeout):
        federation.peer_all(liqo, plan(), providers(), timeout=5)  # type: ignore[arg-type]


def test_a_load_image_timeout_is_a_timeout_exit_6():
    loader = Loader({}, "ksi-x", [Path("/a.tar")])
    block = threading.Event()
    loader._thread = threading.Thread(target=block.wait, daemon=True)  # a load that hangs
    loader._thread.start()
    with pytest.raises(PhaseTimeout) as raised:
        loader.wait(timeout=0.1)
    block.set()
    assert raised.value.exit_code == 6


def test_locating_an_error_leaves_the_raised_one_unchanged():
    original = CommandError(["kind", "create", "cluster"], 1, "", "ERROR: boom")
    located = original.located(node="n1", rank=2, phase="create cluster")
    assert located is not original and original.node is None and original.phase is None
    assert located.one_line().startswith("ERROR: [node n1, rank 2, phase create cluster]")
    assert str(located) == str(original) == original.message
    assert located.detail == original.detail and located.exit_code == original.exit_code


# kind's stderr when two runs on one node create kind's network at once (kind v0.29.0's nerdctl
# provider: ensureNetwork has no already-exists tolerance; cmd/kind/app/main.go prints the
# command's output after "Command Output:")
NETWORK_RACE = (
    'ERROR: failed to create cluster: failed to ensure nerdctl network: command "nerdctl network '
    'create -d=bridge -o com.docker.network.driver.mtu=1500 --ipv6 --subnet '
    'fc00:f853:ccd:e793::/64 kind" failed with error: exit status 1\n'
    "Command Output: time=\"...\" level=fatal msg=\"network with name kind already exists\"\n")


class FlakyCreate:
    """``cluster.create``/``delete`` stand-ins: the first create fails with ``stderr``."""

    def __init__(self, stderr: str) -> None:
        self.stderr = stderr
        self.creates = 0
        self.deletes = 0

    def create(self, kind: object, plan: RunPlan, timeout: float) -> None:
        self.creates += 1
        if self.creates == 1:
            raise CommandError(["kind", "create", "cluster"], 1, "", self.stderr)

    def delete(self, kind: object, plan: RunPlan, timeout: float) -> None:
        self.deletes += 1


def test_two_runs_creating_kinds_network_at_once_is_retried_with_the_same_ports(monkeypatch):
    from types import SimpleNamespace

    from ksi import bringup, cluster

    flaky = FlakyCreate(NETWORK_RACE)
    monkeypatch.setattr(cluster, "create", flaky.create)
    monkeypatch.setattr(cluster, "delete", flaky.delete)
    monkeypatch.setattr(bringup, "repick_ports",
                        lambda s: pytest.fail("the network race needs no new ports"))
    said: list[str] = []
    state = SimpleNamespace(kind=None, plan=plan(), remaining=lambda: 60.0,
                            out=SimpleNamespace(say=said.append))
    bringup.create(state)  # type: ignore[arg-type]
    assert (flaky.creates, flaky.deletes) == (2, 1)
    assert said == ["another run created kind's network at the same moment; retrying"]


def test_another_create_failure_is_not_retried(monkeypatch):
    from types import SimpleNamespace

    from ksi import bringup, cluster

    flaky = FlakyCreate("ERROR: failed to create cluster: could not find a log line ...\n")
    monkeypatch.setattr(cluster, "create", flaky.create)
    monkeypatch.setattr(cluster, "delete", flaky.delete)
    state = SimpleNamespace(kind=None, plan=plan(), remaining=lambda: 60.0,
                            out=SimpleNamespace(say=print))
    with pytest.raises(CommandError):
        bringup.create(state)  # type: ignore[arg-type]
    assert (flaky.creates, flaky.deletes) == (1, 0)
