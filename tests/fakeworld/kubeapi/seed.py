"""What a fresh kind cluster holds, a tiny "kubelet", and the server-side tables ``kubectl get`` prints.

Upstream: a kind v0.29 cluster (kindest/node v1.33.1) right after ``kind create cluster``: the four
namespaces plus ``local-path-storage``, kube-system pods, node labels and conditions (Ready is the
last condition: kind's ``waitforready`` reads ``conditions[-1:]``), RBAC bootstrap roles
(``plugin/pkg/auth/authorizer/rbac/bootstrappolicy``: ``cluster-admin``, ``system:discovery``,
``system:public-info-viewer``, ``system:basic-user``, and kubeadm's ``kubeadm:cluster-admins``
binding for the admin.conf user); table columns from ``pkg/printers/internalversion/printers.go``;
ages from ``apimachinery/pkg/util/duration.HumanDuration``.
"""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timezone
from typing import Any, Callable

from tests.fakeworld.common import world as fw
from tests.fakeworld.kubeapi.resources import Resource
from tests.fakeworld.kubeapi.store import Obj, Store


def human_age(seconds: float) -> str:
    """``duration.HumanDuration``."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def _age(obj: Obj) -> str:
    ts = obj.get("metadata", {}).get("creationTimestamp")
    if not ts:
        return "<unknown>"
    created = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
    return human_age(time.time() - created)


def _suffix(seed: str, n: int = 5) -> str:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    h = int(hashlib.sha256(seed.encode()).hexdigest(), 16)
    return "".join(alphabet[(h >> (5 * i)) % len(alphabet)] for i in range(n))


# --- seed ---------------------------------------------------------------------------------------------


def node_object(cfg: dict[str, Any], node: dict[str, Any], index: int, single: bool) -> Obj:
    labels = {"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
              "kubernetes.io/hostname": node["name"], "kubernetes.io/os": "linux"}
    taints = []
    if node["role"] == "control-plane":
        labels["node-role.kubernetes.io/control-plane"] = ""
        if not single:
            labels["node.kubernetes.io/exclude-from-external-load-balancers"] = ""
            taints.append({"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"})
    labels.update(node.get("labels") or {})
    cidr = cfg["podSubnet"].split(",")[0].rsplit(".", 2)[0] + f".{index}.0/24"
    spec: dict[str, Any] = {"podCIDR": cidr, "podCIDRs": [cidr], "providerID": f"kind://nerdctl/{cfg['clusterName']}/{node['name']}"}
    if taints:
        spec["taints"] = taints
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": node["name"], "labels": labels,
                     "annotations": {"kubeadm.alpha.kubernetes.io/cri-socket": "unix:///run/containerd/containerd.sock",
                                     "node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
        "spec": spec,
        "status": {
            "addresses": [{"type": "InternalIP", "address": node["ip"]}, {"type": "Hostname", "address": node["name"]}],
            "allocatable": {"cpu": "2", "ephemeral-storage": "100Gi", "hugepages-2Mi": "0", "memory": "8Gi", "pods": "110"},
            "capacity": {"cpu": "2", "ephemeral-storage": "100Gi", "hugepages-2Mi": "0", "memory": "8Gi", "pods": "110"},
            "conditions": node_conditions(False),
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"architecture": "amd64", "bootID": _suffix(node["name"], 12), "containerRuntimeVersion": "containerd://2.1.1",
                         "kernelVersion": "6.1.0", "kubeProxyVersion": "", "kubeletVersion": cfg["kubernetesVersion"],
                         "machineID": _suffix(node["name"] + "m", 12), "operatingSystem": "linux",
                         "osImage": "Debian GNU/Linux 12 (bookworm)", "systemUUID": _suffix(node["name"] + "u", 12)},
        },
    }


def node_conditions(ready: bool) -> list[dict[str, Any]]:
    now = fw.rfc3339()
    base = [(t, "False", f"Kubelet{r}", m) for t, r, m in (
        ("MemoryPressure", "HasSufficientMemory", "kubelet has sufficient memory available"),
        ("DiskPressure", "HasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "HasSufficientPID", "kubelet has sufficient PID available"))]
    if ready:
        base.append(("Ready", "True", "KubeletReady", "kubelet is posting ready status"))
    else:
        base.append(("Ready", "False", "KubeletNotReady", "container runtime network not ready: NetworkReady=false "
                     "reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized"))
    return [{"type": t, "status": s, "reason": r, "message": m, "lastHeartbeatTime": now, "lastTransitionTime": now}
            for t, s, r, m in base]


def _pod(name: str, ns: str, node: str, labels: dict[str, str], static: bool) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"containers": [{"name": name.split("-")[0] if not static else name.rsplit("-", 2)[0], "image": "registry.k8s.io/pause:3.10"}],
                     "nodeName": node, "priorityClassName": "system-node-critical" if static else "system-cluster-critical"},
            "status": {"phase": "Pending"}}


def seed(store: Store, cfg: dict[str, Any], ca_pem: str) -> None:
    """Create what kubeadm, kind and the controllers leave in a new cluster."""
    R: Callable[[str, str], Resource] = lambda g, r: store.registry.by_group_resource(g, r)  # type: ignore[assignment,return-value] # noqa: E731
    for ns in ("default", "kube-node-lease", "kube-public", "kube-system", "local-path-storage"):
        create_namespace(store, ns, ca_pem)
    rbac = "rbac.authorization.k8s.io"
    roles = {
        "cluster-admin": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}],
        "admin": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
        "edit": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]}],
        "view": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}],
        "system:discovery": [{"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi",
                                                  "/openapi/*", "/readyz", "/version", "/version/"], "verbs": ["get"]}],
        "system:public-info-viewer": [{"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"], "verbs": ["get"]}],
        "system:basic-user": [{"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], "verbs": ["create"]},
                              {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]}],
    }
    for name, rules in roles.items():
        labels = {"kubernetes.io/bootstrapping": "rbac-defaults"}
        store.create(R(rbac, "clusterroles"), "", {"metadata": {"name": name, "labels": labels}, "rules": rules})
    bindings = {"cluster-admin": ("cluster-admin", [("Group", "system:masters")]),
                "kubeadm:cluster-admins": ("cluster-admin", [("Group", "kubeadm:cluster-admins")]),
                "system:discovery": ("system:discovery", [("Group", "system:authenticated")]),
                "system:public-info-viewer": ("system:public-info-viewer", [("Group", "system:authenticated"), ("Group", "system:unauthenticated")]),
                "system:basic-user": ("system:basic-user", [("Group", "system:authenticated")])}
    for name, (role, subjects) in bindings.items():
        store.create(R(rbac, "clusterrolebindings"), "", {
            "metadata": {"name": name}, "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": rbac, "kind": k, "name": n} for k, n in subjects]})
    nodes = cfg["nodes"]
    for i, node in enumerate(nodes):
        store.create(R("", "nodes"), "", node_object(cfg, node, i, len(nodes) == 1))
    pods = R("", "pods")
    for node in nodes:
        if node["role"] == "control-plane":
            for comp in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
                store.create(pods, "kube-system", _pod(f"{comp}-{node['name']}", "kube-system", node["name"], {"component": comp, "tier": "control-plane"}, True))
        for ds in ("kindnet", "kube-proxy"):
            store.create(pods, "kube-system", _pod(f"{ds}-{_suffix(ds + node['name'])}", "kube-system", node["name"], {"k8s-app": ds}, True))
    first = nodes[0]["name"]
    for i in range(2):
        store.create(pods, "kube-system", _pod(f"coredns-674b8bbfcf-{_suffix('coredns' + str(i))}", "kube-system", first, {"k8s-app": "kube-dns"}, False))
    store.create(pods, "local-path-storage", _pod(f"local-path-provisioner-7dc846544d-{_suffix('lpp')}", "local-path-storage", first, {"app": "local-path-provisioner"}, False))
    store.create(R("storage.k8s.io", "storageclasses"), "", {
        "metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "rancher.io/local-path", "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer"})
    store.create(R("", "services"), "default", {
        "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"clusterIP": cfg["serviceSubnet"].split(",")[0].rsplit(".", 2)[0] + ".0.1", "type": "ClusterIP",
                 "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}})


def create_namespace(store: Store, name: str, ca_pem: str, body: Obj | None = None) -> Obj:
    """A namespace, plus what controllers add to it at once: ``default`` SA, ``kube-root-ca.crt``."""
    body = dict(body or {"metadata": {"name": name}})
    meta = dict(body.get("metadata") or {})
    meta["labels"] = {**(meta.get("labels") or {}), "kubernetes.io/metadata.name": name}
    body["metadata"] = meta
    body["spec"] = {"finalizers": ["kubernetes"]}
    body["status"] = {"phase": "Active"}
    ns = store.create(store.registry.by_group_resource("", "namespaces"), "", body)  # type: ignore[arg-type]
    store.create(store.registry.by_group_resource("", "serviceaccounts"), name, {"metadata": {"name": "default"}})  # type: ignore[arg-type]
    store.create(store.registry.by_group_resource("", "configmaps"), name, {  # type: ignore[arg-type]
        "metadata": {"name": "kube-root-ca.crt", "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
        "data": {"ca.crt": ca_pem}})
    return ns


def kubelet(store: Store, node_ready: Callable[[str], bool], pod_ip: Callable[[], str]) -> None:
    """Move system pods on ready nodes to Running (what kubelet + CNI would do); workload pods are kubelife's."""
    pods = store.registry.by_group_resource("", "pods")
    assert pods is not None
    ready_nodes = [n["metadata"]["name"] for n in store.all("", "nodes") if node_ready(n["metadata"]["name"])]
    from tests.fakeworld.kubeapi import life as kubelife

    for pod in store.all("", "pods"):
        if kubelife.managed(pod["metadata"].get("namespace", "")):
            continue  # a workload pod: kubelife runs it
        if pod.get("status", {}).get("phase") not in (None, "Pending") or pod["metadata"].get("deletionTimestamp"):
            continue
        node = pod.get("spec", {}).get("nodeName") or (ready_nodes[0] if ready_nodes else "")
        if node not in ready_nodes:
            continue
        now = fw.rfc3339()
        new = dict(pod)
        new["metadata"] = {k: v for k, v in pod["metadata"].items() if k != "resourceVersion"}
        new["spec"] = {**pod.get("spec", {}), "nodeName": node}
        new["status"] = {
            "phase": "Running", "podIP": pod_ip(), "hostIP": "", "startTime": now,
            "conditions": [{"type": t, "status": "True", "lastTransitionTime": now} for t in
                           ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")],
            "containerStatuses": [{"name": c.get("name", "c"), "image": c.get("image", ""), "ready": True, "restartCount": 0,
                                   "started": True, "state": {"running": {"startedAt": now}}}
                                  for c in pod.get("spec", {}).get("containers", [])],
        }
        ns = pod["metadata"].get("namespace", "")
        store.update(pods, ns, pod["metadata"]["name"], new, subresource="")
        stored = store.peek("", "pods", ns, pod["metadata"]["name"])
        if stored is not None and stored.get("status") != new["status"]:
            store.update(pods, ns, pod["metadata"]["name"], new, subresource="status")
