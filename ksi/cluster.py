"""One member's kind-on-nerdctl cluster: render its config, create it, and the one teardown.

Creation is retried once with fresh ports when kind fails to publish a port that another process
took between ksi choosing it and kind binding it.  A killed ``kind create`` leaves its node
container behind (kind has no cleanup on SIGTERM/SIGKILL), so deletion is always attempted, even
when creation never finished, and deleting a missing cluster is not an error.

``teardown`` is the one way a cluster is deleted, used by ``ksi run``'s undo, by the reaper
(``ksi delete``, the stale-cluster sweep of every run) and by the guardian, like kind's one
``delete.Cluster`` used by create-on-failure and by ``kind delete``: ``kind delete cluster``,
then -- only when that worked, so that ``ksi delete NAME`` can try again -- the guardian, the run
directory, the member's files in the job directory, the registry record and dead port claims.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ksi import registry
from ksi.paths import runtime_root, write_private
from ksi.plan import RunPlan, kind_kubeconfig_in, run_dir_for
from ksi.templates import render
from ksi.tools.kind import Kind

PORT_CLASH_MARKERS = ("address already in use", "port is already allocated", "bind:")
#: kubelet's maxPods on every member's node (default 110).  The leader's node runs ~16 pods of
#: its own (Kubernetes and Liqo) and two per follower (a Liqo gateway, a virtual kubelet);
#: 250 still fits kind's /24 of pod addresses per node (docs/performance.md).
MAX_PODS = 250


def render_config(plan: RunPlan) -> str:
    return render(
        "kind-config.yaml.j2",
        name=plan.cluster_name,
        api_address=plan.api_address,
        api_port=plan.api_port,
        pod_subnet=plan.pod_subnet,
        service_subnet=plan.service_subnet,
        image=plan.image,
        workdir=str(plan.workdir),
        k8s_port=plan.k8s_port,
        gateway=plan.gateway,
        node=plan.node,
        max_pods=MAX_PODS,
    )


def write_config(plan: RunPlan) -> Path:
    return write_private(plan.config_file, render_config(plan))


def is_name_taken(stderr: str) -> bool:
    """kind refuses a name in use: ``node(s) already exist for a cluster with the name "x"``
    (kind pkg/cluster/internal/create/create.go).  That cluster is somebody else's."""
    return "already exist for a cluster with the name" in stderr


def is_network_race(stderr: str) -> bool:
    """Two ``kind create`` on one host, no ``kind`` network yet: both see none, both create it,
    one fails with nerdctl's "network with name kind already exists".  kind's docker provider
    tolerates that (``createNetworkNoDuplicates``); its nerdctl provider does not
    (``pkg/cluster/internal/providers/nerdctl/network.go`` ``ensureNetwork``).  A second
    attempt finds the network and goes on."""
    return "failed to ensure nerdctl network" in stderr and "already exists" in stderr


def is_port_clash(stderr: str) -> bool:
    text = stderr.lower()
    return any(marker in text for marker in PORT_CLASH_MARKERS)


def create(kind: Kind, plan: RunPlan, timeout: float) -> None:
    write_config(plan)
    kind.create(plan.cluster_name, plan.config_file, plan.kind_kubeconfig, timeout=timeout)


def delete(kind: Kind, plan: RunPlan, timeout: float) -> None:
    kind.delete(plan.cluster_name, plan.kind_kubeconfig, timeout=timeout)


def kubeconfig_for(name: str, record: registry.Record | None) -> Path:
    """kind's admin kubeconfig of ``name`` (kind removes the cluster's context from it)."""
    if record is not None:
        candidate = kind_kubeconfig_in(Path(record.run_dir))
        if candidate.parent.is_dir():
            return candidate
    return runtime_root() / "orphans.kubeconfig"


def teardown(kind: Kind, name: str, record: registry.Record | None, *, timeout: float,
             job_files: bool = True) -> None:
    """Delete cluster ``name`` and everything ksi kept for it on this node (idempotent).

    ``job_files``: also remove the member's secret (and, for a leader, the lock) in the shared
    job directory -- what a dead run left there; a live ``ksi run`` leaves that to its own
    rendezvous undo, which still holds the lock.  Events and diagnostics are never removed.
    Raises the ``CommandError`` of ``kind delete``; nothing else is removed then.
    """
    kind.delete(name, kubeconfig_for(name, record), timeout=timeout)
    forget(name, record, job_files=job_files)


def forget(name: str, record: registry.Record | None, *, job_files: bool = True) -> None:
    """What ``teardown`` removes once kind no longer has the cluster: guardian, run files,
    registry record, port claims (and with ``job_files`` the member's files in the job
    directory).  ``ksi delete --stale`` calls it alone for clusters kind no longer lists."""
    from ksi import guardian
    from ksi.ports import sweep_claims
    from ksi.rendezvous import forget_member

    if record is not None:
        guardian.stop(Path(record.run_dir))
        shutil.rmtree(record.run_dir, ignore_errors=True)
        if job_files and record.job_dir:
            forget_member(Path(record.job_dir), record.rank, leader=record.leader)
    shutil.rmtree(run_dir_for(runtime_root(), name), ignore_errors=True)
    registry.remove(name)
    sweep_claims(runtime_root())
