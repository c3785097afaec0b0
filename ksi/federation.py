"""Joining the members' clusters with Liqo: the leader's cluster consumes every follower's.

Every member installs Liqo on its own cluster as soon as that cluster is Ready (all members in
parallel), advertising its API server at the node address (which is in the certificate SANs).
The leader then peers with every follower at once, one thread per follower, and waits until the
cluster shows one Ready virtual node per follower.  Finally the workload namespace is offloaded
(LocalAndRemote, same name everywhere) so that its pods may run on every member.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ksi import constants as C
from ksi.errors import KsiError
from ksi.plan import RunPlan
from ksi.tools.liqoctl import Liqoctl


@dataclass(frozen=True)
class Provider:
    """A follower as the leader sees it."""

    rank: int
    node: str
    address: str
    gateway_port: int
    kubeconfig: Path


def install(liqoctl: Liqoctl, plan: RunPlan, timeout: float,
            local_chart: Path | None = None) -> None:
    liqoctl.install_kind(
        local_chart_path=local_chart,
        cluster_id=plan.cluster_name,
        kubeconfig=plan.kind_kubeconfig,
        version=C.LIQO_VERSION,
        api_server_url=plan.api_url,
        pod_cidr=plan.pod_subnet,
        service_cidr=plan.service_subnet,
        timeout=timeout,
    )


def peer_all(liqoctl: Liqoctl, plan: RunPlan, providers: list[Provider], timeout: float) -> None:
    """Peer the leader with every follower concurrently; report every failure, naming nodes."""
    if not providers:
        return

    def one(p: Provider) -> None:
        try:
            liqoctl.peer(consumer_kubeconfig=plan.kind_kubeconfig,
                         provider_kubeconfig=p.kubeconfig, node_port=C.GATEWAY_NODE_PORT,
                         provider_address=p.address, provider_port=p.gateway_port,
                         timeout=timeout)
        except KsiError as exc:
            exc.message = f"peering with rank {p.rank} on {p.node} failed: {exc.message}"
            raise

    with ThreadPoolExecutor(max_workers=min(16, len(providers))) as pool:
        futures = [pool.submit(one, p) for p in providers]
        errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:
        raise errors[0]  # type: ignore[misc]


def offload(liqoctl: Liqoctl, plan: RunPlan, namespace: str, timeout: float) -> None:
    liqoctl.offload_namespace(namespace, kubeconfig=plan.kind_kubeconfig, timeout=timeout)
