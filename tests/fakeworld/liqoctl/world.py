"""What the liqoctl double knows of Liqo's footprint in a cluster, and of time.

Liqo's state lives in the cluster (so it disappears with it), in the objects upstream creates:
``liqo-clusterid-configmap`` (``CLUSTER_ID``; ``deployments/liqo/templates/liqo-clusterid-configmap.yaml``),
the ``liqo-controller-manager`` Deployment whose ``controller-manager`` image tag *is* the installed
version (``pkg/utils/getters/k8sGetters.go`` ``GetLiqoVersion``) and whose args carry
``--api-server-address-override`` (``liqo-controller-manager-deployment.yaml``), the IPAM
``Network`` objects ``pod-cidr``/``service-cidr``/``external-cidr``/``internal-cidr``
(``liqo-ipam-networks.yaml``), ForeignClusters, tenant namespaces ``liqo-tenant-<id>``
(``pkg/tenantNamespace/const.go``), VirtualNodes and virtual ``Node`` objects, NamespaceOffloadings.
The CRDs are a trimmed copy of the chart's (names, scope, versions, status subresource only).
"""

from __future__ import annotations

import ipaddress
import re
import signal
import time
from dataclasses import dataclass
from typing import Any

from tests.fakeworld.common import world as fw
from tests.fakeworld.liqoctl import kube as lk
from tests.fakeworld.liqoctl.printer import DEADLINE_EXCEEDED, Printer, Spinner

VERSION = "v1.0.0"
#: Liqo releases (git tags = chart versions on https://helm.liqo.io/)
RELEASES = [f"v0.{minor}.{patch}" for minor, last in ((2, 1), (3, 2), (4, 0), (5, 4), (6, 1), (7, 2), (8, 3), (9, 4), (10, 3))
            for patch in range(last + 1) if (minor, patch) != (2, 0)]
RELEASES += ["v1.0.0", "v1.0.1", "v1.0.2", "v1.0.3", "v1.1.0", "v1.1.1", "v1.1.2", "v1.2.0"]
SEMVER = re.compile(r"^v(0|[1-9]\d*)(\.(0|[1-9]\d*))?(\.(0|[1-9]\d*))?(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
CLUSTERID_CM = "liqo-clusterid-configmap"
CTRL_MGR = "liqo-controller-manager"
TENANT_PREFIX = "liqo-tenant"
CRDS = {  # plural.group: (group, version, kind, namespaced, short name)
    "foreignclusters.core.liqo.io": ("core.liqo.io", "v1beta1", "ForeignCluster", False, "fc"),
    "namespaceoffloadings.offloading.liqo.io": ("offloading.liqo.io", "v1beta1", "NamespaceOffloading", True, "nsof"),
    "virtualnodes.offloading.liqo.io": ("offloading.liqo.io", "v1beta1", "VirtualNode", True, "vn"),
    "networks.ipam.liqo.io": ("ipam.liqo.io", "v1alpha1", "Network", True, "net"),
}
FC = "/apis/core.liqo.io/v1beta1/foreignclusters"
NODES = "/api/v1/nodes"


class Exit(Exception):
    """End the command with this exit code (messages were printed already, as upstream does)."""

    def __init__(self, code: int = 1):
        super().__init__(code)
        self.code = code


class Timeout(Exception):
    """The command's context expired (Go: ``context deadline exceeded``)."""

    def __str__(self) -> str:
        return DEADLINE_EXCEEDED


class Cancelled(Timeout):
    """SIGINT/SIGTERM: ``signal.NotifyContext`` in ``cmd/liqoctl/main.go`` cancels the context."""

    def __str__(self) -> str:
        return "context canceled"


def cancel_on_signals() -> None:
    """The first SIGINT/SIGTERM cancels the command (waits fail with ``context canceled``); a second kills."""
    def handler(signum: int, _frame: Any) -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise Cancelled()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


class Deadline:
    """``context.WithTimeout``: every wait of a command shares one deadline."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def sleep(self, seconds: float, spinner: Spinner | None = None) -> None:
        """Sleep ``seconds`` (ticking the spinner); raise Timeout if the deadline comes first."""
        until = time.monotonic() + seconds
        while True:
            now = time.monotonic()
            if now >= self.end:
                raise Timeout()
            if now >= until:
                return
            time.sleep(min(0.25, until - now, self.end - now))
            if spinner is not None and int(now) != int(time.monotonic()):
                spinner.tick()

    def hang(self, spinner: Spinner | None = None) -> None:
        """KSI_FAKE_HANG: wait for the deadline (or a signal), then time out."""
        self.sleep(float("inf"), spinner)

    def poll(self, probe: Any, interval: float = 1.0, spinner: Spinner | None = None) -> Any:
        """``wait.PollUntilContextCancel``: call ``probe`` until it returns truthy or time runs out."""
        while True:
            value = probe()
            if value:
                return value
            self.sleep(min(interval, self.remaining() + 0.01), spinner)


def load_config(p: Any, printer: Printer, prefix: str = "") -> lk.RestConfig:
    """``Factory.Initialize`` in a PersistentPreRun: a kubeconfig problem ends the command (CheckErr)."""
    try:
        return lk.load(p.values, prefix)
    except (lk.ConfigError, OSError) as e:
        printer.error(str(e) if isinstance(e, lk.ConfigError) else f"error: {e}")
        raise Exit(1) from e


def hang_or_fail(op: str) -> str | None:
    """``"hang"``/``"fail"`` when KSI_FAKE_HANG/KSI_FAKE_FAIL name ``op`` on this host."""
    if fw.should_hang(op):
        return "hang"
    if fw.should_fail(op):
        return "fail"
    return None


# --- reading a cluster ---------------------------------------------------------------------------


@dataclass
class Liqo:
    """What ``liqoctl`` learns of Liqo in one cluster."""

    cluster_id: str
    version: str
    api_address: str
    networks: dict[str, str]


def cluster_id(client: lk.Client, namespace: str) -> str:
    """``utils.GetClusterIDWithControllerClient``; raises ApiError NotFound like upstream."""
    items = client.list(f"/api/v1/namespaces/{namespace}/configmaps", "app.kubernetes.io/name=clusterid-configmap")
    if not items:
        raise lk.ApiError(404, {"reason": "NotFound", "message": 'configmaps "configmaps" not found'})
    if len(items) > 1:
        raise RuntimeError("multiple resources of type {configmaps} found for label selector "
                           f"{{app.kubernetes.io/name=clusterid-configmap}} in namespace {{{namespace}}}, when only one was expected")
    cm = items[0]
    if "CLUSTER_ID" not in (cm.get("data") or {}):
        raise RuntimeError(f"unable to get cluster ID: field {{CLUSTER_ID}} not found in configmap {{{namespace}/{cm['metadata']['name']}}}")
    return str(cm["data"]["CLUSTER_ID"])


def read_liqo(client: lk.Client, namespace: str) -> Liqo:
    cid = cluster_id(client, namespace)
    deps = client.list(f"/apis/apps/v1/namespaces/{namespace}/deployments",
                       "app.kubernetes.io/name=controller-manager,app.kubernetes.io/component=controller-manager")
    version, address = "", ""
    for dep in deps[:1]:
        for c in dep.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            if c.get("name") == "controller-manager":
                version = c.get("image", "").rsplit(":", 1)[-1] if ":" in c.get("image", "") else ""
                for arg in c.get("args") or []:
                    if arg.startswith("--api-server-address-override="):
                        address = arg.split("=", 1)[1]
    networks = {}
    if client.served("ipam.liqo.io", "v1alpha1", "networks"):
        for net in client.list(f"/apis/ipam.liqo.io/v1alpha1/namespaces/{namespace}/networks"):
            networks[net["metadata"]["name"]] = (net.get("spec") or {}).get("cidr", "")
    return Liqo(cid, version, address, networks)


def kind_cluster_name(client: lk.Client) -> str:
    """The kind cluster behind an API: node providerIDs are ``kind://<provider>/<cluster>/<node>``."""
    for node in client.list(NODES):
        pid: str = node.get("spec", {}).get("providerID", "")
        if pid.startswith("kind://"):
            return pid.split("/")[3]
    return ""


def control_plane_address(client: lk.Client) -> str:
    """``apiserver.GetAddressFromMasterNode``: first control-plane InternalIP, port 6443."""
    for node in client.list(NODES, "node-role.kubernetes.io/control-plane"):
        for a in node.get("status", {}).get("addresses", []):
            if a.get("type") == "InternalIP":
                return f"https://{a['address']}:6443"
    raise RuntimeError("no ApiServer.Address variable provided and no master node found, one of the two values must be present")


def overlaps(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_network(a, strict=False).overlaps(ipaddress.ip_network(b, strict=False))
    except ValueError:
        return False


def tenant_namespace(remote_id: str) -> str:
    return f"{TENANT_PREFIX}-{remote_id}"


# --- writing -------------------------------------------------------------------------------------


def crd(name: str) -> dict[str, Any]:
    group, version, kind, namespaced, short = CRDS[name]
    plural = name.split(".", 1)[0]
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "liqo"}},
            "spec": {"group": group, "scope": "Namespaced" if namespaced else "Cluster",
                     "names": {"plural": plural, "singular": kind.lower(), "kind": kind, "listKind": f"{kind}List", "shortNames": [short]},
                     "versions": [{"name": version, "served": True, "storage": True, "subresources": {"status": {}},
                                   "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}


def chart_labels(name: str, version: str) -> dict[str, str]:
    """``liqo.labels`` of the chart's ``_helpers.tpl``."""
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": f"liqo-{name}", "app.kubernetes.io/component": name,
            "app.kubernetes.io/part-of": "liqo", "helm.sh/chart": f"liqo-{version}", "app.kubernetes.io/version": version,
            "app.kubernetes.io/managed-by": "Helm"}


def ensure_namespace(client: lk.Client, name: str, labels: dict[str, str] | None = None) -> None:
    try:
        client.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}})
    except lk.ApiError as e:
        if e.code != 409:
            raise


def foreign_cluster(remote_id: str, role: str, api_server_url: str = "") -> dict[str, Any]:
    """``apis/core/v1beta1/foreigncluster_types.go``, as the controllers leave it once peered."""
    now = fw.rfc3339()

    def cond(kind: str, status: str) -> dict[str, str]:
        return {"type": kind, "status": status, "lastTransitionTime": now}

    provider = role == "Provider"
    auth = cond("AuthIdentityControlPlaneStatus", "Established") if provider else cond("AuthTenantStatus", "Ready")
    return {"apiVersion": "core.liqo.io/v1beta1", "kind": "ForeignCluster",
            "metadata": {"name": remote_id, "labels": {"liqo.io/remote-cluster-id": remote_id}},
            "spec": {"clusterID": remote_id},
            "status": {"role": role, "tenantNamespace": {"local": tenant_namespace(remote_id)},
                       **({"apiServerUrl": api_server_url} if api_server_url else {}),
                       "modules": {"networking": {"enabled": True, "conditions": [cond("NetworkConnectionStatus", "Established")]},
                                   "authentication": {"enabled": True, "conditions": [auth]},
                                   "offloading": {"enabled": provider, "conditions": [cond("OffloadingNodeStatus", "Ready")] if provider else []}}}}


def virtual_node(remote_id: str, kube_version: str) -> dict[str, Any]:
    """The Node the virtual kubelet registers (``pkg/virtualKubelet/liqoNodeProvider/setup.go``), Ready."""
    now = fw.rfc3339()
    conds = [{"type": t, "status": "False", "reason": f"Kubelet{r}", "message": m, "lastHeartbeatTime": now, "lastTransitionTime": now}
             for t, r, m in (("MemoryPressure", "HasSufficientMemory", "The remote cluster has sufficient memory available"),
                             ("DiskPressure", "HasNoDiskPressure", "The remote cluster has no disk pressure"),
                             ("PIDPressure", "HasSufficientPID", "The remote cluster has sufficient PIDs available"))]
    conds.append({"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "The Liqo Virtual Kubelet is posting ready status",
                  "lastHeartbeatTime": now, "lastTransitionTime": now})
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": remote_id, "labels": {
                "kubernetes.io/hostname": remote_id, "kubernetes.io/role": "agent", "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                "liqo.io/type": "virtual-node", "liqo.io/remote-cluster-id": remote_id,
                "node.kubernetes.io/exclude-from-external-load-balancers": "true",
                "alpha.service-controller.kubernetes.io/exclude-balancer": "true"}},
            "spec": {"taints": [{"key": "virtual-node.liqo.io/not-allowed", "value": "true", "effect": "NoExecute"}]},
            # NodeSystemInfo's fields are not omitempty: the API shows the unset ones as ""
            "status": {"nodeInfo": {"machineID": "", "systemUUID": "", "bootID": "", "kernelVersion": "",
                                    "osImage": "", "containerRuntimeVersion": "", "kubeProxyVersion": "",
                                    "kubeletVersion": kube_version, "architecture": "amd64", "operatingSystem": "Linux"},
                       "capacity": {"cpu": "2", "memory": "8Gi", "pods": "110"}, "allocatable": {"cpu": "2", "memory": "8Gi", "pods": "110"},
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}, "conditions": conds}}
