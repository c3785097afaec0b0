"""The fake API server's object store: CRUD, selectors, patches, finalizers, watch events.

Upstream (kubernetes v1.33): ``apimachinery/pkg/api/errors`` (Status messages: ``configmaps "x" not
found``, ``... already exists``, ``Operation cannot be fulfilled on ...``, ``X "n" is invalid: ...``),
``apiserver/pkg/registry/generic/registry/store.go`` (resourceVersion, uid, creationTimestamp,
finalizers keep an object with a deletionTimestamp), ``apimachinery/pkg/labels/selector.go``
(label selector syntax), ``apimachinery/pkg/util/validation`` (RFC 1123 name messages).
Merge patches follow RFC 7386; strategic merge patches are approximated by them.
"""

from __future__ import annotations

import builtins
import copy
import re
import threading
import time
import uuid
from collections import deque
from typing import Any, Callable

from tests.fakeworld.common import world as fw
from tests.fakeworld.kubeapi.resources import Registry, Resource

Obj = dict[str, Any]

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
              "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
              "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
                  "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation "
                  "is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
#: resources whose names are DNS-1123 labels rather than subdomains
_LABEL_NAMED = {"namespaces", "services"}
#: RBAC objects are named by path segments (ValidateRBACName = path.IsValidPathSegmentName), which
#: is how kubeadm's "system:discovery" and friends are valid names
_PATH_SEGMENT_NAMED = {"roles", "clusterroles", "rolebindings", "clusterrolebindings"}
#: DELETE answers with the object (graceful deletion) instead of a Status
_DELETE_RETURNS_OBJECT = {"namespaces", "pods"}


class ApiError(Exception):
    """A failure the API server answers with a ``Status`` object."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> Obj:
        out: Obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": self.message, "reason": self.reason}
        if self.details is not None:
            out["details"] = self.details
        out["code"] = self.code
        return out


def _details(res: Resource, name: str) -> dict[str, Any]:
    d: dict[str, Any] = {"name": name}
    if res.group:
        d["group"] = res.group
    d["kind"] = res.name
    return d


def not_found(res: Resource, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{res.qualified} "{name}" not found', _details(res, name))


def invalid(res: Resource, name: str, field: str, value: Any, detail: str, kind: str | None = None) -> ApiError:
    shown = f'"{value}"' if isinstance(value, str) else str(value)
    group = f".{res.group}" if res.group else ""
    msg = f'{kind or res.kind}{group} "{name}" is invalid: {field}: Invalid value: {shown}: {detail}'
    details = _details(res, name)
    details["kind"] = kind or res.kind
    details["causes"] = [{"reason": "FieldValueInvalid", "message": f"Invalid value: {shown}: {detail}", "field": field}]
    return ApiError(422, "Invalid", msg, details)


# --- selectors ---------------------------------------------------------------------------------------

_REQ = re.compile(r"\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9_.-]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*")


def parse_label_selector(text: str) -> list[tuple[str, str, set[str]]]:
    """``a=b,c!=d,e in (x,y),f notin (z),g,!h`` -> [(key, op, values)]."""
    reqs, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _REQ.match(text, pos)
        if not m or m.end() == pos:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: found '{text[pos:pos + 1]}', expected: identifier")
        neg, key, op, value, setop, values = m.groups()
        if op:
            reqs.append((key, "!=" if op == "!=" else "=", {value}))
        elif setop:
            reqs.append((key, setop, {v.strip() for v in values.split(",") if v.strip()}))
        else:
            reqs.append((key, "!" if neg else "exists", set()))
        pos = m.end()
        if pos < len(text):
            if text[pos] != ",":
                raise ApiError(400, "BadRequest", f"unable to parse requirement: found '{text[pos]}', expected: ','")
            pos += 1
    return reqs


def labels_match(labels: dict[str, str], reqs: list[tuple[str, str, set[str]]]) -> bool:
    for key, op, values in reqs:
        has, value = key in labels, labels.get(key)
        ok = {
            "=": has and value in values, "in": has and value in values,
            "!=": not has or value not in values, "notin": not has or value not in values,
            "exists": has, "!": not has,
        }[op]
        if not ok:
            return False
    return True


_FIELDS = {"pods": {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName", "status.phase", "status.podIP"},
           "events": {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid", "reason", "type", "source"},
           "secrets": {"type"}, "nodes": {"spec.unschedulable"}, "namespaces": {"status.phase"}}


def parse_field_selector(res: Resource, text: str) -> list[tuple[str, bool, str]]:
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        m = re.fullmatch(r"([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*)", part)
        if not m:
            raise ApiError(400, "BadRequest", f"invalid selector: '{text}'; can't understand '{part}'")
        key = m.group(1)
        if key not in ("metadata.name", "metadata.namespace") and key not in _FIELDS.get(res.name, set()):
            raise ApiError(400, "BadRequest", f'field label not supported: {key}')
        out.append((key, m.group(2) != "!=", m.group(3)))
    return out


def _dig(obj: Obj, path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    return "" if cur is None else str(cur).lower() if isinstance(cur, bool) else str(cur)


# --- patches -------------------------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


def json_patch(doc: Any, ops: list[dict[str, Any]]) -> Any:
    """RFC 6902 (add, remove, replace, test, copy, move)."""
    doc = copy.deepcopy(doc)

    def walk(path: str) -> tuple[Any, str]:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]
        cur = doc
        for p in parts[:-1]:
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        return cur, parts[-1]

    for op in ops:
        try:
            kind = op["op"]
            if kind in ("copy", "move"):
                src, key = walk(op["from"])
                value = copy.deepcopy(src[int(key)] if isinstance(src, list) else src[key])
                if kind == "move":
                    del src[int(key) if isinstance(src, list) else key]
                op = {"op": "add", "path": op["path"], "value": value}
                kind = "add"
            parent, key = walk(op["path"])
            if kind == "test":
                actual = parent[int(key)] if isinstance(parent, list) else parent[key]
                if actual != op["value"]:
                    raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: testing value {op['path']} failed")
            elif isinstance(parent, list):
                idx = len(parent) if key == "-" else int(key)
                if kind == "add":
                    parent.insert(idx, op["value"])
                elif kind == "remove":
                    del parent[idx]
                else:
                    parent[idx] = op["value"]
            elif kind == "remove":
                del parent[key]
            elif kind == "replace" and key not in parent:
                raise KeyError(key)
            else:
                parent[key] = op["value"]
        except (KeyError, IndexError, ValueError, TypeError) as e:
            raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: {e}") from e
    return doc


# --- the store ------------------------------------------------------------------------------------------


class Store:
    """All objects of one cluster, keyed by (group, resource) then (namespace, name)."""

    def __init__(self, registry: Registry, on_change: Callable[[], None] | None = None):
        self.registry = registry
        self.objects: dict[tuple[str, str], dict[tuple[str, str], Obj]] = {}
        self.rv = 1000
        self.cond = threading.Condition(threading.RLock())
        self.events: deque[tuple[int, str, str, str, Obj]] = deque(maxlen=5000)
        self.on_change = on_change
        self.hooks: list[Callable[[str, Resource, Obj], None]] = []

    # low level
    def _bucket(self, res: Resource) -> dict[tuple[str, str], Obj]:
        return self.objects.setdefault((res.group, res.name), {})

    def _emit(self, kind: str, res: Resource, obj: Obj) -> None:
        self.events.append((self.rv, res.group, res.name, kind, copy.deepcopy(obj)))
        self.cond.notify_all()
        for hook in self.hooks:
            hook(kind, res, obj)
        if self.on_change:
            self.on_change()

    def _bump(self, obj: Obj) -> None:
        self.rv += 1
        obj.setdefault("metadata", {})["resourceVersion"] = str(self.rv)

    def peek(self, group: str, resource: str, namespace: str, name: str) -> Obj | None:
        with self.cond:
            return self.objects.get((group, resource), {}).get((namespace, name))

    def all(self, group: str, resource: str) -> list[Obj]:
        with self.cond:
            return list(self.objects.get((group, resource), {}).values())

    # API verbs
    def create(self, res: Resource, namespace: str, obj: Obj) -> Obj:
        with self.cond:
            obj = copy.deepcopy(obj)
            meta = obj.setdefault("metadata", {})
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            name = meta.get("name", "")
            if not name:
                raise ApiError(422, "Invalid", f"{res.kind} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                               {"kind": res.kind, "causes": [{"reason": "FieldValueRequired", "message": "Required value: name or generateName is required", "field": "metadata.name"}]})
            rx, msg = (_DNS1123_LABEL, _LABEL_MSG) if res.name in _LABEL_NAMED else (_DNS1123_SUBDOMAIN, _SUBDOMAIN_MSG)
            if res.origin == "builtin" and res.name in _PATH_SEGMENT_NAMED:
                bad = [c for c in ("/", "%") if c in name]
                if name in (".", ".."):
                    raise invalid(res, name, "metadata.name", name, f'may not be \'{name}\'')
                if bad:
                    raise invalid(res, name, "metadata.name", name, f"may not contain '{bad[0]}'")
            elif res.origin == "builtin" and (not rx.match(name) or len(name) > (63 if res.name in _LABEL_NAMED else 253)):
                raise invalid(res, name, "metadata.name", name, msg)
            if res.namespaced:
                if meta.get("namespace") and meta["namespace"] != namespace:
                    raise ApiError(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request")
                if self.peek("", "namespaces", "", namespace) is None:
                    ns_res = self.registry.get("", "v1", "namespaces")
                    assert ns_res is not None
                    raise not_found(ns_res, namespace)
                meta["namespace"] = namespace
            else:
                meta.pop("namespace", None)
            key = (namespace if res.namespaced else "", name)
            if key in self._bucket(res):
                raise ApiError(409, "AlreadyExists", f'{res.qualified} "{name}" already exists', _details(res, name))
            obj["apiVersion"], obj["kind"] = res.group_version, obj.get("kind") or res.kind
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = fw.rfc3339()
            meta.pop("deletionTimestamp", None)
            if "spec" in obj and res.group:
                meta["generation"] = 1
            self._bump(obj)
            self._bucket(res)[key] = obj
            self._emit("ADDED", res, obj)
            return copy.deepcopy(obj)

    def get(self, res: Resource, namespace: str, name: str) -> Obj:
        with self.cond:
            obj = self._bucket(res).get((namespace if res.namespaced else "", name))
            if obj is None:
                raise not_found(res, name)
            return copy.deepcopy(obj)

    def list(self, res: Resource, namespace: str, label_selector: str = "", field_selector: str = "") -> tuple[list[Obj], str]:
        lreqs = parse_label_selector(label_selector) if label_selector else []
        freqs = parse_field_selector(res, field_selector) if field_selector else []
        with self.cond:
            items = [copy.deepcopy(o) for (ns, _), o in sorted(self._bucket(res).items())
                     if (not namespace or ns == namespace) and self.matches(o, lreqs, freqs)]
            return items, str(self.rv)

    @staticmethod
    def matches(obj: Obj, lreqs: builtins.list[tuple[str, str, set[str]]], freqs: builtins.list[tuple[str, bool, str]]) -> bool:
        if not labels_match(obj.get("metadata", {}).get("labels") or {}, lreqs):
            return False
        return all((_dig(obj, k) == v) == eq for k, eq, v in freqs)

    def update(self, res: Resource, namespace: str, name: str, obj: Obj, subresource: str = "") -> Obj:
        with self.cond:
            key = (namespace if res.namespaced else "", name)
            old = self._bucket(res).get(key)
            if old is None:
                raise not_found(res, name)
            obj = copy.deepcopy(obj)
            meta = obj.setdefault("metadata", {})
            if meta.get("name", name) != name:
                raise ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")
            rv = meta.get("resourceVersion")
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {res.qualified} "{name}": the object has been '
                               "modified; please apply your changes to the latest version and try again", _details(res, name))
            if subresource == "status":
                new = copy.deepcopy(old)
                new["status"] = obj.get("status")
                obj = new
            elif "status" in res.subresources and "status" in old:
                obj["status"] = old["status"]
            for k in ("uid", "creationTimestamp", "deletionTimestamp", "namespace"):
                if k in old["metadata"]:
                    obj["metadata"][k] = old["metadata"][k]
                else:
                    obj["metadata"].pop(k, None)
            obj["metadata"]["name"] = name
            obj["apiVersion"], obj["kind"] = old["apiVersion"], old["kind"]
            if "generation" in old["metadata"]:
                changed = obj.get("spec") != old.get("spec")
                obj["metadata"]["generation"] = old["metadata"]["generation"] + (1 if changed else 0)
            if obj == old:
                return copy.deepcopy(old)
            if old["metadata"].get("deletionTimestamp") and not obj["metadata"].get("finalizers"):
                del self._bucket(res)[key]
                self._bump(obj)
                self._emit("DELETED", res, obj)
                return copy.deepcopy(obj)
            self._bump(obj)
            self._bucket(res)[key] = obj
            self._emit("MODIFIED", res, obj)
            return copy.deepcopy(obj)

    def delete(self, res: Resource, namespace: str, name: str) -> Obj:
        """Delete (or mark for deletion when finalizers remain); returns the object or a Status."""
        with self.cond:
            key = (namespace if res.namespaced else "", name)
            obj = self._bucket(res).get(key)
            if obj is None:
                raise not_found(res, name)
            if obj["metadata"].get("finalizers") and res.name != "namespaces":
                if not obj["metadata"].get("deletionTimestamp"):
                    obj["metadata"]["deletionTimestamp"] = fw.rfc3339()
                    obj["metadata"]["deletionGracePeriodSeconds"] = 0
                    self._bump(obj)
                    self._emit("MODIFIED", res, obj)
                return copy.deepcopy(obj)
            del self._bucket(res)[key]
            if res.name == "namespaces":
                for (group, rname), bucket in list(self.objects.items()):
                    for k in [k for k in bucket if k[0] == name]:
                        inner = self.registry.by_group_resource(group, rname)
                        gone = bucket.pop(k)
                        if inner is not None:
                            self._emit("DELETED", inner, gone)
                obj["status"] = {"phase": "Terminating"}
                obj["metadata"]["deletionTimestamp"] = fw.rfc3339()
            self._bump(obj)
            self._emit("DELETED", res, obj)
            if res.name in _DELETE_RETURNS_OBJECT:
                return copy.deepcopy(obj)
            return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                    "details": {**_details(res, name), "uid": obj["metadata"]["uid"]}}

    def wait_events(self, after: int, timeout: float) -> builtins.list[tuple[int, str, str, str, Obj]]:
        """Events newer than resourceVersion ``after`` (blocks up to ``timeout`` for the first)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                fresh = [e for e in self.events if e[0] > after]
                if fresh:
                    return fresh
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self.cond.wait(left)
