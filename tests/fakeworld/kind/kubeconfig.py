"""kind's kubeconfig handling: which file, the O_EXCL lock, merge on create, removal on delete.

Upstream (kubernetes-sigs/kind v0.29.0) ``pkg/cluster/internal/kubeconfig/internal/kubeconfig/``:
``paths.go`` (``--kubeconfig``, else ``$KUBECONFIG`` list (first existing file, else the last), else
``$HOME/.kube/config``), ``lock.go`` (``<file>.lock`` created with O_EXCL, no retry: ``failed to lock
config file: open X.lock: file exists``), ``merge.go`` (replace-or-append cluster/user/context
``kind-<name>``, set current-context), ``remove.go`` (drop them, clear current-context),
``write.go`` (mode 0600, parent directories 0755), ``encode.go`` (keys sorted as sigs.k8s.io/yaml
writes them; an empty config is written as an empty file).
"""

from __future__ import annotations

import base64
import contextlib
import os
from pathlib import Path
from typing import Any, Iterator

import yaml

from tests.fakeworld.kind.provider import KindError


def key(cluster: str) -> str:
    return f"kind-{cluster}"


def _paths(explicit: str) -> list[str]:
    if explicit:
        return [explicit]
    seen: list[str] = []
    for p in os.environ.get("KUBECONFIG", "").split(os.pathsep):
        if p and p not in seen:
            seen.append(p)
    return seen or [os.path.join(os.environ.get("HOME", ""), ".kube", "config")]


def path_for_merge(explicit: str) -> str:
    paths = _paths(explicit)
    if len(paths) == 1:
        return paths[0]
    return next((p for p in paths if os.path.isfile(p)), paths[-1])


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    Path(path).parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    lock = path + ".lock"
    try:
        os.close(os.open(lock, os.O_CREAT | os.O_EXCL, 0))
    except FileExistsError as e:
        raise KindError(f"failed to lock config file: open {lock}: file exists") from e
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)


def _read(path: str) -> dict[str, Any]:
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return {}
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise KindError(f"yaml: unmarshal errors:\n  line 1: cannot unmarshal !!str into kubeconfig.Config")
    return data


def encode(cfg: dict[str, Any]) -> str:
    cleaned = {k: v for k, v in cfg.items() if v not in (None, "", [])}
    if not cleaned:
        return ""
    return yaml.safe_dump(cleaned, default_flow_style=False, sort_keys=True, width=float("inf"))


def _write(cfg: dict[str, Any], path: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(encode(cfg))


def kind_config(cluster: str, server: str, ca_pem: bytes, cert_pem: bytes, key_pem: bytes) -> dict[str, Any]:
    """What ``kind get kubeconfig`` prints: kubeadm's admin.conf renamed to ``kind-<name>``."""

    def b64(b: bytes) -> str:
        return base64.b64encode(b).decode()

    k = key(cluster)
    return {
        "apiVersion": "v1",
        "clusters": [{"cluster": {"certificate-authority-data": b64(ca_pem), "server": server}, "name": k}],
        "contexts": [{"context": {"cluster": k, "user": k}, "name": k}],
        "current-context": k,
        "kind": "Config",
        "preferences": {},
        "users": [{"name": k, "user": {"client-certificate-data": b64(cert_pem), "client-key-data": b64(key_pem)}}],
    }


def write_merged(kind_cfg: dict[str, Any], explicit: str) -> None:
    path = path_for_merge(explicit)
    with _locked(path):
        existing = _read(path)
        for section in ("clusters", "users", "contexts"):
            entries = list(existing.get(section) or [])
            new = kind_cfg[section][0]
            for i, e in enumerate(entries):
                if e.get("name") == new["name"]:
                    entries[i] = new
                    break
            else:
                entries.append(new)
            existing[section] = entries
        existing["current-context"] = kind_cfg["current-context"]
        if not any(k for k in existing if k not in ("clusters", "users", "contexts", "current-context")):
            existing.update({k: kind_cfg[k] for k in ("apiVersion", "kind", "preferences")})
        _write(existing, path)


def remove(cluster: str, explicit: str) -> None:
    k = key(cluster)
    for path in _paths(explicit):
        with _locked(path):
            existing = _read(path)
            mutated = False
            for section in ("clusters", "users", "contexts"):
                entries = existing.get(section) or []
                kept = [e for e in entries if e.get("name") != k]
                mutated |= len(kept) != len(entries)
                existing[section] = kept
            if existing.get("current-context") == k:
                existing["current-context"] = ""
                mutated = True
            if mutated:
                _write(existing, path)
