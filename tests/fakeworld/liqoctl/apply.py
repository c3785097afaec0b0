"""The objects the Liqo chart and controllers leave in a cluster, written through the fake API.

Upstream (liqotech/liqo v1.0.0): ``deployments/liqo/templates/liqo-clusterid-configmap.yaml``,
``liqo-controller-manager-deployment.yaml`` (image ``ghcr.io/liqotech/liqo-controller-manager:<tag>``,
container ``controller-manager``, ``--api-server-address-override`` only when ``apiServer.address``
is set), ``liqo-ipam-networks.yaml``, the chart's CRDs (trimmed, see world.py); after a peering:
tenant namespaces (``pkg/tenantNamespace``), ForeignClusters on both sides, the gateway server's
NodePort Service ``gw-<consumer id>`` on the provider, the VirtualNode and the virtual ``Node`` on
the consumer (``pkg/virtualKubelet/liqoNodeProvider/setup.go``).
"""

from __future__ import annotations

from typing import Any

from tests.fakeworld.liqoctl import kube as lk
from tests.fakeworld.liqoctl import world as w

CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def install_objects(client: lk.Client, ns: str, values: dict[str, Any], cluster_id: str) -> None:
    version = str(values.get("tag") or "")
    ipam = values.get("ipam") or {}
    address = str((values.get("apiServer") or {}).get("address") or "")
    w.ensure_namespace(client, ns)
    for name in w.CRDS:
        client.apply(CRD_PATH, w.crd(name))
    client.apply(f"/api/v1/namespaces/{ns}/configmaps", {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": w.CLUSTERID_CM, "labels": w.chart_labels("clusterid-configmap", version)},
        "data": {"CLUSTER_ID": cluster_id}})
    networks = [("pod-cidr", ipam.get("podCIDR"), True), ("service-cidr", ipam.get("serviceCIDR"), True),
                ("external-cidr", ipam.get("externalCIDR"), False), ("internal-cidr", ipam.get("internalCIDR"), False)]
    networks += [(f"reserved-{i + 1}", cidr, True) for i, cidr in enumerate(ipam.get("reservedSubnets") or [])]
    for name, cidr, not_remapped in networks:
        labels = {**w.chart_labels("ipam", version), "ipam.liqo.io/network-type": name if not name.startswith("reserved") else "reserved"}
        if not_remapped:
            labels["ipam.liqo.io/network-not-remapped"] = "true"
        client.apply(f"/apis/ipam.liqo.io/v1alpha1/namespaces/{ns}/networks", {
            "apiVersion": "ipam.liqo.io/v1alpha1", "kind": "Network",
            "metadata": {"name": name, "labels": labels, "annotations": {"liqo.io/preinstalled": "true"}},
            "spec": {"cidr": str(cidr or "")}})
    labels = w.chart_labels("controller-manager", version)
    selector = {k: labels[k] for k in ("app.kubernetes.io/name", "app.kubernetes.io/instance")}
    args = ["--cluster-id=$(CLUSTER_ID)", "--liqo-namespace=$(POD_NAMESPACE)", "--networking-enabled=true",
            "--authentication-enabled=true", "--offloading-enabled=true"]
    if address:
        args.append(f"--api-server-address-override={address}")
    path = f"/apis/apps/v1/namespaces/{ns}/deployments"
    client.apply(path, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": w.CTRL_MGR, "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": selector},
                 "template": {"metadata": {"labels": labels}, "spec": {"serviceAccountName": w.CTRL_MGR, "containers": [{
                     "name": "controller-manager", "image": f"ghcr.io/liqotech/liqo-controller-manager:{version}",
                     "command": ["/usr/bin/liqo-controller-manager"], "args": args}]}}}})
    client.set_status(f"{path}/{w.CTRL_MGR}", {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1,
                                                 "availableReplicas": 1})
    client.apply("/apis/rbac.authorization.k8s.io/v1/clusterroles", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": w.CTRL_MGR, "labels": labels},
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]})


def uninstall_objects(client: lk.Client, ns: str, purge: bool) -> None:
    client.delete(f"/apis/apps/v1/namespaces/{ns}/deployments/{w.CTRL_MGR}")
    client.delete(f"/api/v1/namespaces/{ns}/configmaps/{w.CLUSTERID_CM}")
    client.delete(f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{w.CTRL_MGR}")
    if client.served("ipam.liqo.io", "v1alpha1", "networks"):
        for net in client.list(f"/apis/ipam.liqo.io/v1alpha1/namespaces/{ns}/networks"):
            client.delete(f"/apis/ipam.liqo.io/v1alpha1/namespaces/{ns}/networks/{net['metadata']['name']}")
    if purge:
        for name in w.CRDS:
            client.delete(f"{CRD_PATH}/{name}")
        client.delete(f"/api/v1/namespaces/{ns}")


def tenant(client: lk.Client, remote_id: str) -> str:
    name = w.tenant_namespace(remote_id)
    w.ensure_namespace(client, name, {"liqo.io/tenant-namespace": "true", "liqo.io/remote-cluster-id": remote_id})
    return name


def gateway_service(client: lk.Client, namespace: str, consumer_id: str, node_port: int, port: int) -> None:
    client.apply(f"/api/v1/namespaces/{namespace}/services", {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": f"gw-{consumer_id}", "labels": {"networking.liqo.io/component": "gateway",
                                                                "liqo.io/remote-cluster-id": consumer_id}},
        "spec": {"type": "NodePort", "ports": [{"name": "wireguard", "port": port, "protocol": "UDP", "targetPort": port,
                                                "nodePort": node_port}]}})


def node_ports_in_use(client: lk.Client, except_name: str) -> set[int]:
    used = set()
    for svc in client.list("/api/v1/services"):
        if svc["metadata"]["name"] == except_name:
            continue
        for p in svc.get("spec", {}).get("ports") or []:
            if p.get("nodePort"):
                used.add(int(p["nodePort"]))
    return used


def foreign_cluster(client: lk.Client, remote_id: str, role: str, api_server_url: str = "") -> None:
    fc = w.foreign_cluster(remote_id, role, api_server_url)
    current = client.get_or_none(f"{w.FC}/{remote_id}")
    if current is not None:
        old_role = current.get("status", {}).get("role", "")
        if old_role and old_role != role and old_role != "ConsumerAndProvider":
            fc["status"]["role"] = "ConsumerAndProvider"
    client.apply(w.FC, fc)
    client.set_status(f"{w.FC}/{remote_id}", fc["status"])


def virtual_node(client: lk.Client, remote_id: str, tenant_ns: str) -> None:
    version = client.get("/version").get("gitVersion", "")
    client.apply(f"/apis/offloading.liqo.io/v1beta1/namespaces/{tenant_ns}/virtualnodes", {
        "apiVersion": "offloading.liqo.io/v1beta1", "kind": "VirtualNode",
        "metadata": {"name": remote_id, "labels": {"liqo.io/remote-cluster-id": remote_id}},
        "spec": {"clusterID": remote_id, "createNode": True}})
    node = w.virtual_node(remote_id, version)
    if client.get_or_none(f"{w.NODES}/{remote_id}") is None:
        try:
            client.create(w.NODES, node)
        except lk.ApiError as e:
            if e.code != 409:
                raise
    client.set_status(f"{w.NODES}/{remote_id}", node["status"])


def remove_peering(consumer: lk.Client, provider: lk.Client, consumer_id: str, provider_id: str) -> None:
    consumer.delete(f"{w.NODES}/{provider_id}")
    tenant_c, tenant_p = w.tenant_namespace(provider_id), w.tenant_namespace(consumer_id)
    if consumer.served("offloading.liqo.io", "v1beta1", "virtualnodes"):
        consumer.delete(f"/apis/offloading.liqo.io/v1beta1/namespaces/{tenant_c}/virtualnodes/{provider_id}")
    provider.delete(f"/api/v1/namespaces/{tenant_p}/services/gw-{consumer_id}")
    for client, remote_id in ((consumer, provider_id), (provider, consumer_id)):
        if client.served("core.liqo.io", "v1beta1", "foreignclusters"):
            client.delete(f"{w.FC}/{remote_id}")
