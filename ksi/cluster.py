"""One member's kind-on-nerdctl cluster: render its config, create it, delete it.

Creation is retried once with fresh ports when kind fails to publish a port that another process
took between ksi choosing it and kind binding it.  A killed ``kind create`` leaves its node
container behind (kind has no cleanup on SIGTERM/SIGKILL), so deletion is always attempted, even
when creation never finished, and deleting a missing cluster is not an error.
"""

from __future__ import annotations

from pathlib import Path

from ksi.paths import write_private
from ksi.plan import RunPlan
from ksi.templates import render
from ksi.tools.kind import Kind

PORT_CLASH_MARKERS = ("address already in use", "port is already allocated", "bind:")


def render_config(plan: RunPlan, extra_mounts: list[dict[str, str]] | None = None) -> str:
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
        extra_mounts=extra_mounts or [],
    )


def write_config(plan: RunPlan) -> Path:
    return write_private(plan.config_file, render_config(plan))


def is_name_taken(stderr: str) -> bool:
    """kind refuses a name in use: ``node(s) already exist for a cluster with the name "x"``
    (kind pkg/cluster/internal/create/create.go).  That cluster is somebody else's."""
    return "already exist for a cluster with the name" in stderr


def is_port_clash(stderr: str) -> bool:
    text = stderr.lower()
    return any(marker in text for marker in PORT_CLASH_MARKERS)


def create(kind: Kind, plan: RunPlan, timeout: float) -> None:
    write_config(plan)
    kind.create(plan.cluster_name, plan.config_file, plan.kind_kubeconfig, timeout=timeout)


def delete(kind: Kind, plan: RunPlan, timeout: float) -> None:
    kind.delete(plan.cluster_name, plan.kind_kubeconfig, timeout=timeout)
