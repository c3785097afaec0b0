"""The resource registry of the fake API server: built-in resources, CRDs, and what discovery serves.

Upstream: kubernetes ``pkg/controlplane`` storage (which resources exist, their scope, kinds, short
names, verbs, subresources), ``apiextensions-apiserver`` (a CRD adds one resource per served
version), ``kubectl api-resources`` of a v1.33 kind cluster (the names below).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    name: str  # plural, e.g. "configmaps"
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = tuple(ALL_VERBS)
    subresources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    #: only named by a CRD or stored without any definition (lenient generic store)
    origin: str = "builtin"

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """``configmaps`` or ``deployments.apps``, as Status messages name a resource."""
        return f"{self.name}.{self.group}" if self.group else self.name

    @property
    def singular(self) -> str:
        return self.kind.lower()


_CREATE_ONLY = ("create",)
_R = Resource
BUILTIN: list[Resource] = [
    _R("", "v1", "bindings", "Binding", True, verbs=_CREATE_ONLY),
    _R("", "v1", "componentstatuses", "ComponentStatus", False, ("cs",), ("get", "list")),
    _R("", "v1", "configmaps", "ConfigMap", True, ("cm",)),
    _R("", "v1", "endpoints", "Endpoints", True, ("ep",)),
    _R("", "v1", "events", "Event", True, ("ev",)),
    _R("", "v1", "limitranges", "LimitRange", True, ("limits",)),
    _R("", "v1", "namespaces", "Namespace", False, ("ns",), ("create", "delete", "get", "list", "patch", "update", "watch"), ("finalize", "status")),
    _R("", "v1", "nodes", "Node", False, ("no",), subresources=("proxy", "status")),
    _R("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, ("pvc",), subresources=("status",)),
    _R("", "v1", "persistentvolumes", "PersistentVolume", False, ("pv",), subresources=("status",)),
    _R("", "v1", "pods", "Pod", True, ("po",), subresources=("attach", "binding", "eviction", "exec", "log", "portforward", "proxy", "status"), categories=("all",)),
    _R("", "v1", "podtemplates", "PodTemplate", True),
    _R("", "v1", "replicationcontrollers", "ReplicationController", True, ("rc",), subresources=("scale", "status"), categories=("all",)),
    _R("", "v1", "resourcequotas", "ResourceQuota", True, ("quota",), subresources=("status",)),
    _R("", "v1", "secrets", "Secret", True),
    _R("", "v1", "serviceaccounts", "ServiceAccount", True, ("sa",), subresources=("token",)),
    _R("", "v1", "services", "Service", True, ("svc",), subresources=("proxy", "status"), categories=("all",)),
    _R("apps", "v1", "controllerrevisions", "ControllerRevision", True),
    _R("apps", "v1", "daemonsets", "DaemonSet", True, ("ds",), subresources=("status",), categories=("all",)),
    _R("apps", "v1", "deployments", "Deployment", True, ("deploy",), subresources=("scale", "status"), categories=("all",)),
    _R("apps", "v1", "replicasets", "ReplicaSet", True, ("rs",), subresources=("scale", "status"), categories=("all",)),
    _R("apps", "v1", "statefulsets", "StatefulSet", True, ("sts",), subresources=("scale", "status"), categories=("all",)),
    _R("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", False, verbs=_CREATE_ONLY),
    _R("authentication.k8s.io", "v1", "tokenreviews", "TokenReview", False, verbs=_CREATE_ONLY),
    _R("authorization.k8s.io", "v1", "localsubjectaccessreviews", "LocalSubjectAccessReview", True, verbs=_CREATE_ONLY),
    _R("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", False, verbs=_CREATE_ONLY),
    _R("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview", False, verbs=_CREATE_ONLY),
    _R("authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", False, verbs=_CREATE_ONLY),
    _R("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True, ("hpa",), subresources=("status",), categories=("all",)),
    _R("batch", "v1", "cronjobs", "CronJob", True, ("cj",), subresources=("status",), categories=("all",)),
    _R("batch", "v1", "jobs", "Job", True, subresources=("status",), categories=("all",)),
    _R("coordination.k8s.io", "v1", "leases", "Lease", True),
    _R("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True),
    _R("events.k8s.io", "v1", "events", "Event", True, ("ev",)),
    _R("networking.k8s.io", "v1", "ingressclasses", "IngressClass", False),
    _R("networking.k8s.io", "v1", "ingresses", "Ingress", True, ("ing",), subresources=("status",)),
    _R("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True, ("netpol",)),
    _R("node.k8s.io", "v1", "runtimeclasses", "RuntimeClass", False),
    _R("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, ("pdb",), subresources=("status",)),
    _R("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    _R("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    _R("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    _R("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    _R("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False, ("pc",)),
    _R("storage.k8s.io", "v1", "csidrivers", "CSIDriver", False),
    _R("storage.k8s.io", "v1", "csinodes", "CSINode", False),
    _R("storage.k8s.io", "v1", "storageclasses", "StorageClass", False, ("sc",)),
    _R("storage.k8s.io", "v1", "volumeattachments", "VolumeAttachment", False, subresources=("status",)),
    _R("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False, ("crd", "crds"), subresources=("status",)),
    _R("apiregistration.k8s.io", "v1", "apiservices", "APIService", False, subresources=("status",)),
    _R("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration", False),
    _R("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", "ValidatingWebhookConfiguration", False),
    _R("certificates.k8s.io", "v1", "certificatesigningrequests", "CertificateSigningRequest", False, ("csr",), subresources=("approval", "status")),
    _R("flowcontrol.apiserver.k8s.io", "v1", "flowschemas", "FlowSchema", False, subresources=("status",)),
    _R("flowcontrol.apiserver.k8s.io", "v1", "prioritylevelconfigurations", "PriorityLevelConfiguration", False, subresources=("status",)),
]


@dataclass
class Registry:
    """Resources by (group, version, name); CRDs and generic resources are added at runtime."""

    resources: dict[tuple[str, str, str], Resource] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        for r in BUILTIN:
            self.resources[(r.group, r.version, r.name)] = r

    def get(self, group: str, version: str, name: str) -> Resource | None:
        with self.lock:
            return self.resources.get((group, version, name))

    def by_group_resource(self, group: str, name: str) -> Resource | None:
        with self.lock:
            return next((r for (g, _, n), r in self.resources.items() if g == group and n == name), None)

    def known_group_version(self, group: str, version: str) -> bool:
        with self.lock:
            return any(g == group and v == version for g, v, _ in self.resources)

    def group_versions(self) -> dict[str, list[str]]:
        """group -> versions, newest first as discovery lists them (core group excluded)."""
        out: dict[str, list[str]] = {}
        with self.lock:
            for g, v, _ in self.resources:
                if g and v not in out.setdefault(g, []):
                    out[g].append(v)
        return {g: sorted(vs, key=_version_priority) for g, vs in sorted(out.items())}

    def in_group_version(self, group: str, version: str) -> list[Resource]:
        with self.lock:
            return sorted((r for (g, v, _), r in self.resources.items() if g == group and v == version), key=lambda r: r.name)

    def add_generic(self, group: str, version: str, name: str, namespaced: bool, kind: str) -> Resource:
        """A resource nobody defined: stored anyway (the double's leniency; see README)."""
        with self.lock:
            r = self.resources.get((group, version, name))
            if r is None:
                r = Resource(group, version, name, kind or name.capitalize(), namespaced, origin="generic")
                self.resources[(group, version, name)] = r
            return r

    def add_crd(self, crd: dict[str, Any]) -> list[Resource]:
        spec = crd.get("spec", {})
        names = spec.get("names", {})
        added = []
        with self.lock:
            for ver in spec.get("versions", []):
                if not ver.get("served", True):
                    continue
                subs = tuple(sorted((ver.get("subresources") or {}).keys()))
                r = Resource(
                    spec.get("group", ""), ver["name"], names.get("plural", ""), names.get("kind", ""),
                    spec.get("scope", "Namespaced") == "Namespaced", tuple(names.get("shortNames", []) or ()),
                    subresources=subs, categories=tuple(names.get("categories", []) or ()), origin="crd",
                )
                self.resources[(r.group, r.version, r.name)] = r
                added.append(r)
        return added

    def remove_crd(self, crd: dict[str, Any]) -> None:
        spec = crd.get("spec", {})
        plural = spec.get("names", {}).get("plural", "")
        with self.lock:
            for key in [k for k in self.resources if k[0] == spec.get("group") and k[2] == plural]:
                del self.resources[key]


def _version_priority(v: str) -> tuple[int, int, int]:
    """Kubernetes version ordering: GA > beta > alpha, higher numbers first."""
    import re

    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", v)
    if not m:
        return (3, 0, 0)
    level = {"": 0, "beta": 1, "alpha": 2}[m.group(2) or ""]
    return (level, -int(m.group(1)), -int(m.group(3) or 0))


def api_resource_list(registry: Registry, group: str, version: str) -> dict[str, Any]:
    """``/api/v1`` or ``/apis/<g>/<v>``: an APIResourceList with subresources."""
    out = []
    for r in registry.in_group_version(group, version):
        entry: dict[str, Any] = {
            "name": r.name, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind, "verbs": list(r.verbs),
        }
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        out.append(entry)
        for sub in r.subresources:
            kind, verbs = r.kind, ["get", "patch", "update"]
            if sub == "token":
                kind, verbs = "TokenRequest", ["create"]
                out.append({"name": f"{r.name}/{sub}", "singularName": "", "namespaced": r.namespaced, "group": "authentication.k8s.io",
                            "version": "v1", "kind": kind, "verbs": verbs})
                continue
            if sub in ("exec", "attach", "portforward", "proxy", "eviction", "binding"):
                verbs = ["create", "get"]
            elif sub == "log":
                verbs = ["get"]
            elif sub == "finalize":
                verbs = ["update"]
            elif sub == "scale":
                kind = "Scale"
            out.append({"name": f"{r.name}/{sub}", "singularName": "", "namespaced": r.namespaced, "kind": kind, "verbs": verbs})
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{group}/{version}" if group else version, "resources": out}


def api_group(registry: Registry, group: str) -> dict[str, Any]:
    versions = registry.group_versions().get(group, [])
    gv = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": gv, "preferredVersion": gv[0] if gv else {}}


def api_group_list(registry: Registry) -> dict[str, Any]:
    groups = [api_group(registry, g) for g in registry.group_versions()]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
