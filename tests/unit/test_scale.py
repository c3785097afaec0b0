"""How far one leader goes: the size ksi refuses, the kubelet's pod limit, the peering bound."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import yaml

from ksi import federation
from ksi.cluster import MAX_PODS
from ksi.errors import UsageError
from ksi.plan import RunPlan
from tests.unit.test_plan import ctx, plan_for, render_config


def test_a_step_larger_than_one_leader_hosts_is_refused_in_one_line():
    with pytest.raises(UsageError) as info:
        federation.check_size(federation.MAX_MEMBERS + 1, federation=True)
    line = info.value.one_line()
    assert "\n" not in line and f"at most {federation.MAX_MEMBERS}" in line
    assert info.value.exit_code == 2


def test_the_supported_sizes_and_independent_clusters_pass():
    federation.check_size(federation.MAX_MEMBERS, federation=True)
    federation.check_size(federation.MAX_MEMBERS * 3, federation=False)


def test_every_member_raises_kubelets_pod_limit_for_the_leaders_followers():
    doc = yaml.safe_load(render_config(plan_for(ctx(), gateway=41000)))
    kubelet = [yaml.safe_load(p) for p in doc["kubeadmConfigPatches"]
               if yaml.safe_load(p).get("kind") == "KubeletConfiguration"]
    assert kubelet == [{"kind": "KubeletConfiguration", "maxPods": MAX_PODS}]
    followers = federation.MAX_MEMBERS - 1
    assert federation.BASE_PODS + federation.PODS_PER_FOLLOWER * followers <= MAX_PODS


class _SlowLiqoctl:
    """Counts how many peerings run at once."""

    def __init__(self) -> None:
        self.running = self.most = 0
        self.lock = threading.Lock()

    def peer(self, **_: object) -> None:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.05)
        with self.lock:
            self.running -= 1


def test_peering_runs_at_most_the_bounded_number_at_once():
    liqoctl = _SlowLiqoctl()
    plan = plan_for(ctx(), gateway=41000)
    assert isinstance(plan, RunPlan)
    providers = [federation.Provider(rank=r, node=f"n{r}", address="10.0.0.1", gateway_port=1,
                                     kubeconfig=Path("/dev/null")) for r in range(1, 16)]
    federation.peer_all(liqoctl, plan, providers, timeout=10)  # type: ignore[arg-type]
    assert liqoctl.most == federation.PEER_CONCURRENCY
