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
