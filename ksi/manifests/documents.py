"""The documents of a manifest workload, read and checked before anything is created: each a
mapping with ``apiVersion``, ``kind`` and ``metadata.name``, of a namespaced built-in kind
(``KINDS``), in no namespace or the workload's; a bad one is one line naming the file and the
document, and the bad-input exit code (``ksi/manifests/__init__.py``)."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterable, Mapping, Sequence

from ksi import constants as C
from ksi.errors import UsageError, WorkloadNotFound, WorkloadNotRunnable

SUFFIXES = (".yaml", ".yml", ".json")

_CORE = ("v1", ("Pod", "Service", "ConfigMap", "Secret", "ServiceAccount", "PersistentVolumeClaim",
                "Endpoints", "LimitRange", "ResourceQuota", "PodTemplate", "ReplicationController"))
_NAMESPACED: list[tuple[str, tuple[str, ...]]] = [
    _CORE,
    ("apps/v1", ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ControllerRevision")),
    ("batch/v1", ("Job", "CronJob")),
    ("networking.k8s.io/v1", ("NetworkPolicy", "Ingress")),
    ("policy/v1", ("PodDisruptionBudget",)),
    ("autoscaling/v2", ("HorizontalPodAutoscaler",)),
    ("autoscaling/v1", ("HorizontalPodAutoscaler",)),
    ("rbac.authorization.k8s.io/v1", ("Role", "RoleBinding")),
    ("discovery.k8s.io/v1", ("EndpointSlice",)),
    ("coordination.k8s.io/v1", ("Lease",)),
]
#: Built-in kinds that are not namespaced: refused (a manifest workload lives in one namespace).
CLUSTER_SCOPED = {"Namespace", "Node", "PersistentVolume", "ClusterRole", "ClusterRoleBinding",
                  "StorageClass", "CustomResourceDefinition", "PriorityClass", "RuntimeClass",
                  "IngressClass", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
                  "APIService", "CSIDriver", "VolumeAttachment"}
_IRREGULAR = {"Endpoints": "endpoints", "NetworkPolicy": "networkpolicies", "Ingress": "ingresses",
              "PodDisruptionBudget": "poddisruptionbudgets"}


def _plural(kind: str) -> str:
    return _IRREGULAR.get(kind) or kind.lower() + ("es" if kind.endswith("s") else "s")


#: (apiVersion, kind) -> resource (plural): what ``ksi run`` applies (kubernetes v1.33 built-ins).
KINDS: dict[tuple[str, str], str] = {(v, k): _plural(k) for v, kinds in _NAMESPACED for k in kinds}


@dataclass(frozen=True)
class Document:
    """One manifest document, checked; ``where`` names it for error lines."""

    source: str
    index: int
    body: Mapping[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body["kind"])

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    @property
    def where(self) -> str:
        return f"{self.source}, document {self.index} ({self.kind}/{self.name})"

    def path(self, namespace: str) -> str:
        api_version = str(self.body["apiVersion"])
        prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        return f"{prefix}/namespaces/{namespace}/{KINDS[(api_version, self.kind)]}/{self.name}"



def is_manifest(workload: Path) -> bool:
    """Whether ``ksi run WORKLOAD`` is a manifest workload (else a bash script)."""
    if str(workload) == "-" or workload.suffix.lower() in SUFFIXES:
        return True
    try:
        return workload.expanduser().is_dir()
    except OSError:  # a path the OS cannot look at: the script checks say so
        return False


def load(workload: Path, more: Sequence[str], *, stdin: IO[str] | None = None,
         namespace: str = C.WORKLOAD_NAMESPACE, members: int = 1) -> tuple[Document, ...]:
    """Read and check every document of WORKLOAD and the further sources in ``more``."""
    sources = [str(workload), *more]
    if sources.count("-") > 1:
        raise UsageError("stdin (-) is given more than once", hint="name it once")
    if "-" in sources and members > 1:
        raise UsageError("manifests from stdin (-) work on one node only: the leader that applies "
                         "them may not be the task that has stdin",
                         hint="save them to a file on the shared filesystem and give its path")
    for source in sources:
        if not is_manifest(Path(source)):
            raise UsageError(f"{source} is not a manifest (.yaml, .yml, .json, a directory or -)",
                             hint="a manifest workload takes manifests only; run a script on its own")
    docs: list[Document] = []
    for source in sources:
        for name, text in _read(source, Path(source).expanduser(), stdin):
            docs.extend(_parse(name, text, namespace))
    if not docs:
        raise UsageError(f"no Kubernetes objects in {' '.join(sources)}",
                         hint="give manifests with at least one document")
    seen: dict[tuple[str, str], str] = {}
    for d in docs:
        key = (d.kind, d.name)
        if key in seen:
            raise UsageError(f"{d.where}: {d.kind}/{d.name} is also defined by {seen[key]}",
                             hint="give each object once")
        seen[key] = d.where
    return tuple(docs)


def _read(source: str, path: Path, stdin: IO[str] | None) -> Iterable[tuple[str, str]]:
    if source == "-":
        yield "stdin", (stdin or sys.stdin).read()
        return
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES and p.is_file())
        if not files:
            raise WorkloadNotRunnable(f"workload {source} is a directory without manifests (.yaml, .yml, .json)",
                             hint="give the path of a bash script, or a directory of manifests")
    elif not path.exists():
        raise WorkloadNotFound(f"manifest {source} does not exist", hint="check the path")
    else:
        files = [path]
    for f in files:
        try:
            yield str(f), f.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"manifest {f} cannot be read: {getattr(e, 'strerror', None) or e}",
                             hint=f"chmod u+r {f}") from None


def _parse(source: str, text: str, namespace: str) -> list[Document]:
    import yaml  # lazy: only a manifest workload reads YAML (ksi/inputs.py imports us)

    out: list[Document] = []
    try:
        bodies = list(yaml.safe_load_all(text))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        index = text[:mark.index].count("\n---") + 1 if mark is not None else 1
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise UsageError(f"{source}, document {index}: not valid YAML ({problem}{where})",
                         hint="fix the manifest; `kubectl apply --dry-run=client -f FILE` shows it too") from None
    index = 0
    for body in bodies:
        if body is None:
            continue  # an empty document (a trailing ---)
        index += 1
        items = body.get("items") if isinstance(body, dict) and body.get("kind") == "List" else [body]
        for item in items or []:
            out.append(_check(source, index, item, namespace))
    return out


def _check(source: str, index: int, body: Any, namespace: str) -> Document:
    where = f"{source}, document {index}"
    if not isinstance(body, dict):
        raise UsageError(f"{where}: not a Kubernetes object (a mapping with apiVersion and kind)",
                         hint="fix the manifest")
    api_version, kind = body.get("apiVersion"), body.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str) or not api_version or not kind:
        raise UsageError(f"{where}: apiVersion and kind are required", hint="fix the manifest")
    found = body.get("metadata")
    meta: dict[str, Any] = found if isinstance(found, dict) else {}
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise UsageError(f"{where} ({kind}): metadata.name is required",
                         hint="server-side apply needs a name (generateName is not enough)")
    where = f"{where} ({kind}/{name})"
    if (api_version, kind) not in KINDS:
        if kind in CLUSTER_SCOPED:
            raise UsageError(f"{where}: a {kind} is cluster-scoped; ksi applies manifests into the "
                             f"workload namespace {namespace} only",
                             hint="drop it, or create it from a script with kubectl")
        known = sorted({k for _, k in KINDS})
        raise UsageError(f"{where}: unknown kind {kind} of apiVersion {api_version}",
                         hint=f"ksi applies built-in namespaced kinds ({', '.join(known[:8])}, ...); "
                         "use a script (kubectl apply) for custom resources")
    other = meta.get("namespace")
    if other not in (None, "", namespace):
        raise UsageError(f"{where}: targets namespace {other}; a manifest workload runs in "
                         f"{namespace}", hint="remove metadata.namespace")
    fixed = json.loads(json.dumps(body))  # plain JSON types (YAML dates, ...)
    fixed["metadata"]["namespace"] = namespace
    return Document(source, index, fixed)


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``5m``, ``1h30m`` -> seconds (Go-style units s, m, h)."""
    s = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return float(s)
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|m|s)", s)
    if not parts or "".join(n + u for n, u in parts) != s:
        raise ValueError(f"{text!r} is not a duration (like 90s, 5m, 1h30m)")
    return sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)
