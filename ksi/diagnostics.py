"""Diagnostics kept after the cluster is gone.

When a run fails (a bring-up error, or a workload exiting non-zero), and always with
``--collect-logs``, each member saves, *before* its cluster is deleted, into
``<job dir>/diagnostics/<node>-r<rank>/``:

* ``kind-logs/``      ``kind export logs`` (node journal, containerd and kubelet logs, pod logs);
* ``events.txt``      every Event of the cluster, oldest first;
* ``pods/<ns>_<pod>_<container>.log`` the logs of the pods of the workload's namespace.

Everything is best effort and bounded (``BUDGET`` seconds in all): diagnostics must never keep a
cluster alive past Slurm's grace period, and a failing step is noted in ``errors.txt`` instead of
failing the teardown.  When ksi was stopped by a signal only the fast API parts are saved, within
``QUICK_BUDGET`` seconds.
The files hold no token (kind's logs hold none, and ksi writes none).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ksi import constants as C
from ksi.errors import KsiError
from ksi.kube import Kube, one_line
from ksi.paths import private_dir, write_private
from ksi.plan import RunPlan
from ksi.tools.kind import Kind

BUDGET = 12.0
#: when ksi was stopped by a signal, Slurm's KillWait also has to cover the cluster deletion
QUICK_BUDGET = 3.0


def collect(kind: Kind, plan: RunPlan, out: Path, *, quick: bool = False,
            budget: float | None = None) -> Path:
    """Save what there is to save about ``plan``'s cluster into ``out`` (the member's directory
    from ``JobDir.diagnostics_dir``) within ``budget`` seconds (default ``BUDGET``,
    ``QUICK_BUDGET`` when ``quick``); return it."""
    started = time.monotonic()
    total = budget if budget is not None else (QUICK_BUDGET if quick else BUDGET)
    errors: list[str] = []

    def left() -> float:
        return max(1.0, total - (time.monotonic() - started))

    try:
        _from_api(plan, out, errors, deadline=started + (total if quick else total / 2))
    except Exception as exc:  # noqa: BLE001 - best effort; a broken API is itself the finding
        errors.append(f"API: {one_line(exc)}")
    if not quick:
        try:
            kind.export_logs(plan.cluster_name, out / "kind-logs", timeout=left())
        except KsiError as exc:
            errors.append(f"kind export logs: {exc.message}")
        _make_private(out / "kind-logs")  # kind writes 0644; the job directory is 0700 anyway
    if errors:
        write_private(out / "errors.txt", "\n".join(errors) + "\n")
    return out


def _make_private(root: Path) -> None:
    for path in [root, *root.rglob("*")] if root.exists() else []:
        try:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode & 0o700)
        except OSError:
            pass


def _from_api(plan: RunPlan, out: Path, errors: list[str], deadline: float) -> None:
    kube = Kube(plan.kind_kubeconfig, context=f"kind-{plan.cluster_name}")
    try:
        timeout = max(1.0, deadline - time.monotonic())
        events = kube.events(timeout=timeout)
        events.sort(key=_when)
        write_private(out / "events.txt", "".join(_event_line(e) + "\n" for e in events))
        pods = kube.pods(C.WORKLOAD_NAMESPACE, timeout=timeout)
        if pods:
            pod_dir = private_dir(out / "pods", what="diagnostics directory")
        for pod in pods:
            meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
            pod_name, namespace = meta.get("name"), meta.get("namespace")
            if not pod_name or not namespace:
                continue
            for container in spec.get("containers") or []:
                if time.monotonic() > deadline:
                    errors.append("pod logs: out of time")
                    return
                name = f"{namespace}_{pod_name}_{container.get('name')}.log"
                try:
                    text = kube.logs(namespace, pod_name, str(container.get("name")),
                                     timeout=max(1.0, deadline - time.monotonic()))
                except Exception as exc:  # noqa: BLE001
                    errors.append(f"log of {name}: {one_line(exc)}")
                    continue
                write_private(pod_dir / name, text)
    finally:
        kube.close()


def _when(event: dict[str, Any]) -> str:
    """An Event's time as the API server wrote it (RFC 3339 strings sort in time order)."""
    return str(event.get("lastTimestamp") or event.get("eventTime") or "")


def _event_line(e: dict[str, Any]) -> str:
    obj = e.get("involvedObject") or {}
    return (f"{_when(e)} {e.get('type')} {obj.get('namespace') or '-'}/{obj.get('kind')}/"
            f"{obj.get('name')} {e.get('reason')}: {e.get('message')}")
