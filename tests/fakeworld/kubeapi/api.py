"""HTTP front of the fake Kubernetes API server: routing, discovery, verbs, TokenRequest, watch.

Upstream (kubernetes v1.33): ``apiserver/pkg/endpoints`` (paths ``/api/v1[/namespaces/NS]/RES[/NAME
[/SUB]]`` and ``/apis/G/V/...``; verbs get/list/watch/create/update/patch/delete/deletecollection;
``Status`` bodies), ``pkg/registry/core/serviceaccount/storage/token.go`` (TokenRequest: 201 with
``status.token`` and ``status.expirationTimestamp``; default 3600 s;
``pkg/apis/authentication/validation``: ``may not specify a duration less than 10 minutes``),
``pkg/registry/core/namespace`` (``this namespace may not be deleted``), discovery documents
(``APIVersions``, ``APIGroupList``, ``APIResourceList``), ``/version``, ``/healthz``, ``/livez``,
``/readyz``, and the OpenAPI v3 index kubectl checks before it sends ``fieldValidation``.
"""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from tests.fakeworld.kubeapi import proto as kubeproto

from tests.fakeworld.kubeapi import auth as ka
from tests.fakeworld.kubeapi import life as kubelife
from tests.fakeworld.kubeapi import resources as kr
from tests.fakeworld.kubeapi import seed as kubeseed
from tests.fakeworld.kubeapi import tables as kubetables
from tests.fakeworld.kubeapi.store import ApiError, Obj, Store, json_patch, merge_patch, not_found

PROTECTED_NAMESPACES = {"default", "kube-system", "kube-public"}


class Cluster:
    """Everything one API server serves; shared by the handler threads."""

    def __init__(self, cfg: dict[str, Any], ca_pem: str, store: Store, log: Any):
        self.cfg, self.ca_pem, self.store, self.log = cfg, ca_pem, store, log
        self.registry = store.registry
        self.key = bytes.fromhex(cfg["tokenKey"])
        self.next_pod_ip = 10
        self.life: kubelife.Life | None = None  # set by the node once the cluster serves

    def version(self) -> Obj:
        v = self.cfg["kubernetesVersion"]
        major, minor = v.lstrip("v").split(".")[:2]
        return {"major": major, "minor": minor, "emulationMajor": major, "emulationMinor": minor,
                "minCompatibilityMajor": major, "minCompatibilityMinor": str(int(minor) - 1), "gitVersion": v,
                "gitCommit": "8adc0f041b8e7ad1d30e29cc59c6ae7a15e19828", "gitTreeState": "clean",
                "buildDate": "2025-05-15T08:19:08Z", "goVersion": "go1.24.2", "compiler": "gc", "platform": "linux/amd64"}

    def node_ready(self, name: str) -> bool:
        node = self.store.peek("", "nodes", "", name)
        conds = (node or {}).get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)

    def pod_ip(self) -> str:
        self.next_pod_ip += 1
        base = self.cfg["podSubnet"].split(",")[0].rsplit(".", 2)[0]
        return f"{base}.0.{self.next_pod_ip % 250 + 2}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-kube-apiserver"
    cluster: Cluster  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        self.cluster.log(f"{self.address_string()} {format % args}")

    # --- plumbing ---------------------------------------------------------------------------------
    def _send(self, code: int, body: Any, ctype: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else (json.dumps(body) if ctype == "application/json" else str(body)).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    _cached_body: Any  # set by _body, dropped per request

    def _body(self) -> Any:
        if hasattr(self, "_cached_body"):
            return self._cached_body
        self._cached_body = self._read_body()
        return self._cached_body

    def _read_body(self) -> Any:
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if not raw:
            return {}
        ctype = self.headers.get("Content-Type", "")
        try:
            if ctype.split(";")[0].strip() == kubeproto.PROTOBUF:
                return kubeproto.decode(raw)
            return yaml.safe_load(raw) if "yaml" in ctype else json.loads(raw)
        except (ValueError, yaml.YAMLError) as e:
            raise ApiError(400, "BadRequest", f"the object provided is unrecognized: {e}") from e

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._handle("GET")

    def do_HEAD(self) -> None:  # noqa: N802
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")

    def do_PATCH(self) -> None:  # noqa: N802
        self._handle("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        self.__dict__.pop("_cached_body", None)
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        path = url.path.rstrip("/") or "/"
        try:
            cert = self.connection.getpeercert() if hasattr(self.connection, "getpeercert") else None
            user = ka.authenticate(self.cluster.store, self.cluster.key, cert, self.headers.get("Authorization", ""))
            self.user = user
            if method == "DELETE":
                self._body()  # DeleteOptions: read it, or it would be taken for the next request
            self._route(method, path, query)
        except ApiError as e:
            if e.code == 404 and e.reason == "":
                self._send(404, "404 page not found\n", "text/plain; charset=utf-8")
            else:
                self._send(e.code, e.status())
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _authorize(self, a: ka.Attributes, qualified: str = "") -> None:
        if ka.authorize(self.cluster.store, self.user, a) is None:
            raise ka.forbidden(self.user, a, qualified or a.resource)

    # --- routing ------------------------------------------------------------------------------------
    def _route(self, method: str, path: str, query: dict[str, str]) -> None:
        c = self.cluster
        parts = [p for p in path.split("/") if p]
        if (path in ("/healthz", "/livez", "/readyz", "/version", "/api", "/api/v1", "/apis") or parts[:1] == ["openapi"]
                or (parts[:1] == ["apis"] and len(parts) in (2, 3))):
            self._authorize(ka.Attributes("get", path=path))
            return self._discovery(path, parts)
        if parts[:1] == ["api"] and len(parts) >= 3:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "", "")
        namespace = ""
        if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
            namespace, rest = rest[1], rest[2:]
        resource, name, sub = rest[0], rest[1] if len(rest) > 1 else "", rest[2] if len(rest) > 2 else ""
        res = c.registry.get(group, version, resource)
        if res is None:
            if not c.registry.known_group_version(group, version) and not group:
                raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
            body = self._body() if method in ("POST", "PUT") else {}
            kind = body.get("kind", "") if isinstance(body, dict) else ""
            res = c.registry.add_generic(group, version, resource, bool(namespace), kind)
        verb = {"GET": "get" if name else ("watch" if query.get("watch") in ("1", "true") else "list"), "POST": "create",
                "PUT": "update", "PATCH": "patch", "DELETE": "delete" if name else "deletecollection"}[method]
        if sub and method == "GET" and sub not in ("status", "log", "scale"):
            verb = "get"
        self._authorize(ka.Attributes(verb, group, resource, sub, namespace, name), res.qualified)
        if sub == "token" and resource == "serviceaccounts" and method == "POST":
            return self._token_request(res, namespace, name)
        if method == "POST" and resource in ("selfsubjectaccessreviews", "selfsubjectreviews", "tokenreviews", "subjectaccessreviews"):
            return self._review(res, self._body())
        if sub and sub not in ("status", "finalize", "scale"):
            if sub == "log" and method == "GET":
                return self._log(res, namespace, name, query)
            raise ApiError(400, "BadRequest", "Upgrade request required")
        self._verb(method, res, namespace, name, sub, query)

    def _discovery(self, path: str, parts: list[str]) -> None:
        c = self.cluster
        if path in ("/healthz", "/livez", "/readyz"):
            return self._send(200, "ok", "text/plain; charset=utf-8")
        if path == "/version":
            return self._send(200, c.version())
        if path == "/api":
            return self._send(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": f"{c.cfg['nodes'][0]['ip']}:6443"}]})
        if path == "/api/v1":
            return self._send(200, kr.api_resource_list(c.registry, "", "v1"))
        if path == "/apis":
            return self._send(200, kr.api_group_list(c.registry))
        if parts[0] == "apis" and len(parts) == 2 and parts[1] in c.registry.group_versions():
            return self._send(200, {"kind": "APIGroup", "apiVersion": "v1", **kr.api_group(c.registry, parts[1])})
        if parts[0] == "apis" and len(parts) == 3 and c.registry.known_group_version(parts[1], parts[2]):
            return self._send(200, kr.api_resource_list(c.registry, parts[1], parts[2]))
        if path == "/openapi/v3":
            paths = {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=0"}}
            for g, versions in c.registry.group_versions().items():
                for v in versions:
                    paths[f"apis/{g}/{v}"] = {"serverRelativeURL": f"/openapi/v3/apis/{g}/{v}?hash=0"}
            return self._send(200, {"paths": paths})
        if parts[0] == "openapi" and len(parts) > 2 and parts[1] == "v3":
            return self._send(200, self._openapi_v3(parts[2:]))
        raise ApiError(404, "", "")

    def _openapi_v3(self, gv_parts: list[str]) -> Obj:
        """Just enough for kubectl to see that POST/PUT/PATCH accept ``fieldValidation``."""
        group, version = ("", gv_parts[1]) if gv_parts[0] == "api" else (gv_parts[1], gv_parts[2])
        param = {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True}}
        paths: dict[str, Any] = {}
        for r in self.cluster.registry.in_group_version(group, version):
            prefix = "/api/v1" if not group else f"/apis/{group}/{version}"
            coll = f"{prefix}/namespaces/{{namespace}}/{r.name}" if r.namespaced else f"{prefix}/{r.name}"
            gvk = {"group": group, "version": version, "kind": r.kind}
            op = {"parameters": [param], "x-kubernetes-group-version-kind": gvk, "responses": {}}
            paths[coll] = {"post": op}
            paths[coll + "/{name}"] = {"put": op, "patch": op}
        return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": self.cluster.cfg["kubernetesVersion"]},
                "paths": paths, "components": {"schemas": {}}}

    # --- verbs --------------------------------------------------------------------------------------
    def _verb(self, method: str, res: kr.Resource, ns: str, name: str, sub: str, query: dict[str, str]) -> None:
        c = self.cluster
        store = c.store
        if method == "GET" and not name:
            if query.get("watch") in ("1", "true"):
                return self._watch(res, ns, query)
            items, rv = store.list(res, ns, query.get("labelSelector", ""), query.get("fieldSelector", ""))
            return self._reply_objects(res, items, rv, single=False, query=query)
        if method == "GET":
            obj = store.get(res, ns, name)
            return self._reply_objects(res, [obj], obj["metadata"]["resourceVersion"], single=True, query=query)
        if method == "POST":
            if name:
                raise ApiError(405, "MethodNotAllowed", f"the server does not allow this method on the requested resource", {})
            body = self._body()
            if res.name == "namespaces" and not query.get("dryRun"):
                return self._send(201, kubeseed.create_namespace(store, body.get("metadata", {}).get("name", ""), c.ca_pem, body))
            if query.get("dryRun"):
                return self._send(201, body)
            obj = store.create(res, ns, kubelife.default(res, ns, body, store))
            kubelife.after_create(res, obj, store)
            self._after_write(res, obj)
            return self._send(201, store.get(res, ns, obj["metadata"]["name"]))
        if method == "PUT":
            obj = store.update(res, ns, name, self._body(), subresource=sub if sub == "status" else "")
            self._after_write(res, obj)
            return self._send(200, obj)
        if method == "PATCH":
            return self._patch(res, ns, name, sub, query)
        if method == "DELETE" and not name:
            items, _ = store.list(res, ns, query.get("labelSelector", ""), query.get("fieldSelector", ""))
            for item in items:
                store.delete(res, ns, item["metadata"]["name"])
            return self._send(200, {"kind": f"{res.kind}List", "apiVersion": res.group_version, "metadata": {}, "items": items})
        if res.name == "namespaces" and name in PROTECTED_NAMESPACES:
            raise ApiError(403, "Forbidden", f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                           {"name": name, "kind": "namespaces"})
        old = store.get(res, ns, name)
        result = store.delete(res, ns, name)
        if res.name == "customresourcedefinitions":
            c.registry.remove_crd(old)
        self._send(200, result)

    def _patch(self, res: kr.Resource, ns: str, name: str, sub: str, query: dict[str, str]) -> None:
        store = self.cluster.store
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
        body = self._body()
        if ctype == "application/apply-patch+yaml":
            if not query.get("fieldManager"):
                raise ApiError(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch')
            if query.get("dryRun"):  # validated and defaulted as for real, never stored
                body.setdefault("metadata", {})["name"] = name
                current = store.peek(res.group, res.name, ns if res.namespaced else "", name)
                return self._send(200 if current else 201, kubelife.default(res, ns, merge_patch(current or {}, body), store))
            if store.peek(res.group, res.name, ns if res.namespaced else "", name) is None:
                body.setdefault("metadata", {})["name"] = name
                obj = store.create(res, ns, kubelife.default(res, ns, body, store))
                kubelife.after_create(res, obj, store)
                self._after_write(res, obj)
                return self._send(201, store.get(res, ns, name))
        current = store.get(res, ns, name)
        if ctype in ("application/merge-patch+json", "application/strategic-merge-patch+json", "application/apply-patch+yaml"):
            new = merge_patch(current, body)
        elif ctype == "application/json-patch+json":
            new = json_patch(current, body if isinstance(body, list) else [])
        else:
            raise ApiError(415, "UnsupportedMediaType", f'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json', {})
        if isinstance(body, dict) and "resourceVersion" not in (body.get("metadata") or {}):
            new.setdefault("metadata", {}).pop("resourceVersion", None)
        obj = store.update(res, ns, name, new, subresource="status" if sub == "status" else "")
        self._after_write(res, obj)
        self._send(200, obj)

    def _after_write(self, res: kr.Resource, obj: Obj) -> None:
        c = self.cluster
        if res.name == "customresourcedefinitions" and res.group == "apiextensions.k8s.io":
            c.registry.add_crd(obj)
            names = obj.get("spec", {}).get("names", {})
            status = {"acceptedNames": names, "storedVersions": [v["name"] for v in obj.get("spec", {}).get("versions", []) if v.get("storage")],
                      "conditions": [{"type": t, "status": "True", "reason": r, "message": m, "lastTransitionTime": obj["metadata"]["creationTimestamp"]}
                                     for t, r, m in (("NamesAccepted", "NoConflicts", "no conflicts found"),
                                                     ("Established", "InitialNamesAccepted", "the initial names have been accepted"))]}
            if obj.get("status") != status:
                fresh = c.store.get(res, "", obj["metadata"]["name"])
                fresh["status"] = status
                c.store.update(res, "", obj["metadata"]["name"], fresh, subresource="status")
        if res.name == "pods" and not res.group:
            kubeseed.kubelet(c.store, c.node_ready, c.pod_ip)
        if c.life is not None:
            c.life.wake.set()

    def _log(self, res: kr.Resource, ns: str, name: str, query: dict[str, str]) -> None:
        """``pods/NAME/log``: the container's output, streamed (chunked) while ``follow``."""
        c = self.cluster
        if c.life is None:
            c.store.get(res, ns, name)
            return self._send(200, "", "text/plain")
        stream = kubelife.log_stream(c.life, res, ns, name, query)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        for data in stream:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def _reply_objects(self, res: kr.Resource, items: list[Obj], rv: str, single: bool, query: dict[str, str]) -> None:
        version = kubetables.wants_table(self.headers.get("Accept", ""))
        if version:
            return self._send(200, kubetables.table(res, items, version, rv, query.get("includeObject", "Metadata")))
        if single:
            return self._send(200, items[0])
        for item in items:
            item.pop("apiVersion", None)
            item.pop("kind", None)
        self._send(200, {"kind": f"{res.kind}List", "apiVersion": res.group_version, "metadata": {"resourceVersion": rv}, "items": items})

    # --- watch --------------------------------------------------------------------------------------
    def _watch(self, res: kr.Resource, ns: str, query: dict[str, str]) -> None:
        store = self.cluster.store
        from tests.fakeworld.kubeapi.store import parse_field_selector, parse_label_selector

        lreqs = parse_label_selector(query.get("labelSelector", "")) if query.get("labelSelector") else []
        freqs = parse_field_selector(res, query.get("fieldSelector", "")) if query.get("fieldSelector") else []
        timeout = min(float(query.get("timeoutSeconds") or 1800), 1800)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def send(kind: str, obj: Obj) -> None:
            data = (json.dumps({"type": kind, "object": obj}) + "\n").encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        rv_param = query.get("resourceVersion", "")
        if rv_param in ("", "0"):
            items, rv = store.list(res, ns, query.get("labelSelector", ""), query.get("fieldSelector", ""))
            for item in items:
                send("ADDED", item)
            after = int(rv)
        else:
            after = int(rv_param)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not getattr(self.server, "stopping", False):
            for erv, group, rname, kind, obj in store.wait_events(after, min(1.0, max(0.0, deadline - time.monotonic()))):
                after = erv
                if (group, rname) != (res.group, res.name):
                    continue
                if ns and obj["metadata"].get("namespace") != ns:
                    continue
                if store.matches(obj, lreqs, freqs):
                    send(kind, obj)
        self.wfile.write(b"0\r\n\r\n")

    # --- special endpoints --------------------------------------------------------------------------
    def _token_request(self, res: kr.Resource, ns: str, name: str) -> None:
        store = self.cluster.store
        sa = store.peek("", "serviceaccounts", ns, name)
        if sa is None:
            raise not_found(res, name)
        body = self._body()
        spec = dict(body.get("spec") or {})
        seconds = spec.get("expirationSeconds")
        seconds = 3600 if seconds is None else int(seconds)
        tr_name = (body.get("metadata") or {}).get("name", "")
        if seconds < 600 or seconds > 2**32:
            detail = "may not specify a duration less than 10 minutes" if seconds < 600 else "may not specify a duration larger than 2^32 seconds"
            msg = f'TokenRequest.authentication.k8s.io "{tr_name}" is invalid: spec.expirationSeconds: Invalid value: {seconds}: {detail}'
            raise ApiError(422, "Invalid", msg, {"name": tr_name, "group": "authentication.k8s.io", "kind": "TokenRequest", "causes": [
                {"reason": "FieldValueInvalid", "message": f"Invalid value: {seconds}: {detail}", "field": "spec.expirationSeconds"}]})
        audiences = spec.get("audiences") or [ka.ISSUER]
        now = time.time()
        token = ka.issue_token(self.cluster.key, ns, sa, audiences, seconds, now)
        from tests.fakeworld.common.world import rfc3339

        self._send(201, {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                         "metadata": {"name": name, "namespace": ns, "creationTimestamp": None},
                         "spec": {"audiences": audiences, "expirationSeconds": seconds, "boundObjectRef": spec.get("boundObjectRef")},
                         "status": {"token": token, "expirationTimestamp": rfc3339(now + seconds)}})

    def _review(self, res: kr.Resource, body: Obj) -> None:
        c = self.cluster
        out = dict(body)
        out["apiVersion"], out["kind"] = res.group_version, res.kind
        out.setdefault("metadata", {"creationTimestamp": None})
        spec = body.get("spec") or {}
        if res.name == "selfsubjectreviews":
            u = self.user
            out["status"] = {"userInfo": {"username": u.name, "groups": list(u.groups), **({"uid": u.uid} if u.uid else {})}}
        elif res.name == "tokenreviews":
            out["status"] = ka.review_token(c.store, c.key, spec.get("token", ""))
        else:
            who = self.user
            if res.name == "subjectaccessreviews":
                who = ka.User(spec.get("user", ""), tuple(spec.get("groups") or ()))
            ra, nra = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
            if ra is not None:
                a = ka.Attributes(ra.get("verb", ""), ra.get("group", ""), ra.get("resource", ""), ra.get("subresource", ""),
                                  ra.get("namespace", ""), ra.get("name", ""))
            else:
                a = ka.Attributes((nra or {}).get("verb", ""), path=(nra or {}).get("path", "/"))
            reason = ka.authorize(c.store, who, a)
            out["status"] = {"allowed": reason is not None, **({"reason": reason} if reason else {})}
        self._send(201, out)
