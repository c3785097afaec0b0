"""Manifest workloads: ``ksi run job.yaml`` applies Kubernetes manifests and follows what they start.

A workload is a manifest workload when it is ``-`` (stdin; on one node only: under ``srun -N2+``
the task with stdin may not be the leader), a directory (its ``*.yaml``,
``*.yml`` and ``*.json`` files, sorted, not recursive -- like ``kubectl apply -f DIR``) or a file
ending in ``.yaml``/``.yml``/``.json``; its "arguments" are then more of the same.  Anything else
(``.sh`` or no suffix) stays a bash script (``ksi/workload.py``).

Before anything is created (``load``), every document is parsed and checked: it must be a mapping
with ``apiVersion``, ``kind`` and ``metadata.name``, of a namespaced built-in kind ksi knows
(``KINDS``: custom resources and cluster-scoped kinds need a script), and without a namespace or
with the workload namespace.  A bad document is one line naming the file and the document
(``job.yaml, document 2 (Job/hello)``) and the bad-input exit code; nothing is created.

On the leader, in the workload step (``run``), with the workload's own credentials (the token and
kubeconfig a script gets): server-side apply (field manager ``ksi``) of every document into the
workload namespace, first all as a dry run -- so a document the API server rejects creates
nothing -- then for real.  Then ksi follows the namespace's pods:

* one line per pod state change on stderr (``pod/hello-x2b4k: scheduled on node N`` or ``on member
  cluster N`` for a Liqo virtual node, ``pulled IMAGE``, ``running``, ``succeeded``, ``failed``);
* every container's log on stdout, each line prefixed ``[pod/POD/CONTAINER]`` as ``kubectl logs
  --prefix`` does (a restarted container's new log too);
* a pod that can never start (its image cannot be pulled, no node fits it) is reported with its
  reason and the run ends with ``EXIT_CANNOT_RUN`` instead of waiting silently for a time limit.

It ends when every Job has completed or failed and every bare Pod has terminated: exit 0 when all
succeeded, else the exit code of the failed container (one line naming the pod and container; 1
when no container exited non-zero, e.g. a Job's deadline).  Manifests with neither Jobs nor bare
Pods (Deployments, Services, ...) run until Ctrl-C or ``--for DURATION``; with Jobs or Pods,
``--for`` is an upper limit (a timeout).  Ctrl-C, SIGTERM and the job's time limit stop it like a
script.  The work directory is ``/app`` in the nodes, as for scripts (a ``hostPath`` volume).
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterable, Mapping, Sequence

import yaml

from ksi import constants as C
from ksi.errors import (Interrupted, KsiError, PhaseTimeout, UsageError, WorkloadCannotStart,
                        WorkloadNotFound, WorkloadNotRunnable)
from ksi.signals import Shutdown

SUFFIXES = (".yaml", ".yml", ".json")
FIELD_MANAGER = "ksi"
POLL_SECONDS = 0.5
REQUEST_TIMEOUT = 10.0
#: Waiting reasons after which a container never starts on its own (the kubelet keeps retrying,
#: but nothing in an ephemeral cluster changes the outcome).
NEVER_STARTS = {"ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "CreateContainerConfigError"}

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


# --- bad input, before anything is created ------------------------------------------------------


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
    meta = body.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
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


# --- the API, with the workload's own credentials -------------------------------------------------


class Api:
    """Raw JSON requests through the kubernetes client's TLS-verifying, proxy-free connection."""

    def __init__(self, kubeconfig: Path, context: str | None) -> None:
        from ksi.kube import Kube

        self.kube = Kube(kubeconfig, context)

    def close(self) -> None:
        self.kube.close()

    def request(self, method: str, path: str, query: Sequence[tuple[str, str]] = (), body: Any = None,
                ctype: str | None = None, stream: bool = False) -> Any:
        headers = {"Accept": "application/json"}
        if ctype:
            headers["Content-Type"] = ctype
        api = self.kube.api
        m, url, h, b, _ = api.param_serialize(method=method, resource_path=path, query_params=list(query),
                                              header_params=headers, body=body, auth_settings=["BearerToken"])
        timeout = None if stream else REQUEST_TIMEOUT
        resp = api.call_api(m, url, header_params=h, body=b, _request_timeout=timeout)
        if stream and 200 <= resp.status < 300:
            return resp.response
        data = resp.read()
        try:
            obj = json.loads(data) if data else {}
        except ValueError:
            obj = {"message": data.decode(errors="replace").strip()}
        if not 200 <= resp.status < 300:
            raise ApiFailure(resp.status, obj.get("message") or f"HTTP {resp.status}")
        return obj

    def list(self, path: str) -> list[dict[str, Any]]:
        return list(self.request("GET", path).get("items") or [])


class ApiFailure(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def apply(api: Api, docs: Sequence[Document], namespace: str) -> None:
    """Server-side apply of every document: all as a dry run first, so a rejected one creates
    nothing, then for real."""
    for dry in (True, False):
        for d in docs:
            query = [("fieldManager", FIELD_MANAGER), ("force", "true")] + ([("dryRun", "All")] if dry else [])
            try:
                api.request("PATCH", d.path(namespace), query, dict(d.body), "application/apply-patch+yaml")
            except ApiFailure as e:
                raise UsageError(f"{d.where}: the API server refused it: {e.message}",
                                 hint="fix the manifest") from None


# --- following what the manifests start --------------------------------------------------------------


@dataclass
class _Pod:
    state: tuple[str, ...] = ()
    streams: set[tuple[str, int]] = field(default_factory=set)


class Follower:
    """Watches the namespace's pods until the manifests' work is done (see module docstring)."""

    def __init__(self, api: Api, namespace: str, docs: Sequence[Document], say: Any, stdout: IO[str]) -> None:
        self.api, self.ns, self.say, self.stdout = api, namespace, say, stdout
        self.jobs = [d.name for d in docs if d.kind == "Job"]
        self.bare = [d.name for d in docs if d.kind == "Pod"]
        self.pods: dict[str, _Pod] = {}
        self.threads: list[threading.Thread] = []
        self.print_lock = threading.Lock()
        self.virtual: set[str] = set()
        self.pulled: set[str] = set()

    @property
    def finite(self) -> bool:
        return bool(self.jobs or self.bare)

    def poll(self) -> int | None:
        """One look: print what changed; the exit code once everything finite is done."""
        ns = self.ns
        self.virtual = {n["metadata"]["name"] for n in self.api.list("/api/v1/nodes")
                        if (n["metadata"].get("labels") or {}).get("liqo.io/type") == "virtual-node"}
        pods = self.api.list(f"/api/v1/namespaces/{ns}/pods")
        pulls: dict[str, list[tuple[str, str]]] = {}
        for ev in self.api.list(f"/api/v1/namespaces/{ns}/events"):
            inv = ev.get("involvedObject") or {}
            if inv.get("kind") == "Pod" and ev.get("reason") == "Pulled":
                image = re.search(r'image "([^"]+)"', ev.get("message", ""))
                pulls.setdefault(inv.get("uid", ""), []).append(
                    (ev["metadata"]["name"], image.group(1) if image else "the image"))
        for pod in pods:
            self._pod(pod, pulls.get(pod["metadata"]["uid"], []))
        return self._outcome(pods)

    def _pod(self, pod: dict[str, Any], pulls: list[tuple[str, str]]) -> None:
        meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
        name = meta["name"]
        rec = self.pods.setdefault(meta["uid"], _Pod())
        phase = status.get("phase", "Pending")
        node = spec.get("nodeName") or ""
        waiting = [(s["name"], s["state"]["waiting"]) for s in status.get("containerStatuses") or []
                   if (s.get("state") or {}).get("waiting")]
        sched = next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), {})
        state = (node, phase, ",".join(w.get("reason", "") for _, w in waiting))
        old, rec.state = rec.state, state
        if node and (not old or old[0] != node):
            where = f"member cluster {node} (Liqo virtual node)" if node in self.virtual else f"node {node}"
            self.say(f"pod/{name}: scheduled on {where}")
        for key, image in pulls:
            if key not in self.pulled:
                self.pulled.add(key)
                self.say(f"pod/{name}: pulled {image}")
        if phase in ("Running", "Succeeded", "Failed") and (not old or old[1] != phase):
            self.say(f"pod/{name}: {self._describe(pod)}")
        if sched.get("status") == "False" and sched.get("reason") == "Unschedulable":
            raise WorkloadCannotStart(f"pod/{name} cannot be scheduled: {sched.get('message', 'no node fits it')}",
                                      hint="check its nodeSelector, affinity and tolerations against `kubectl get nodes --show-labels`")
        for cname, w in waiting:
            if w.get("reason") in NEVER_STARTS:
                raise WorkloadCannotStart(f"pod/{name} container {cname} cannot start: {w.get('reason')}: "
                                          f"{w.get('message', '')}".rstrip(": "),
                                          hint="check the image name; offline nodes need `ksi run --load-image`")
        for s in status.get("containerStatuses") or []:
            st = s.get("state") or {}
            if "running" in st or "terminated" in st:
                key = (s["name"], int(s.get("restartCount", 0)))
                if key not in rec.streams:
                    rec.streams.add(key)
                    t = threading.Thread(target=self._stream, args=(name, s["name"]), daemon=True)
                    t.start()
                    self.threads.append(t)

    @staticmethod
    def _describe(pod: dict[str, Any]) -> str:
        status = pod.get("status") or {}
        phase = status.get("phase", "")
        if phase == "Running":
            return "running"
        codes = [(s["name"], s["state"]["terminated"]) for s in status.get("containerStatuses") or []
                 if (s.get("state") or {}).get("terminated")]
        detail = ", ".join(f"{c} exit code {t.get('exitCode')}" for c, t in codes)
        return f"{phase.lower()}" + (f" ({detail})" if detail else "")

    def _stream(self, pod: str, container: str) -> None:
        prefix = f"[pod/{pod}/{container}] "
        try:
            resp = self.api.request("GET", f"/api/v1/namespaces/{self.ns}/pods/{pod}/log",
                                    [("container", container), ("follow", "true")], stream=True)
            buf = b""
            for chunk in resp.stream(4096):
                buf += chunk
                *lines, buf = buf.split(b"\n")
                self._print(prefix, lines)
            if buf:
                self._print(prefix, [buf])
        except Exception:  # the pod went away, the stream broke: the state lines tell the story
            return

    def _print(self, prefix: str, lines: list[bytes]) -> None:
        with self.print_lock:
            for line in lines:
                self.stdout.write(prefix + line.decode(errors="replace") + "\n")
            self.stdout.flush()

    def _outcome(self, pods: list[dict[str, Any]]) -> int | None:
        if not self.finite:
            return None
        failures: list[tuple[str, dict[str, Any] | None]] = []
        for job in self.jobs:
            obj = self.api.request("GET", f"/apis/batch/v1/namespaces/{self.ns}/jobs/{job}")
            conds = {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("status") == "True"}
            if "Complete" in conds:
                continue
            if "Failed" not in conds:
                return None
            owned = [p for p in pods if any(r.get("uid") == obj["metadata"]["uid"]
                                             for r in p["metadata"].get("ownerReferences") or [])]
            failed = [p for p in owned if (p.get("status") or {}).get("phase") == "Failed"]
            failures.append((f"job/{job} failed ({conds['Failed'].get('reason', '')})", failed[-1] if failed else None))
        for name in self.bare:
            pod = next((p for p in pods if p["metadata"]["name"] == name), None)
            phase = (pod or {}).get("status", {}).get("phase")
            if pod is None:
                failures.append((f"pod/{name} is gone", None))
            elif phase == "Failed":
                failures.append((f"pod/{name} failed", pod))
            elif phase != "Succeeded":
                return None
        if not failures:
            return 0
        what, pod = failures[0]
        for s in (pod or {}).get("status", {}).get("containerStatuses") or []:
            term = (s.get("state") or {}).get("terminated") or {}
            if term.get("exitCode"):
                self.say(f"{what}: pod {pod['metadata']['name']} container {s['name']} exited with code "
                         f"{term['exitCode']} ({term.get('reason', 'Error')})")
                return int(term["exitCode"])
        self.say(what)
        return 1

    def drain(self, timeout: float = 5.0) -> None:
        """Let the log streams of finished containers print their last lines."""
        end = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, end - time.monotonic()))


def run(docs: Sequence[Document], *, env: Mapping[str, str], shutdown: Shutdown, say: Any,
        deadline: float | None = None, for_seconds: float | None = None,
        stdout: IO[str] | None = None) -> int:
    """Apply ``docs`` with the workload's credentials and follow them; return the exit code."""
    namespace = env.get("KSI_NAMESPACE", C.WORKLOAD_NAMESPACE)
    api = Api(Path(env["KUBECONFIG"]), env.get("K8S_CLUSTER_NAME"))
    started = time.monotonic()
    try:
        apply(api, docs, namespace)
        for d in docs:
            say(f"applied {d.kind.lower()}/{d.name} ({d.source})")
        follower = Follower(api, namespace, docs, say, stdout or sys.stdout)
        if not follower.finite:
            say("no Job or Pod to wait for: running until Ctrl-C" +
                (f" or {for_seconds:g}s (--for)" if for_seconds is not None else ""))
        while True:
            if shutdown.is_set():
                raise Interrupted(shutdown.signum or 15)
            if deadline is not None and time.monotonic() >= deadline:
                raise PhaseTimeout("stopped the manifests' pods: the job's time limit is near, and the "
                                   "clusters must be gone before Slurm kills the step",
                                   hint="ask for more --time, or lower --teardown-margin")
            if for_seconds is not None and time.monotonic() - started >= for_seconds:
                if not follower.finite:
                    say(f"ran for {for_seconds:g}s (--for)")
                    return 0
                raise PhaseTimeout(f"the Jobs and Pods did not finish within --for {for_seconds:g}s",
                                   hint="raise --for")
            try:
                code = follower.poll()
            except ApiFailure as e:
                raise KsiError(f"following the manifests' pods failed: {e.message}") from None
            if code is not None:
                follower.drain()
                return code
            shutdown.wait(POLL_SECONDS)
    finally:
        api.close()
