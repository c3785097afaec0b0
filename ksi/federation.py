"""Joining the members' clusters with Liqo: the leader's cluster consumes every follower's.

Every member installs Liqo on its own cluster (all members in parallel), starting while its
node becomes Ready (``BackgroundInstall``), advertising its API server at the node address
(which is in the certificate SANs).  The leader peers with each follower as soon as that
follower's Liqo is ready (``Peering``, ``PEER_CONCURRENCY`` at a time: the spread of the
followers' bring-up is hidden), then waits until the cluster shows one Ready virtual node per
follower.  Finally the workload namespace is offloaded (LocalAndRemote, same name everywhere)
so that its pods may run on every member.

How far one leader goes (docs/performance.md): every follower costs the leader's node two pods
(a gateway, a virtual kubelet) and Liqo a remapped /16 of its pod CIDR and of its external
CIDR.  With kubelet's ``maxPods`` raised to ``cluster.MAX_PODS`` (250) the pods allow ~117
followers, the remappings ~130 (/work/shared/TECH-NOTES.md section 10); ksi supports
``MAX_MEMBERS`` and refuses more, with one line, before anything is created.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from ksi import constants as C
from ksi.cluster import MAX_PODS
from ksi.errors import BringUpError, KsiError, PhaseTimeout, UsageError
from ksi.exec import Runner
from ksi.plan import RunPlan
from ksi.signals import LinkedStop, Shutdown
from ksi.tools.liqoctl import Liqoctl

if TYPE_CHECKING:
    from concurrent.futures import Future

#: A Helm value path as ``--set`` takes it (helm pkg/strvals: dotted names, ``[N]`` indexes).
_KEY_RE = re.compile(r"^[A-Za-z0-9_-]+(\[[0-9]+\])*(\.[A-Za-z0-9_-]+(\[[0-9]+\])*)*$")
#: Chart values ksi sets itself: the federation depends on them.
OWN_VALUES = {"apiServer.address": "--api-address"}
#: Liqo's internal ranges (chart values.yaml): defaults, and the values that move them.
LIQO_RANGE_VALUES = {"ipam.externalCIDR": "10.70.0.0/16", "ipam.internalCIDR": "10.80.0.0/16"}


def check_liqo_set(items: Iterable[str]) -> tuple[str, ...]:
    """``--liqo-set`` items as given, each ``KEY=VALUE`` with a Helm value path as KEY; a bad one
    is bad input.  (Helm's own syntax applies to VALUE: ``a=1,b=2`` sets two values,
    ``{x,y}`` is a list, ``\\,`` a literal comma.)"""
    out = []
    for item in items:
        key, eq, _value = item.partition("=")
        if not eq or not _KEY_RE.match(key):
            raise UsageError(
                f"--liqo-set {item!r} is not KEY=VALUE with KEY a chart value path",
                hint="write e.g. --liqo-set networking.gatewayTemplates.wireguard.implementation="
                "userspace; KSI_LIQO_SET takes such items space-separated")
        if key in OWN_VALUES:
            raise UsageError(f"--liqo-set {key} is set by ksi itself (the federation needs it)",
                             hint=f"use {OWN_VALUES[key]} instead")
        out.append(item)
    return tuple(out)


def liqo_ranges(items: Iterable[str]) -> list[str]:
    """Liqo's internal ranges, as moved by ``--liqo-set ipam.externalCIDR=...`` and the like."""
    ranges = dict(LIQO_RANGE_VALUES)
    for item in items:
        key, _, value = item.partition("=")
        if key in ranges and value and "," not in value:
            ranges[key] = value
    return list(ranges.values())


#: pods on the leader's node that are not per follower: kind's 9 (control plane, CoreDNS x2,
#: kube-proxy, kindnet, local-path) and Liqo's ~7 controllers
BASE_PODS = 16
#: pods a follower costs the leader's node: the gateway client and the virtual kubelet
PODS_PER_FOLLOWER = 2
#: the largest job step ksi federates: below both walls (~117 followers by pods, ~130 by CIDR
#: remappings), with a margin; measured up to 16 (bench/)
MAX_MEMBERS = 100
#: `liqoctl peer` run at once by the leader.  Each is a Go process (~100 MB) driving the
#: leader's API server and Liqo's controllers (tenant namespace, certificates, gateway,
#: ResourceSlice); 8 keeps that load bounded and 16 members within two peer delays.
PEER_CONCURRENCY = 8

assert (MAX_PODS - BASE_PODS) // PODS_PER_FOLLOWER >= MAX_MEMBERS - 1


def check_size(members: int, federation: bool) -> None:
    """Refuse a job step larger than one Liqo leader hosts, before anything is created."""
    if federation and members > MAX_MEMBERS:
        raise UsageError(
            f"{members} members are more than one Liqo leader hosts (at most {MAX_MEMBERS})",
            hint=f"run on at most {MAX_MEMBERS} nodes, or with --no-federation "
            "(docs/performance.md)")


@dataclass(frozen=True)
class Provider:
    """A follower as the leader sees it."""

    rank: int
    node: str
    address: str
    gateway_port: int
    kubeconfig: Path


def install(liqoctl: Liqoctl, plan: RunPlan, timeout: float,
            local_chart: Path | None = None, values: Iterable[str] = ()) -> None:
    liqoctl.install_kind(
        values=tuple(values),
        local_chart_path=local_chart,
        cluster_id=plan.cluster_name,
        kubeconfig=plan.kind_kubeconfig,
        version=C.LIQO_VERSION,
        api_server_url=plan.api_url,
        timeout=timeout,
    )


class Peering:
    """The leader peering with its followers as they come, ``PEER_CONCURRENCY`` at a time.

    ``submit`` starts one ``liqoctl peer`` (or queues it behind the running ones) and returns at
    once, so the leader peers each follower as soon as it reached ``liqo-ready`` instead of
    after the last (``roles.wait_members``); ``finish`` waits for every peering submitted and
    reports every failure in one error naming each node (``peer_all``'s contract).  ``failed``
    tells, without waiting, that one has failed already: the leader then stops waiting for
    more members.  A peering is stopped by the runner's shutdown flag like any tool.
    """

    def __init__(self, plan: RunPlan) -> None:
        from concurrent.futures import ThreadPoolExecutor  # lazy: only a leader peers

        self.plan = plan
        self._pool = ThreadPoolExecutor(max_workers=PEER_CONCURRENCY,
                                        thread_name_prefix="ksi-peer")
        self._started: list[tuple[Provider, Future[KsiError | None]]] = []

    def submit(self, liqoctl: Liqoctl, provider: Provider, timeout: float) -> None:
        def one() -> KsiError | None:
            try:
                liqoctl.peer(consumer_kubeconfig=self.plan.kind_kubeconfig,
                             provider_kubeconfig=provider.kubeconfig,
                             node_port=C.GATEWAY_NODE_PORT, provider_address=provider.address,
                             provider_port=provider.gateway_port, timeout=timeout)
            except KsiError as exc:
                return exc
            return None

        self._started.append((provider, self._pool.submit(one)))

    @property
    def submitted(self) -> int:
        return len(self._started)

    def failed(self) -> bool:
        """True once a peering ended with an error (never waits)."""
        return any(f.done() and not f.cancelled()
                   and (f.exception() is not None or f.result() is not None)
                   for _, f in self._started)

    def close(self) -> None:
        """Wait for the peerings running (the shutdown flag stops them), drop those queued;
        idempotent.  On the way out of a failed wait, before the error is raised."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def finish(self) -> None:
        """Wait for every peering submitted; one error naming every failed member, if any."""
        try:
            results = [(p, f.result()) for p, f in self._started]
        finally:
            self.close()
        failed = [(p, exc) for p, exc in results if exc is not None]
        if not failed:
            return
        lines = [f"rank {p.rank} on {p.node}: {exc.message}" for p, exc in failed]
        # a timeout only when every failure was one (ksi run: 124); any other is bring-up (125)
        timeouts = all(exc.run_code == C.EXIT_TIMEOUT for _, exc in failed)
        cls = PhaseTimeout if timeouts else BringUpError
        raise cls(f"peering failed with {len(failed)} of {len(results)} member(s): "
                  + "; ".join(lines),
                  hint="see those members' output; `liqoctl info` on the leader's cluster",
                  detail="\n\n".join(exc.detail or exc.message for _, exc in failed))


class BackgroundInstall:
    """``liqoctl install`` in a thread, so that it overlaps the wait for the node to be Ready.

    Safe with liqoctl v1.0.0 (liqotech/liqo ``pkg/liqoctl/install/handler.go``,
    ``kind/provider.go``, ``kubeadm/provider.go``, ``validation.go``, the chart's templates):
    before Helm it only reads the cluster -- the ``kube-controller-manager`` pod in kube-system
    (its ``--cluster-cidr`` and ``--service-cluster-ip-range``; none listed is an immediate
    "kube-controller-manager not found", hence ``CONTROL_PLANE_SELECTOR`` is checked before
    starting), the pods' and services' addresses (which must sit in those CIDRs: before the CNI
    no pod has one but the host-network ones) -- then a Helm install with ``Wait`` and
    ``Atomic`` within ``--timeout``: namespaces, CRDs, RBAC, webhooks (whose pod webhook only
    selects namespaces labelled ``liqo.io/scheduling-enabled``, so nothing of kind's is held up
    by it) and Deployments, whose pods are scheduled once the node is Ready (its ``not-ready``
    taint goes) and waited for by Helm.  The chart has no pre-install hook.  So the install may
    start as soon as the API server answers and lists the controller manager; it ends after
    Ready, as before.

    The tool runs with a ``LinkedStop``: stopped by the member's flag (signal, news of another
    member) as every tool, and alone by ``stop`` (the undo of "wait for nodes").
    """

    def __init__(self, run: Callable[[Runner], None], runner: Runner) -> None:
        self.flag = LinkedStop(runner.shutdown or Shutdown())
        self._runner = Runner(self.flag, grace=runner.grace, log=runner.log)
        self._run = run
        self.error: BaseException | None = None
        self._told = False
        self._thread = threading.Thread(target=self._main, name="ksi-liqo-install", daemon=True)

    def start(self) -> "BackgroundInstall":
        self._thread.start()
        return self

    def _main(self) -> None:
        try:
            self._run(self._runner)
        except BaseException as exc:  # noqa: BLE001 - handed to join/stop
            self.error = exc

    def join(self) -> None:
        """Wait for the install (bounded by its own timeout and the flags); its error, if any."""
        while self._thread.is_alive():
            self._thread.join(0.1)
        if self.error is not None:
            self._told = True  # the member's own error now: ``stop`` does not tell it again
            raise self.error

    def stop(self, seconds: float) -> None:
        """Undo: stop the install if it still runs; report its own failure when it had failed
        before (the member fails for another reason, both are told), not the stop's."""
        failed_before = not self._thread.is_alive() and self.error is not None and not self._told
        self.flag.stop()
        self._thread.join(seconds)
        if self._thread.is_alive():
            raise KsiError(f"liqoctl install did not stop in {seconds:.1f}s")
        parent = self.flag.parent
        if failed_before and isinstance(self.error, KsiError) and not parent.is_set():
            raise KsiError(f"the Liqo install (started while the node became Ready) failed "
                           f"too: {self.error.message}")


#: the pod ``liqoctl install kind`` reads the cluster's CIDRs from (``kubeadm/provider.go``)
CONTROL_PLANE_SELECTOR = "component=kube-controller-manager,tier=control-plane"


def peer_all(liqoctl: Liqoctl, plan: RunPlan, providers: list[Provider], timeout: float) -> None:
    """Peer the leader with every follower, ``PEER_CONCURRENCY`` at a time; report every
    failure, naming nodes."""
    peering = Peering(plan)
    for p in providers:
        peering.submit(liqoctl, p, timeout)
    peering.finish()


def offload(liqoctl: Liqoctl, plan: RunPlan, namespace: str, timeout: float) -> None:
    liqoctl.offload_namespace(namespace, kubeconfig=plan.kind_kubeconfig, timeout=timeout)
