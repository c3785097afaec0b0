"""The life of workload Pods, Jobs and Deployments in the fake API server: what the scheduler, the
kubelet, the job and deployment controllers of a real cluster do, small and deterministic.

Upstream (kubernetes v1.33): defaulting (``pkg/apis/core/v1/defaults.go``, ``pkg/apis/batch/v1/
defaults.go``, ``pkg/apis/apps/v1/defaults.go``), Job validation (``pkg/apis/batch/validation``:
``spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure",
"Never"``), the job controller (``pkg/controller/job/job_controller.go``: pods named
``<job>-<5>`` with the ``batch.kubernetes.io/controller-uid``/``job-name`` labels, conditions
``SuccessCriteriaMet``+``Complete`` (reason ``CompletionsReached``) and ``FailureTarget``+``Failed``
(``BackoffLimitExceeded``, "Job has reached the specified backoff limit"), events
``SuccessfulCreate``/``Completed``), the deployment controller (one ReplicaSet ``<dep>-<hash>``
labelled ``pod-template-hash``; status ``observedGeneration``/``updatedReplicas``/
``availableReplicas``, conditions ``Available``/``Progressing``), the scheduler (``Scheduled``
"Successfully assigned NS/POD to NODE"; ``FailedScheduling`` "0/N nodes are available: ...
preemption: ..."), the kubelet (``pkg/kubelet/events``: ``Pulling``, ``Pulled``, ``Created``
"Created container: C", ``Started``, ``Failed`` "Error: ErrImagePull", ``BackOff``; waiting
reasons ``ContainerCreating``/``ErrImagePull``/``ImagePullBackOff``; terminated reasons
``Completed``/``Error``/``StartError`` exit 128; pod conditions and phases), container logs
(``pkg/kubelet/kuberuntime/logs``: ``follow``, ``timestamps``, ``tailLines``, ``previous``; the
errors of ``validateContainerLogStatus``).

What a container *does* (the test world controls it; see tests/fakeworld/README.md):

1. ``$KSI_FAKE_ROOT/containers.json`` ``{"unpullable": [image...], "containers": [{"image": REF,
   "command": [argv to match, optional], "run": [argv]}]}``: an image listed as unpullable never
   pulls (as does one in ``KSI_FAKE_MISSING_IMAGES``); a matching entry replaces the container's
   command and args by ``run``;
2. the argv (``command`` + ``args``) runs on the host, in a scratch directory, with the container's
   ``env`` (``fieldRef`` resolved), ``HOSTNAME`` = the pod's name and a ``hostname`` command that
   prints it; a ``hostPath`` volume's ``mountPath`` in the argv, the env or ``workingDir`` is
   replaced by the host directory behind it (kind's ``extraMounts``); stdout and stderr are the
   container's log; an argv whose program does not exist is a ``StartError`` (exit 128), like
   containerd's "executable file not found in $PATH";
   (``args`` without ``command`` run as the argv: the image is taken to have no entrypoint, like
   busybox, whose ``CMD`` they replace);
3. neither ``command`` nor ``args`` (the image's own entrypoint, e.g. nginx): a server that runs
   until deleted.

Each container state is shown for at least ``MIN_STATE_SECONDS`` (the kubelet's 1 s PLEG relist),
so a container that exits at once is still seen Running and Ready once -- on a real node that
window is 0-1 s, which makes ``kubectl wait --for=condition=ready`` on instant pods racy there.
Pods in system namespaces (``kube-*``, ``local-path-storage``, ``liqo*``) are left to
``kubeseed.kubelet`` (marked Running, nothing executed).
"""

from __future__ import annotations

import copy
import ctypes
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

from tests.fakeworld.common import world as fw
from tests.fakeworld.kubeapi.resources import Resource
from tests.fakeworld.kubeapi.store import ApiError, Obj, Store, invalid, not_found

MIN_STATE_SECONDS = 1.0
PULL_SECONDS = 0.1
LIQO_TAINT = "virtual-node.liqo.io/not-allowed"
_SYSTEM_PREFIXES = ("kube-", "liqo")
_SYSTEM_NAMESPACES = {"local-path-storage"}


def managed(namespace: str) -> bool:
    """Whether pods of this namespace live here (the others are kubeseed's system pods)."""
    return not (namespace.startswith(_SYSTEM_PREFIXES) or namespace in _SYSTEM_NAMESPACES)


def _now() -> str:
    return fw.rfc3339()


def normalize_image(ref: str) -> str:
    """``busybox:1.36`` -> ``docker.io/library/busybox:1.36`` (containerd's fully qualified name)."""
    name, digest = (ref.split("@", 1) + [""])[:2]
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = f"docker.io/library/{name}"
    elif "." not in first and ":" not in first and first != "localhost":
        name = f"docker.io/{name}"
    if digest:
        return f"{name}@{digest}"
    if ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return name


def _world_table() -> dict[str, Any]:
    try:
        data = json.loads((fw.root() / "containers.json").read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def unpullable(image: str) -> bool:
    listed = set(_world_table().get("unpullable") or []) | fw.missing_images()
    return image in listed or normalize_image(image) in {normalize_image(i) for i in listed}


_event_lock = threading.Lock()
_last_event_ns = 0

# --- events ------------------------------------------------------------------------------------------


def record_event(store: Store, obj: Obj, type_: str, reason: str, message: str, component: str,
                 host: str = "", field_path: str = "") -> Obj:
    """Create a core/v1 Event about ``obj`` as a controller or kubelet would (public: other
    doubles and tests inject events through it)."""
    res = store.registry.by_group_resource("", "events")
    assert res is not None
    meta = obj["metadata"]
    now = _now()
    involved = {"kind": obj.get("kind", ""), "namespace": meta.get("namespace", ""), "name": meta["name"],
                "uid": meta.get("uid", ""), "apiVersion": obj.get("apiVersion", ""),
                "resourceVersion": meta.get("resourceVersion", "")}
    if field_path:
        involved["fieldPath"] = field_path
    global _last_event_ns
    with _event_lock:  # client-go's recorder names events <object>.<UnixNano in hex>: they list in time order
        _last_event_ns = max(time.time_ns(), _last_event_ns + 1)
        stamp = _last_event_ns
    ev: Obj = {"metadata": {"name": f"{meta['name']}.{stamp:x}", "namespace": meta.get("namespace") or "default"},
          "involvedObject": involved, "reason": reason, "message": message,
          "source": {"component": component, **({"host": host} if host else {})},
          "firstTimestamp": now, "lastTimestamp": now, "count": 1, "type": type_, "eventTime": None,
          "reportingComponent": component, "reportingInstance": host}
    try:
        return store.create(res, ev["metadata"]["namespace"], ev)
    except ApiError:  # the namespace is going away
        return ev


# --- defaulting and validation (what the API server does before storing) ------------------------------


def _default_pod_spec(spec: Obj, restart: str = "Always") -> None:
    spec.setdefault("restartPolicy", restart)
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for c in spec.get("containers") or []:
        image = c.get("image", "")
        tag = image.rsplit("/", 1)[-1]
        latest = "@" not in image and (":" not in tag or tag.endswith(":latest"))
        c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        c.setdefault("resources", {})


def default(res: Resource, namespace: str, body: Obj, store: Store) -> Obj:
    """Defaults and validation of Pods, Jobs, Deployments on create (other kinds untouched)."""
    if not isinstance(body, dict) or not managed(namespace):
        return body
    body = copy.deepcopy(body)
    if (res.group, res.name) == ("", "pods"):
        spec = body.setdefault("spec", {})
        _default_pod_spec(spec)
        spec.setdefault("serviceAccountName", "default")
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("priority", 0)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        tols = spec.setdefault("tolerations", [])
        if _offloaded(store, namespace) and not any(t.get("key") == LIQO_TAINT for t in tols):
            tols.append({"key": LIQO_TAINT, "operator": "Exists"})  # Liqo's webhook
        for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
            if not any(t.get("key") == key for t in tols):
                tols.append({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300})
        body["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
    elif (res.group, res.name) == ("batch", "jobs"):
        spec = body.setdefault("spec", {})
        tmpl = spec.setdefault("template", {})
        _default_pod_spec(tmpl.setdefault("spec", {}))
        name = (body.get("metadata") or {}).get("name", "")
        policy = tmpl["spec"]["restartPolicy"]
        if policy not in ("OnFailure", "Never"):
            raise ApiError(422, "Invalid", f'Job.batch "{name}" is invalid: spec.template.spec.restartPolicy: Unsupported value: '
                           f'"{policy}": supported values: "OnFailure", "Never"',
                           {"name": name, "group": "batch", "kind": "Job", "causes": [{"reason": "FieldValueNotSupported",
                            "message": f'Unsupported value: "{policy}": supported values: "OnFailure", "Never"',
                            "field": "spec.template.spec.restartPolicy"}]})
        for k, v in (("parallelism", 1), ("completions", 1), ("backoffLimit", 6), ("completionMode", "NonIndexed"),
                     ("suspend", False), ("podReplacementPolicy", "TerminatingOrFailed"), ("manualSelector", None)):
            if k not in spec and v is not None:
                spec[k] = v
        body.setdefault("status", {})
    elif (res.group, res.name) == ("apps", "deployments"):
        spec = body.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        spec.setdefault("strategy", {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        _default_pod_spec(spec.setdefault("template", {}).setdefault("spec", {}))
        body.setdefault("status", {})
    return body


def after_create(res: Resource, obj: Obj, store: Store) -> None:
    """Fields the API server sets from the stored object (a Job's selector needs its uid)."""
    if (res.group, res.name) != ("batch", "jobs") or not managed(obj["metadata"].get("namespace", "")):
        return
    spec = obj["spec"]
    if spec.get("selector"):
        return
    uid, name = obj["metadata"]["uid"], obj["metadata"]["name"]
    job_labels = {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                  "controller-uid": uid, "job-name": name}
    fresh = copy.deepcopy(obj)
    fresh["metadata"].pop("resourceVersion", None)
    fresh["spec"]["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    tmeta = fresh["spec"]["template"].setdefault("metadata", {})
    tmeta["labels"] = {**(tmeta.get("labels") or {}), **job_labels}
    store.update(res, obj["metadata"]["namespace"], name, fresh)


def _offloaded(store: Store, namespace: str) -> bool:
    bucket = store.objects.get(("offloading.liqo.io", "namespaceoffloadings"), {})
    return any(ns == namespace for ns, _ in bucket)


# --- the controllers and kubelet ---------------------------------------------------------------------


def _set_pdeathsig() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Life:
    """Reconciles Jobs, Deployments, scheduling; one kubelet thread per running pod."""

    def __init__(self, store: Store, cfg: dict[str, Any], cluster_dir: Path, node_ready: Callable[[str], bool],
                 pod_ip: Callable[[], str]):
        self.store, self.cfg, self.dir = store, cfg, cluster_dir
        self.node_ready, self.pod_ip = node_ready, pod_ip
        self.wake = threading.Event()
        self.lock = threading.Lock()
        self.kubelets: dict[str, threading.Thread] = {}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.counted: dict[str, dict[str, str]] = {}  # job uid -> pod uid -> "succeeded"|"failed"
        self.sched_msgs: dict[str, str] = {}
        self.stopping = False
        store.hooks.append(self._hook)
        self._shim = cluster_dir / "pods" / ".bin"

    def R(self, group: str, name: str) -> Resource:  # noqa: N802 - short: used on every line below
        """A built-in resource (pods, jobs, deployments, ...): always served, so never None."""
        res = self.store.registry.by_group_resource(group, name)
        if res is None:
            raise LookupError(f"kubelife: no built-in resource {group or 'core'}/{name}")
        return res

    def start(self) -> None:
        self._shim.mkdir(parents=True, exist_ok=True)
        hn = self._shim / "hostname"
        hn.write_text('#!/bin/sh\necho "$HOSTNAME"\n')
        hn.chmod(0o755)
        threading.Thread(target=self._loop, daemon=True).start()

    def stop(self) -> None:
        self.stopping = True
        with self.lock:
            procs = list(self.procs.values())
        for p in procs:
            _kill(p)

    def _hook(self, kind: str, res: Resource, obj: Obj) -> None:
        self.wake.set()
        if kind == "DELETED" and (res.group, res.name) == ("", "pods"):
            uid = obj["metadata"].get("uid", "")
            with self.lock:
                procs = [p for k, p in self.procs.items() if k.startswith(uid + "/")]
            for p in procs:
                threading.Thread(target=_kill, args=(p,), daemon=True).start()

    def _loop(self) -> None:
        while not self.stopping:
            self.wake.wait(0.3)
            self.wake.clear()
            try:
                self.reconcile()
            except ApiError:
                pass  # an object went away under us: the next round sees the new state
            except Exception:  # a bug in the double must show in its log, not stop the loop
                import traceback

                traceback.print_exc()

    def reconcile(self) -> None:
        self._collect_garbage()
        for dep in self.store.all("apps", "deployments"):
            if managed(dep["metadata"].get("namespace", "")):
                self._deployment(dep)
        for rs in self.store.all("apps", "replicasets"):
            if managed(rs["metadata"].get("namespace", "")):
                self._replicaset(rs)
        for job in self.store.all("batch", "jobs"):
            if managed(job["metadata"].get("namespace", "")) and job["spec"].get("selector"):
                self._job(job)
        for pod in self.store.all("", "pods"):
            ns = pod["metadata"].get("namespace", "")
            if not managed(ns) or pod["metadata"].get("deletionTimestamp"):
                continue
            if not pod["spec"].get("nodeName"):
                self._schedule(pod)
            elif pod["metadata"]["uid"] not in self.kubelets and pod.get("status", {}).get("phase") == "Pending" \
                    and self.node_ready(pod["spec"]["nodeName"]):
                t = threading.Thread(target=self._kubelet, args=(pod,), daemon=True)
                self.kubelets[pod["metadata"]["uid"]] = t
                t.start()

    def _collect_garbage(self) -> None:
        """Delete what a deleted owner's controller made (the garbage collector, background
        propagation: what ``kubectl delete`` asks by default)."""
        for group, rname in (("apps", "replicasets"), ("", "pods")):
            for obj in self.store.all(group, rname):
                meta = obj["metadata"]
                if not managed(meta.get("namespace", "")):
                    continue
                refs = [r for r in meta.get("ownerReferences") or [] if r.get("controller")]
                if refs and not any(self._exists(meta["namespace"], r) for r in refs):
                    try:
                        self.store.delete(self.R(group, rname), meta["namespace"], meta["name"])
                    except ApiError:
                        pass

    def _exists(self, ns: str, ref: Obj) -> bool:
        group = ref.get("apiVersion", "").rpartition("/")[0]
        res = next((r for r in self.store.registry.resources.values() if r.group == group and r.kind == ref.get("kind")), None)
        obj = self.store.peek(group, res.name, ns, ref.get("name", "")) if res else None
        return obj is not None and obj["metadata"].get("uid") == ref.get("uid")

    # --- owned pods -------------------------------------------------------------------------------
    def _owned_pods(self, owner: Obj) -> list[Obj]:
        uid = owner["metadata"]["uid"]
        return [p for p in self.store.all("", "pods")
                if any(r.get("uid") == uid for r in p["metadata"].get("ownerReferences") or [])]

    def _create_pod(self, owner: Obj, template: Obj, prefix: str, extra_labels: dict[str, str] | None = None) -> Obj:
        meta = copy.deepcopy(template.get("metadata") or {})
        meta.pop("creationTimestamp", None)
        meta["labels"] = {**(meta.get("labels") or {}), **(extra_labels or {})}
        meta["name"] = prefix + _suffix()
        meta["ownerReferences"] = [{"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
                                    "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]
        ns = owner["metadata"]["namespace"]
        pods = self.R("", "pods")
        body = default(pods, ns, {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": copy.deepcopy(template.get("spec") or {})}, self.store)
        pod = self.store.create(pods, ns, body)
        record_event(self.store, owner, "Normal", "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}",
                     "job-controller" if owner["kind"] == "Job" else "replicaset-controller")
        return pod

    def _set_status(self, res: Resource, obj: Obj, status: Obj) -> None:
        if obj.get("status") == status:
            return
        fresh = copy.deepcopy(obj)
        fresh["metadata"].pop("resourceVersion", None)
        fresh["status"] = status
        self.store.update(res, obj["metadata"].get("namespace", ""), obj["metadata"]["name"], fresh, subresource="status")

    # --- Jobs -------------------------------------------------------------------------------------
    def _job(self, job: Obj) -> None:
        status = copy.deepcopy(job.get("status") or {})
        if any(c["type"] in ("Complete", "Failed") and c["status"] == "True" for c in status.get("conditions") or []):
            return
        spec = job["spec"]
        if spec.get("suspend"):
            return
        counted = self.counted.setdefault(job["metadata"]["uid"], {})
        pods = self._owned_pods(job)
        active = []
        restarts = 0
        for p in pods:
            phase = p.get("status", {}).get("phase")
            if phase in ("Succeeded", "Failed"):
                counted.setdefault(p["metadata"]["uid"], phase.lower())
            elif not p["metadata"].get("deletionTimestamp"):
                active.append(p)
                restarts += sum(s.get("restartCount", 0) for s in p.get("status", {}).get("containerStatuses") or [])
        succeeded = sum(1 for v in counted.values() if v == "succeeded")
        failed = sum(1 for v in counted.values() if v == "failed")
        completions, parallelism = int(spec.get("completions") or 1), int(spec.get("parallelism") or 1)
        now = _now()
        status.setdefault("startTime", now)
        jobs = self.R("batch", "jobs")
        if failed + restarts > int(spec.get("backoffLimit", 6)):
            for p in active:
                try:
                    self.store.delete(self.R("", "pods"), p["metadata"]["namespace"], p["metadata"]["name"])
                except ApiError:
                    pass
            msg = "Job has reached the specified backoff limit"
            status["conditions"] = [{"type": t, "status": "True", "lastProbeTime": now, "lastTransitionTime": now,
                                     "reason": "BackoffLimitExceeded", "message": msg} for t in ("FailureTarget", "Failed")]
            status.update(active=0, ready=0, terminating=0, failed=failed, uncountedTerminatedPods={})
            if succeeded:
                status["succeeded"] = succeeded
            self._set_status(jobs, job, status)
            record_event(self.store, job, "Warning", "BackoffLimitExceeded", msg, "job-controller")
            return
        if succeeded >= completions:
            msg = "Reached expected number of succeeded pods"
            status["conditions"] = [{"type": t, "status": "True", "lastProbeTime": now, "lastTransitionTime": now,
                                     "reason": "CompletionsReached", "message": msg} for t in ("SuccessCriteriaMet", "Complete")]
            status.update(active=0, ready=0, terminating=0, succeeded=succeeded, completionTime=now, uncountedTerminatedPods={})
            if failed:
                status["failed"] = failed
            self._set_status(jobs, job, status)
            record_event(self.store, job, "Normal", "Completed", "Job completed", "job-controller")
            return
        want = min(parallelism, completions - succeeded) - len(active)
        labels = {k: v for k, v in (job["spec"]["template"].get("metadata", {}).get("labels") or {}).items()}
        for _ in range(max(0, want)):
            active.append(self._create_pod(job, job["spec"]["template"], f"{job['metadata']['name']}-", labels))
        status["active"] = len(active)
        status["ready"] = sum(1 for p in active if _pod_ready(p))
        status["terminating"] = 0
        status["uncountedTerminatedPods"] = {}
        for k, v in (("succeeded", succeeded), ("failed", failed)):
            if v:
                status[k] = v
        self._set_status(jobs, job, status)

    # --- Deployments -------------------------------------------------------------------------------
    def _deployment(self, dep: Obj) -> None:
        tmpl = dep["spec"].get("template") or {}
        h = hashlib.sha256(json.dumps(tmpl, sort_keys=True).encode()).hexdigest()
        phash = "".join("bcdfghjklmnpqrstvwxz2456789"[int(h[i:i + 2], 16) % 27] for i in range(0, 20, 2))
        rs_name = f"{dep['metadata']['name']}-{phash}"
        ns = dep["metadata"]["namespace"]
        rs_res = self.R("apps", "replicasets")
        rs = self.store.peek("apps", "replicasets", ns, rs_name)
        replicas = int(dep["spec"].get("replicas", 1))
        if rs is None:
            labels = {**(tmpl.get("metadata", {}).get("labels") or {}), "pod-template-hash": phash}
            rs_tmpl = copy.deepcopy(tmpl)
            rs_tmpl.setdefault("metadata", {})["labels"] = labels
            sel = copy.deepcopy(dep["spec"].get("selector") or {"matchLabels": {}})
            sel.setdefault("matchLabels", {})["pod-template-hash"] = phash
            rs = self.store.create(rs_res, ns, {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {
                "name": rs_name, "labels": labels, "annotations": {"deployment.kubernetes.io/revision": "1",
                                                                    "deployment.kubernetes.io/desired-replicas": str(replicas)},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": dep["metadata"]["name"],
                                     "uid": dep["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]},
                "spec": {"replicas": replicas, "selector": sel, "template": rs_tmpl}})
            record_event(self.store, dep, "Normal", "ScalingReplicaSet", f"Scaled up replica set {rs_name} from 0 to {replicas}",
                         "deployment-controller")
        elif rs["spec"].get("replicas") != replicas:
            fresh = copy.deepcopy(rs)
            fresh["metadata"].pop("resourceVersion", None)
            fresh["spec"]["replicas"] = replicas
            self.store.update(rs_res, ns, rs_name, fresh)
        rs_status = rs.get("status") or {}
        ready = int(rs_status.get("readyReplicas", 0))
        now = _now()
        avail = ready >= replicas
        status = {"observedGeneration": dep["metadata"].get("generation", 1), "replicas": int(rs_status.get("replicas", 0)),
                  "updatedReplicas": int(rs_status.get("replicas", 0)), "readyReplicas": ready, "availableReplicas": ready,
                  "conditions": [
                      {"type": "Available", "status": "True" if avail else "False", "lastUpdateTime": now, "lastTransitionTime": now,
                       "reason": "MinimumReplicasAvailable" if avail else "MinimumReplicasUnavailable",
                       "message": "Deployment has minimum availability." if avail else "Deployment does not have minimum availability."},
                      {"type": "Progressing", "status": "True", "lastUpdateTime": now, "lastTransitionTime": now,
                       "reason": "NewReplicaSetAvailable" if avail else "ReplicaSetUpdated",
                       "message": f'ReplicaSet "{rs_name}" has successfully progressed.' if avail else f'ReplicaSet "{rs_name}" is progressing.'}]}
        if not ready:
            for k in ("readyReplicas", "availableReplicas"):
                status.pop(k)
            status["unavailableReplicas"] = replicas
        old = dep.get("status") or {}
        if {k: v for k, v in old.items() if k != "conditions"} != {k: v for k, v in status.items() if k != "conditions"} or \
                [c["status"] for c in old.get("conditions") or []] != [c["status"] for c in status["conditions"]]:
            self._set_status(self.R("apps", "deployments"), dep, status)

    def _replicaset(self, rs: Obj) -> None:
        pods = [p for p in self._owned_pods(rs) if not p["metadata"].get("deletionTimestamp")
                and p.get("status", {}).get("phase") not in ("Succeeded", "Failed")]
        want = int(rs["spec"].get("replicas", 1)) - len(pods)
        for _ in range(max(0, want)):
            pods.append(self._create_pod(rs, rs["spec"]["template"], f"{rs['metadata']['name']}-"))
        ready = sum(1 for p in pods if _pod_ready(p))
        status = {"replicas": len(pods), "fullyLabeledReplicas": len(pods), "observedGeneration": rs["metadata"].get("generation", 1)}
        if ready:
            status.update(readyReplicas=ready, availableReplicas=ready)
        self._set_status(self.R("apps", "replicasets"), rs, status)

    # --- scheduler ---------------------------------------------------------------------------------
    def _schedule(self, pod: Obj) -> None:
        nodes = self.store.all("", "nodes")
        fits: list[str] = []
        reasons: dict[str, int] = {}
        spec = pod["spec"]
        for node in nodes:
            why = self._unfit(spec, node)
            if why:
                reasons[why] = reasons.get(why, 0) + 1
            else:
                fits.append(node["metadata"]["name"])
        meta = pod["metadata"]
        pods_res = self.R("", "pods")
        now = _now()
        if not fits:
            detail = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items()))
            msg = (f"0/{len(nodes)} nodes are available: {detail}. preemption: 0/{len(nodes)} nodes are available: "
                   f"{len(nodes)} Preemption is not helpful for scheduling.")
            if self.sched_msgs.get(meta["uid"]) != msg:
                self.sched_msgs[meta["uid"]] = msg
                status = {**pod.get("status", {}), "phase": "Pending", "conditions": [
                    {"type": "PodScheduled", "status": "False", "lastProbeTime": None, "lastTransitionTime": now,
                     "reason": "Unschedulable", "message": msg}]}
                self._set_status(pods_res, pod, status)
                record_event(self.store, pod, "Warning", "FailedScheduling", msg, "default-scheduler")
            return
        load = {n: 0 for n in fits}
        for p in self.store.all("", "pods"):
            n = p.get("spec", {}).get("nodeName")
            if n in load and managed(p["metadata"].get("namespace", "")) and \
                    p.get("status", {}).get("phase") not in ("Succeeded", "Failed"):
                load[n] += 1
        chosen = min(fits, key=lambda n: (load[n], n))
        fresh = copy.deepcopy(pod)
        fresh["metadata"].pop("resourceVersion", None)
        fresh["spec"]["nodeName"] = chosen
        self.store.update(pods_res, meta["namespace"], meta["name"], fresh)
        bound = self.store.get(pods_res, meta["namespace"], meta["name"])
        status = {**bound.get("status", {}), "conditions": [
            {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now}]}
        self._set_status(pods_res, bound, status)
        record_event(self.store, bound, "Normal", "Scheduled",
                     f"Successfully assigned {meta['namespace']}/{meta['name']} to {chosen}", "default-scheduler")
        self.wake.set()

    def _unfit(self, spec: Obj, node: Obj) -> str:
        labels = node["metadata"].get("labels") or {}
        if node.get("spec", {}).get("unschedulable"):
            return "node(s) were unschedulable"
        taints = list(node.get("spec", {}).get("taints") or [])
        if not self.node_ready(node["metadata"]["name"]):
            taints.append({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"})
        for t in taints:
            if t.get("effect") not in ("NoSchedule", "NoExecute"):
                continue
            if not any(_tolerates(tol, t) for tol in spec.get("tolerations") or []):
                return f"node(s) had untolerated taint {{{t['key']}: {t.get('value', '')}}}"
        if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
            return "node(s) didn't match Pod's node affinity/selector"
        terms = (((spec.get("affinity") or {}).get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms")
        if terms and not any(all(_expr(labels, e) for e in t.get("matchExpressions") or []) for t in terms):
            return "node(s) didn't match Pod's node affinity/selector"
        return ""

    # --- kubelet -----------------------------------------------------------------------------------
    def _kubelet(self, pod: Obj) -> None:
        try:
            Kubelet(self, pod).run()
        except ApiError:
            pass  # the pod was deleted
        except Exception:
            import traceback

            traceback.print_exc()

    def log_dir(self, pod: Obj, container: str) -> Path:
        m = pod["metadata"]
        return self.dir / "pods" / f"{m['namespace']}_{m['name']}_{m['uid']}" / container


def _suffix() -> str:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return "".join(alphabet[b % len(alphabet)] for b in os.urandom(5))


def _tolerates(tol: Obj, taint: Obj) -> bool:
    if tol.get("effect") and tol["effect"] != taint.get("effect"):
        return False
    if not tol.get("key"):
        return tol.get("operator") == "Exists"
    if tol["key"] != taint.get("key"):
        return False
    tolerated: bool = tol.get("operator", "Equal") == "Exists" or tol.get("value", "") == taint.get("value", "")
    return tolerated


def _expr(labels: dict[str, str], e: Obj) -> bool:
    op: str = e.get("operator", "")
    key: str = e.get("key", "")
    values = e.get("values") or []
    return {"In": key in labels and labels[key] in values, "NotIn": labels.get(key) not in values,
            "Exists": key in labels, "DoesNotExist": key not in labels}.get(op, False)


def _pod_ready(pod: Obj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions") or [])


def _kill(proc: subprocess.Popen[bytes], grace: float = 2.0) -> None:
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 1.0)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            pass


class Kubelet:
    """One pod on its node: pull, create, start, run, finish (restart as the policy says)."""

    def __init__(self, life: Life, pod: Obj):
        self.life, self.store = life, life.store
        self.res = life.R("", "pods")
        self.ns, self.name, self.uid = pod["metadata"]["namespace"], pod["metadata"]["name"], pod["metadata"]["uid"]
        self.node = pod["spec"]["nodeName"]
        self.containers = pod["spec"].get("containers") or []
        self.policy = pod["spec"].get("restartPolicy", "Always")
        node = self.store.peek("", "nodes", "", self.node) or {}
        self.host_ip = next((a["address"] for a in node.get("status", {}).get("addresses", []) if a["type"] == "InternalIP"), "")
        self.pod_ip = life.pod_ip()
        self.start_time = _now()

    def pod(self) -> Obj:
        return self.store.get(self.res, self.ns, self.name)

    def alive(self) -> bool:
        p = self.store.peek("", "pods", self.ns, self.name)
        return not self.life.stopping and p is not None and p["metadata"]["uid"] == self.uid and not p["metadata"].get("deletionTimestamp")

    def event(self, type_: str, reason: str, message: str, container: str) -> None:
        record_event(self.store, self.pod(), type_, reason, message, "kubelet", self.node, f"spec.containers{{{container}}}")

    def status(self, phase: str, statuses: list[Obj], ready: bool, reason: str = "") -> None:
        now = _now()
        pod = self.pod()
        old = {c["type"]: c for c in pod.get("status", {}).get("conditions") or []}

        def cond(t: str, ok: bool, why: str = "") -> Obj:
            c = {"type": t, "status": "True" if ok else "False", "lastProbeTime": None,
                 "lastTransitionTime": old[t]["lastTransitionTime"] if t in old and old[t]["status"] == ("True" if ok else "False") else now}
            if why and not ok:
                c["reason"] = why
            return c

        started = phase in ("Running", "Succeeded", "Failed")
        done = phase in ("Succeeded", "Failed")
        conds = [cond("PodReadyToStartContainers", started and not done), cond("Initialized", True),
                 cond("Ready", ready, reason or ("PodCompleted" if done else "ContainersNotReady")),
                 cond("ContainersReady", ready, reason or ("PodCompleted" if done else "ContainersNotReady")),
                 cond("PodScheduled", True)]
        if not ready and not done:
            names = [s["name"] for s in statuses if not s.get("ready")]
            for c in conds[2:4]:
                c["message"] = f"containers with unready status: [{' '.join(names)}]"
        st = {"phase": phase, "conditions": conds, "hostIP": self.host_ip, "hostIPs": [{"ip": self.host_ip}],
              "startTime": self.start_time, "containerStatuses": statuses, "qosClass": "BestEffort"}
        if started:
            st["podIP"] = self.pod_ip
            st["podIPs"] = [{"ip": self.pod_ip}]
        fresh = copy.deepcopy(pod)
        fresh["metadata"].pop("resourceVersion", None)
        fresh["status"] = st
        self.store.update(self.res, self.ns, self.name, fresh, subresource="status")

    def base_status(self, c: Obj, state: Obj, ready: bool = False, restarts: int = 0, last: Obj | None = None) -> Obj:
        s = {"name": c["name"], "state": state, "lastState": last or {}, "ready": ready, "restartCount": restarts,
             "image": c.get("image", ""), "imageID": "", "started": "running" in state}
        if "waiting" not in state:
            s["imageID"] = normalize_image(c.get("image", "")).rsplit(":", 1)[0] + "@sha256:" + hashlib.sha256(c.get("image", "").encode()).hexdigest()
            s["containerID"] = "containerd://" + hashlib.sha256(f"{self.uid}/{c['name']}/{restarts}".encode()).hexdigest()
        return s

    def run(self) -> None:
        waiting = [self.base_status(c, {"waiting": {"reason": "ContainerCreating"}}) for c in self.containers]
        self.status("Pending", waiting, False)
        for i, c in enumerate(self.containers):
            image = c.get("image", "")
            self.event("Normal", "Pulling", f'Pulling image "{image}"', c["name"])
            time.sleep(PULL_SECONDS)
            if unpullable(image):
                ref = normalize_image(image)
                err = (f'failed to pull and unpack image "{ref}": failed to resolve reference "{ref}": pull access denied, '
                       "repository does not exist or may require authorization: server message: insufficient_scope: "
                       "authorization failed")
                self.event("Warning", "Failed", f'Failed to pull image "{image}": {err}', c["name"])
                self.event("Warning", "Failed", "Error: ErrImagePull", c["name"])
                waiting[i] = self.base_status(c, {"waiting": {"reason": "ErrImagePull", "message": err}})
                self.status("Pending", waiting, False)
                time.sleep(MIN_STATE_SECONDS)
                if not self.alive():
                    return
                self.event("Normal", "BackOff", f'Back-off pulling image "{image}"', c["name"])
                self.event("Warning", "Failed", "Error: ImagePullBackOff", c["name"])
                waiting[i] = self.base_status(c, {"waiting": {"reason": "ImagePullBackOff",
                                                              "message": f'Back-off pulling image "{image}": ErrImagePull: {err}'}})
                self.status("Pending", waiting, False)
                while self.alive():
                    time.sleep(0.5)
                return
            self.event("Normal", "Pulled", f'Successfully pulled image "{image}" in {int(PULL_SECONDS * 1000)}ms '
                       f"({int(PULL_SECONDS * 1000)}ms including waiting). Image size: 2156518 bytes.", c["name"])
        restarts = [0] * len(self.containers)
        last: list[Obj] = [{} for _ in self.containers]
        while True:
            outcome = self.run_once(restarts, last)
            if outcome is None:
                return
            codes, statuses = outcome
            again = self.policy == "Always" or (self.policy == "OnFailure" and any(codes))
            if not again:
                phase = "Succeeded" if not any(codes) else "Failed"
                self.status(phase, statuses, False)
                return
            time.sleep(MIN_STATE_SECONDS)
            if not self.alive():
                return
            for i, s in enumerate(statuses):
                last[i] = s["state"]
                restarts[i] += 1

    def run_once(self, restarts: list[int], last: list[Obj]) -> tuple[list[int], list[Obj]] | None:
        """Start every container, wait for all; None when the pod went away."""
        pod = self.pod()
        procs: list[tuple[subprocess.Popen[bytes] | None, float, Obj | None]] = []
        statuses = []
        for i, c in enumerate(self.containers):
            self.event("Normal", "Created", f"Created container: {c['name']}", c["name"])
            proc, failure = self.start(pod, c, restarts[i])
            started = _now()
            if failure:
                self.event("Warning", "Failed", f"Error: {failure}", c["name"])
                term = {"terminated": {"exitCode": 128, "reason": "StartError", "message": failure,
                                       "startedAt": "1970-01-01T00:00:00Z", "finishedAt": started}}
                statuses.append(self.base_status(c, term, restarts=restarts[i], last=last[i]))
                procs.append((None, time.monotonic(), term))
                continue
            self.event("Normal", "Started", f"Started container {c['name']}", c["name"])
            statuses.append(self.base_status(c, {"running": {"startedAt": started}}, ready=True, restarts=restarts[i], last=last[i]))
            procs.append((proc, time.monotonic(), None))
        running = [p for p, _, t in procs if t is None]
        self.status("Running", statuses, bool(running) and len(running) == len(procs))
        codes = [128 if t else 0 for _, _, t in procs]
        pending = {i for i, (p, _, t) in enumerate(procs) if t is None}
        while pending:
            if not self.alive():
                for p, _, _ in procs:
                    if p is not None:
                        _kill(p, 1.0)
                return None
            for i in sorted(pending):
                proc, since, _ = procs[i]
                assert proc is not None
                code = proc.poll()
                if code is None or time.monotonic() - since < MIN_STATE_SECONDS:
                    continue
                pending.discard(i)
                with self.life.lock:
                    self.life.procs.pop(f"{self.uid}/{self.containers[i]['name']}", None)
                code = code if code >= 0 else 128 - code
                codes[i] = code
                c = self.containers[i]
                term = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                       "startedAt": statuses[i]["state"]["running"]["startedAt"], "finishedAt": _now(),
                                       "containerID": statuses[i]["containerID"]}}
                statuses[i] = {**statuses[i], "state": term, "ready": False, "started": False}
                if pending:
                    self.status("Running", statuses, False)
            time.sleep(0.1)
        return codes, statuses

    def start(self, pod: Obj, c: Obj, restart: int) -> tuple[subprocess.Popen[bytes] | None, str]:
        argv = list(c.get("command") or []) + list(c.get("args") or [])
        for entry in _world_table().get("containers") or []:
            if entry.get("image") in (c.get("image"), normalize_image(c.get("image", ""))) and \
                    ("command" not in entry or entry["command"] == argv):
                argv = list(entry.get("run") or [])
                break
        if not argv:
            argv = ["sleep", "infinity"]  # the image's own entrypoint (a server such as nginx): runs until deleted
        mounts = self.host_paths(pod, c)
        env = {"PATH": f"{self.life._shim}:/usr/local/bin:/usr/bin:/bin", "HOSTNAME": self.name, "HOME": "/root"}
        for e in c.get("env") or []:
            if "value" in e:
                env[e["name"]] = _expand(str(e["value"]), env)
            elif (e.get("valueFrom") or {}).get("fieldRef"):
                env[e["name"]] = _field(pod, e["valueFrom"]["fieldRef"].get("fieldPath", ""), self.pod_ip)
        env["HOME"] = "/root"
        argv = [_expand(a, env) for a in argv]
        argv, env = [_map_paths(a, mounts) for a in argv], {k: _map_paths(v, mounts) for k, v in env.items()}
        ldir = self.life.log_dir(pod, c["name"])
        ldir.mkdir(parents=True, exist_ok=True)
        root = ldir / "rootfs"
        root.mkdir(exist_ok=True)
        cwd = _map_paths(c.get("workingDir") or "", mounts)
        cwd = cwd if cwd and os.path.isdir(cwd) else str(root)
        env["HOME"] = str(root)
        prog = argv[0] if argv else ""
        found = shutil.which(prog, path=env["PATH"]) if "/" not in prog else (prog if os.access(prog, os.X_OK) else None)
        if not found:
            return None, ("failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create "
                          "failed: unable to start container process: error during container init: exec: "
                          f'"{prog}": executable file not found in $PATH: unknown')
        log = open(ldir / f"{restart}.log", "ab", buffering=0)  # noqa: SIM115 - closed by the pump
        proc = subprocess.Popen([found, *argv[1:]], env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_set_pdeathsig)
        with self.life.lock:
            self.life.procs[f"{self.uid}/{c['name']}"] = proc
        threading.Thread(target=_pump, args=(proc, log), daemon=True).start()
        return proc, ""

    def host_paths(self, pod: Obj, c: Obj) -> list[tuple[str, str]]:
        """(mountPath in the container, directory on the host) of its hostPath volumes."""
        vols = {v["name"]: v["hostPath"]["path"] for v in pod["spec"].get("volumes") or [] if v.get("hostPath")}
        node: Obj = next((n for n in self.life.cfg.get("nodes", []) if n["name"] == self.node), {})
        out = []
        for m in c.get("volumeMounts") or []:
            path = vols.get(m.get("name", ""))
            if not path:
                continue
            host = None
            for em in node.get("mounts") or []:
                cp = em["containerPath"].rstrip("/")
                if path == cp or path.startswith(cp + "/"):
                    host = em["hostPath"] + path[len(cp):]
            if host is None:  # the node's own filesystem
                host = str(self.life.dir / "nodefs" / self.node / path.lstrip("/"))
                os.makedirs(host, exist_ok=True)
            out.append((m["mountPath"].rstrip("/") or "/", host))
        return sorted(out, key=lambda t: -len(t[0]))


def _pump(proc: subprocess.Popen[bytes], log: Any) -> None:
    assert proc.stdout is not None
    with log:
        for line in iter(proc.stdout.readline, b""):
            tag = b"F" if line.endswith(b"\n") else b"P"
            log.write(fw.rfc3339(nanos=True).encode() + b" stdout " + tag + b" " + line.rstrip(b"\n") + b"\n")


def _expand(s: str, env: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion in command, args and env values (``$$`` escapes)."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), s)


def _map_paths(s: str, mounts: list[tuple[str, str]]) -> str:
    for inside, host in mounts:
        s = re.sub(rf"(?<![\w./-]){re.escape(inside)}(?=/|$|[^\w.-])", lambda _m: host, s)
    return s


def _field(pod: Obj, path: str, ip: str) -> str:
    m = pod["metadata"]
    fields: dict[str, str] = {"metadata.name": m["name"], "metadata.namespace": m["namespace"], "metadata.uid": m["uid"],
            "spec.nodeName": pod["spec"].get("nodeName", ""), "spec.serviceAccountName": pod["spec"].get("serviceAccountName", ""),
            "status.podIP": ip}
    return fields.get(path, "")


# --- logs -------------------------------------------------------------------------------------------


def log_stream(life: Life, res: Resource, ns: str, name: str, query: dict[str, str]) -> Iterator[bytes]:
    """Validate a ``pods/log`` request (raising the API's errors) and return its byte stream."""
    pod = life.store.get(res, ns, name)
    containers = [c["name"] for c in pod["spec"].get("containers") or []]
    container = query.get("container", "")
    if not container:
        if len(containers) != 1:
            raise ApiError(400, "BadRequest", f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]")
        container = containers[0]
    if container not in containers:
        raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {name}")
    if not pod["spec"].get("nodeName"):
        return iter(())
    status = next((s for s in pod.get("status", {}).get("containerStatuses") or [] if s["name"] == container), None)
    waiting = (status or {}).get("state", {}).get("waiting") if status else {"reason": "ContainerCreating"}
    previous = query.get("previous") in ("true", "1")
    if previous:
        if not status or not status.get("lastState", {}).get("terminated"):
            raise ApiError(400, "BadRequest", f'previous terminated container "{container}" in pod "{name}" not found')
        restart = status["restartCount"] - 1
    else:
        if waiting is not None:
            reason = waiting.get("reason", "")
            why = "trying and failing to pull image" if reason in ("ErrImagePull", "ImagePullBackOff") else reason
            raise ApiError(400, "BadRequest", f'container "{container}" in pod "{name}" is waiting to start: {why}')
        restart = status["restartCount"] if status else 0
    path = life.log_dir(pod, container) / f"{restart}.log"
    follow = query.get("follow") in ("true", "1") and not previous
    stamps = query.get("timestamps") in ("true", "1")
    tail = int(query["tailLines"]) if query.get("tailLines", "").lstrip("-").isdigit() else None
    uid = pod["metadata"]["uid"]

    def running() -> bool:
        p = life.store.peek("", "pods", ns, name)
        if p is None or p["metadata"]["uid"] != uid:
            return False
        s: Obj = next((s for s in p.get("status", {}).get("containerStatuses") or [] if s["name"] == container), {})
        return "running" in s.get("state", {}) and s.get("restartCount", 0) == restart

    def lines() -> Iterator[bytes]:
        pos = 0
        first = True
        while True:
            alive = follow and running()  # asked before reading, so the last lines are never missed
            try:
                with open(path, "rb") as f:
                    f.seek(pos)
                    data = f.read()
            except FileNotFoundError:
                data = b""
            complete = data[:data.rfind(b"\n") + 1]
            pos += len(complete)
            out = complete.splitlines()
            if first and tail is not None:
                out = out[-tail:] if tail > 0 else []
            first = False
            for raw in out:
                ts, _, rest = raw.partition(b" ")
                _stream, _, rest = rest.partition(b" ")
                _tag, _, text = rest.partition(b" ")
                yield (ts + b" " if stamps else b"") + text + b"\n"
            if not follow or (not alive and not complete):
                return
            time.sleep(0.1)

    return lines()
