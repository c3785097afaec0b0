"""Following what a manifest workload's documents start: one line per pod state change, every
container's log prefixed, a pod that can never start reported at once, and the exit code once
every Job and bare Pod is done (``run``; the rules: ``ksi/manifests/__init__.py``)."""

from __future__ import annotations

import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Mapping, Sequence

from ksi import constants as C
from ksi.errors import Interrupted, KsiError, PhaseTimeout, WorkloadCannotStart
from ksi.manifests.api import Api, ApiFailure, apply
from ksi.manifests.documents import Document
from ksi.signals import Shutdown

POLL_SECONDS = 0.5
#: Waiting reasons after which a container never starts on its own (the kubelet keeps retrying,
#: but nothing in an ephemeral cluster changes the outcome).
NEVER_STARTS = {"ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "CreateContainerConfigError"}


@dataclass
class _Pod:
    state: tuple[str, ...] = ()
    streams: set[tuple[str, int]] = field(default_factory=set)


class Follower:
    """Watches the namespace's pods until the manifests' work is done (see module docstring)."""

    def __init__(self, api: Api, namespace: str, docs: Sequence[Document],
                 say: Callable[[str], object], stdout: IO[str]) -> None:
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
        sched: dict[str, Any] = next((c for c in status.get("conditions") or []
                                      if c.get("type") == "PodScheduled"), {})
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
                stream = (s["name"], int(s.get("restartCount", 0)))
                if stream not in rec.streams:
                    rec.streams.add(stream)
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
        if pod is not None:  # the failed container's own exit code, when one has it
            for s in pod.get("status", {}).get("containerStatuses") or []:
                term = (s.get("state") or {}).get("terminated") or {}
                if term.get("exitCode"):
                    self.say(f"{what}: pod {pod['metadata']['name']} container {s['name']} exited "
                             f"with code {term['exitCode']} ({term.get('reason', 'Error')})")
                    return int(term["exitCode"])
        self.say(what)
        return 1

    def drain(self, timeout: float = 5.0) -> None:
        """Let the log streams of finished containers print their last lines."""
        end = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, end - time.monotonic()))


def run(docs: Sequence[Document], *, env: Mapping[str, str], shutdown: Shutdown,
        say: Callable[[str], object],
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
