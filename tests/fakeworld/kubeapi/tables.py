"""Server-side printing: the ``meta.k8s.io`` Table that ``kubectl get`` asks for.

Upstream: kubernetes ``pkg/printers/internalversion/printers.go`` (columns and cells of nodes,
namespaces, pods, configmaps, secrets, service accounts, services, deployments, RBAC objects),
``apiserver/pkg/registry/rest/table.go`` (the default ``Name``/``Created At`` table),
``apiextensions-apiserver`` (CRDs without printer columns: ``Name``, ``Age``),
``apimachinery/pkg/apis/meta/v1/types.go`` (``Table``, ``PartialObjectMetadata``).
"""

from __future__ import annotations

from typing import Any, Callable

from tests.fakeworld.kubeapi.resources import Resource
from tests.fakeworld.kubeapi.seed import _age
from tests.fakeworld.kubeapi.store import Obj

Column = tuple[str, str, int, Callable[[Obj], Any]]  # name, type, priority, cell

_NAME_DESC = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"


def _name(o: Obj) -> str:
    name: str = o["metadata"]["name"]
    return name


def _node_status(o: Obj) -> str:
    ready = next((c for c in o.get("status", {}).get("conditions", []) if c["type"] == "Ready"), None)
    status = "Ready" if ready and ready["status"] == "True" else "NotReady"
    if o.get("spec", {}).get("unschedulable"):
        status += ",SchedulingDisabled"
    return status


def _node_roles(o: Obj) -> str:
    roles = sorted(k.split("/", 1)[1] for k in (o["metadata"].get("labels") or {}) if k.startswith("node-role.kubernetes.io/"))
    return ",".join(roles) or "<none>"


def _node_ip(o: Obj, kind: str) -> str:
    return next((a["address"] for a in o.get("status", {}).get("addresses", []) if a["type"] == kind), "<none>")


def _pod_ready(o: Obj) -> str:
    statuses = o.get("status", {}).get("containerStatuses") or []
    total = len(o.get("spec", {}).get("containers") or [])
    return f"{sum(1 for s in statuses if s.get('ready'))}/{total}"


def _pod_status(o: Obj) -> str:
    if o["metadata"].get("deletionTimestamp"):
        return "Terminating"
    return o.get("status", {}).get("reason") or o.get("status", {}).get("phase") or "Pending"


def _ports(o: Obj) -> str:
    ports = o.get("spec", {}).get("ports") or []
    out = []
    for p in ports:
        s = f"{p.get('port')}"
        if p.get("nodePort"):
            s += f":{p['nodePort']}"
        out.append(f"{s}/{p.get('protocol', 'TCP')}")
    return ",".join(out) or "<none>"


def _role_ref(o: Obj) -> str:
    ref = o.get("roleRef", {})
    return f"{ref.get('kind', '')}/{ref.get('name', '')}"


def _created_at(o: Obj) -> str:
    created: str = o["metadata"].get("creationTimestamp", "")
    return created


COLUMNS: dict[str, list[Column]] = {
    "nodes": [("Name", "string", 0, _name), ("Status", "string", 0, _node_status), ("Roles", "string", 0, _node_roles),
              ("Age", "string", 0, _age), ("Version", "string", 0, lambda o: o.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", "")),
              ("Internal-IP", "string", 1, lambda o: _node_ip(o, "InternalIP")), ("External-IP", "string", 1, lambda o: _node_ip(o, "ExternalIP")),
              ("OS-Image", "string", 1, lambda o: o.get("status", {}).get("nodeInfo", {}).get("osImage", "")),
              ("Kernel-Version", "string", 1, lambda o: o.get("status", {}).get("nodeInfo", {}).get("kernelVersion", "")),
              ("Container-Runtime", "string", 1, lambda o: o.get("status", {}).get("nodeInfo", {}).get("containerRuntimeVersion", ""))],
    "namespaces": [("Name", "string", 0, _name), ("Status", "string", 0, lambda o: o.get("status", {}).get("phase", "")), ("Age", "string", 0, _age)],
    "pods": [("Name", "string", 0, _name), ("Ready", "string", 0, _pod_ready), ("Status", "string", 0, _pod_status),
             ("Restarts", "string", 0, lambda o: str(sum(s.get("restartCount", 0) for s in o.get("status", {}).get("containerStatuses") or []))),
             ("Age", "string", 0, _age), ("IP", "string", 1, lambda o: o.get("status", {}).get("podIP") or "<none>"),
             ("Node", "string", 1, lambda o: o.get("spec", {}).get("nodeName") or "<none>"),
             ("Nominated Node", "string", 1, lambda o: "<none>"), ("Readiness Gates", "string", 1, lambda o: "<none>")],
    "configmaps": [("Name", "string", 0, _name), ("Data", "integer", 0, lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {})), ("Age", "string", 0, _age)],
    "secrets": [("Name", "string", 0, _name), ("Type", "string", 0, lambda o: o.get("type", "Opaque")), ("Data", "integer", 0, lambda o: len(o.get("data") or {})), ("Age", "string", 0, _age)],
    "serviceaccounts": [("Name", "string", 0, _name), ("Secrets", "string", 0, lambda o: len(o.get("secrets") or [])), ("Age", "string", 0, _age)],
    "services": [("Name", "string", 0, _name), ("Type", "string", 0, lambda o: o.get("spec", {}).get("type", "ClusterIP")),
                 ("Cluster-IP", "string", 0, lambda o: o.get("spec", {}).get("clusterIP", "<none>")), ("External-IP", "string", 0, lambda o: "<none>"),
                 ("Port(s)", "string", 0, _ports), ("Age", "string", 0, _age)],
    "deployments": [("Name", "string", 0, _name),
                    ("Ready", "string", 0, lambda o: f"{o.get('status', {}).get('readyReplicas', 0)}/{o.get('spec', {}).get('replicas', 1)}"),
                    ("Up-to-date", "integer", 0, lambda o: o.get("status", {}).get("updatedReplicas", 0)),
                    ("Available", "integer", 0, lambda o: o.get("status", {}).get("availableReplicas", 0)), ("Age", "string", 0, _age)],
    "clusterrolebindings": [("Name", "string", 0, _name), ("Role", "string", 0, _role_ref), ("Age", "string", 0, _age)],
    "rolebindings": [("Name", "string", 0, _name), ("Role", "string", 0, _role_ref), ("Age", "string", 0, _age)],
    "clusterroles": [("Name", "string", 0, _name), ("Created At", "date", 0, _created_at)],
    "roles": [("Name", "string", 0, _name), ("Created At", "date", 0, _created_at)],
}
_DEFAULT_BUILTIN: list[Column] = [("Name", "string", 0, _name), ("Created At", "date", 0, _created_at)]
_DEFAULT_CUSTOM: list[Column] = [("Name", "string", 0, _name), ("Age", "date", 0, _age)]


def wants_table(accept: str) -> str | None:
    """The meta.k8s.io version of the Table the Accept header asks for, if any."""
    for part in accept.split(","):
        params = dict(p.strip().split("=", 1) for p in part.split(";")[1:] if "=" in p)
        if params.get("as") == "Table" and params.get("g", "meta.k8s.io") == "meta.k8s.io":
            return params.get("v", "v1")
    return None


def table(res: Resource, objs: list[Obj], version: str, rv: str, include: str = "Metadata") -> Obj:
    cols = COLUMNS.get(res.name) if res.origin == "builtin" else None
    cols = cols or (_DEFAULT_BUILTIN if res.origin == "builtin" else _DEFAULT_CUSTOM)
    defs = [{"name": n, "type": t, "format": "name" if n == "Name" else "", "description": _NAME_DESC if n == "Name" else n,
             "priority": p} for n, t, p, _ in cols]
    rows = []
    for o in objs:
        row: dict[str, Any] = {"cells": [cell(o) for _, _, _, cell in cols]}
        if include == "Object":
            row["object"] = o
        elif include != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": f"meta.k8s.io/{version}", "metadata": o["metadata"]}
        rows.append(row)
    return {"kind": "Table", "apiVersion": f"meta.k8s.io/{version}", "metadata": {"resourceVersion": rv},
            "columnDefinitions": defs, "rows": rows}
