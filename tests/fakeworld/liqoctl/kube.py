"""How the liqoctl double reaches a cluster: kubeconfig loading, a TLS REST client, kubectl errors.

Upstream: client-go ``tools/clientcmd`` loading rules (``--kubeconfig`` must exist: ``stat X: no such
file or directory``; else the ``$KUBECONFIG`` list, first file wins per entry; else
``~/.kube/config``; ``--context`` not found: ``context was not found for specified context: X``;
nothing at all: ``ClusterDefaults``, i.e. ``http://localhost:8080``), kubectl
``cmd/util/helpers.go`` (``checkErr``: ``error: <msg>`` / ``Error in configuration: <msg>``;
``StandardErrorMessage``: ``Error from server (<Reason>): <msg>``, ``The connection to the server
<host> was refused - did you specify the right host or port?``, ``Unable to connect to the server:
<err>``), Go ``crypto/tls``/``crypto/x509`` error texts.  Every connection honours
``HTTP(S)_PROXY``/``NO_PROXY`` as client-go does (:mod:`goproxy`).  Plain ``ssl`` + ``http.client`` (the
``kubernetes`` package is slow to import).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import socket
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import yaml


class ConfigError(Exception):
    """A kubeconfig problem, worded as kubectl's checkErr prints it (``error: ...``)."""


class ApiError(Exception):
    def __init__(self, code: int, status: dict[str, Any]):
        self.code = code
        self.reason = status.get("reason", "") or ""
        self.message = status.get("message", "") or f"the server responded with the status code {code}"
        super().__init__(self.message)

    def pretty(self) -> str:
        if self.reason == "Unauthorized":
            return f"error: You must be logged in to the server ({self.message})"
        return f"Error from server ({self.reason}): {self.message}" if self.reason else f"Error from server: {self.message}"


class ConnError(Exception):
    """A transport failure (``*url.Error`` in Go): ``str`` is Go's text, ``pretty`` kubectl's."""

    def __init__(self, method: str, url: str, detail: str):
        self.url, self.detail = url, detail
        super().__init__(f'{method.capitalize()} "{url}": {detail}')

    def pretty(self) -> str:
        if "connection refused" in self.detail and not self.detail.startswith("proxyconnect"):
            return f"The connection to the server {urlsplit(self.url).netloc} was refused - did you specify the right host or port?"
        return f"Unable to connect to the server: {self.detail}"


@dataclass(frozen=True)
class RestConfig:
    server: str
    ca_pem: bytes | None
    insecure: bool
    cert_pem: bytes | None
    key_pem: bytes | None
    token: str
    tls_server_name: str
    context: str

    def identity(self) -> tuple[Any, ...]:
        """What ``reflect.DeepEqual(local.RESTConfig, remote.RESTConfig)`` compares, in effect."""
        return (self.server, self.ca_pem, self.cert_pem, self.key_pem, self.token)


def _read_data(entry: dict[str, Any], key: str, base: Path) -> bytes | None:
    if entry.get(f"{key}-data"):
        return base64.b64decode(entry[f"{key}-data"])
    if entry.get(key):
        p = Path(entry[key])
        p = p if p.is_absolute() else base / p
        try:
            return p.read_bytes()
        except OSError as e:
            raise ConfigError(f"error: unable to read {key} from {p}: {e.strerror.lower() if e.strerror else e}") from e
    return None


def _files(explicit: str) -> list[Path]:
    if explicit:
        if not Path(explicit).exists():
            raise ConfigError(f"error: stat {explicit}: no such file or directory")
        return [Path(explicit)]
    env = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    if env:
        return [Path(p) for p in dict.fromkeys(env) if Path(p).is_file()]
    default = Path(os.environ.get("HOME", "")) / ".kube" / "config"
    return [default] if default.is_file() else []


def load(flags: dict[str, Any], prefix: str = "") -> RestConfig:
    """The REST config named by the factory flags (``prefix`` is ``remote-`` for the remote one)."""
    def flag(name: str) -> Any:
        return flags.get(prefix + name)

    clusters: dict[str, tuple[dict[str, Any], Path]] = {}
    users: dict[str, tuple[dict[str, Any], Path]] = {}
    contexts: dict[str, dict[str, Any]] = {}
    current = ""
    for path in _files(flag("kubeconfig") or ""):
        try:
            doc = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"error: error loading config file \"{path}\": {e}") from e
        for kind, into in (("clusters", clusters), ("users", users)):
            for item in doc.get(kind) or []:
                into.setdefault(item.get("name", ""), (item.get(kind[:-1]) or {}, path.parent))
        for item in doc.get("contexts") or []:
            contexts.setdefault(item.get("name", ""), item.get("context") or {})
        current = current or doc.get("current-context", "")
    name = flag("context") or current
    if flag("context") and name not in contexts:
        raise ConfigError(f"Error in configuration: context was not found for specified context: {name}")
    ctx = contexts.get(name, {})
    cluster, cbase = clusters.get(flag("cluster") or ctx.get("cluster", ""), ({}, Path(".")))
    user, ubase = users.get(flag("user") or ctx.get("user", ""), ({}, Path(".")))
    # clientcmd.ClusterDefaults: without any kubeconfig, client-go talks to localhost:8080
    server = flag("server") or cluster.get("server", "") or os.environ.get("KUBERNETES_MASTER", "") or "http://localhost:8080"
    ca = Path(flag("certificate-authority")).read_bytes() if flag("certificate-authority") else _read_data(cluster, "certificate-authority", cbase)
    cert = Path(flag("client-certificate")).read_bytes() if flag("client-certificate") else _read_data(user, "client-certificate", ubase)
    key = Path(flag("client-key")).read_bytes() if flag("client-key") else _read_data(user, "client-key", ubase)
    token = flag("token") or user.get("token", "")
    if not token and user.get("tokenFile"):
        token = Path(user["tokenFile"]).read_text().strip()
    return RestConfig(server=server.rstrip("/"), ca_pem=ca, insecure=bool(flag("insecure-skip-tls-verify") or cluster.get("insecure-skip-tls-verify")),
                      cert_pem=cert, key_pem=key, token=token, tls_server_name=flag("tls-server-name") or cluster.get("tls-server-name", ""),
                      context=name)


def tls_context(ca_pem: bytes | None, insecure: bool = False, cert_pem: bytes | None = None, key_pem: bytes | None = None) -> ssl.SSLContext:
    if ca_pem and not insecure:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cadata=ca_pem.decode())
    else:  # the system's roots only here: loading them is ~20 ms of CPU per context
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        if insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
    if cert_pem and key_pem:
        with tempfile.TemporaryDirectory(prefix="liqoctl-") as d:
            path = Path(d) / "client.pem"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(cert_pem.rstrip(b"\n") + b"\n" + key_pem)
            ctx.load_cert_chain(str(path))
    return ctx


def go_transport_error(e: BaseException, host: str, port: int) -> str:
    """Go's wording for a failed dial or handshake."""
    addr = f"{host}:{port}"
    from tests.fakeworld.common import goproxy

    if isinstance(e, goproxy.ProxyConnectError):
        return str(e)
    if isinstance(e, ssl.SSLCertVerificationError):
        msg = e.verify_message or str(e)
        if "mismatch" in msg:
            return f"tls: failed to verify certificate: x509: certificate is not valid for {host}"
        if "expired" in msg:
            return "tls: failed to verify certificate: x509: certificate has expired or is not yet valid"
        return "tls: failed to verify certificate: x509: certificate signed by unknown authority"
    if isinstance(e, ConnectionRefusedError):
        return f"dial tcp {addr}: connect: connection refused"
    if isinstance(e, (socket.timeout, TimeoutError)):
        return f"dial tcp {addr}: i/o timeout"
    if isinstance(e, socket.gaierror):
        return f"dial tcp: lookup {host}: no such host"
    if isinstance(e, (ConnectionResetError, ssl.SSLEOFError, http.client.RemoteDisconnected)):
        return f"read tcp {addr}: read: connection reset by peer" if isinstance(e, ConnectionResetError) else "EOF"
    if isinstance(e, OSError) and e.strerror:
        return f"dial tcp {addr}: connect: {e.strerror.lower()}"
    return str(e)


def probe_tls(url: str, ca_pem: bytes | None, timeout: float = 3.0) -> str | None:
    """Open a TLS connection to ``url`` verifying it with ``ca_pem``; None when fine, else Go's error."""
    parts = urlsplit(url if "://" in url else f"https://{url}")
    host, port = parts.hostname or "", parts.port or 443
    try:
        from tests.fakeworld.common import goproxy

        with goproxy.connect(host, port, f"https://{parts.netloc}", timeout) as raw, \
                tls_context(ca_pem).wrap_socket(raw, server_hostname=host):
            return None
    except (OSError, ssl.SSLError) as e:
        return go_transport_error(e, host, port)


class Client:
    """A tiny REST client: JSON in, JSON out, ``ApiError``/``ConnError`` on failure."""

    def __init__(self, cfg: RestConfig, timeout: float = 10.0):
        self.cfg = cfg
        parts = urlsplit(cfg.server)
        self.host, self.port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
        self.base_path = parts.path.rstrip("/")
        self.timeout = timeout
        self._ctx: ssl.SSLContext | None = None

    def _context(self) -> ssl.SSLContext:
        if self._ctx is None:
            self._ctx = tls_context(self.cfg.ca_pem, self.cfg.insecure, self.cfg.cert_pem, self.cfg.key_pem)
        return self._ctx

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        url = f"{self.cfg.server}{path}"
        headers = {"Accept": "application/json", "User-Agent": "liqoctl/v1.0.0 (linux/amd64) kubernetes/$Format"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        if self.cfg.token:
            headers["Authorization"] = f"Bearer {self.cfg.token}"
        server_name = self.cfg.tls_server_name or self.host
        try:
            from tests.fakeworld.common import goproxy

            sock = goproxy.connect(self.host, self.port, url, self.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.cfg.server.startswith("https://"):
                try:
                    sock = self._context().wrap_socket(sock, server_hostname=server_name)
                except BaseException:
                    sock.close()
                    raise
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            conn.sock = sock
            with contextlib.closing(conn):
                conn.request(method, self.base_path + path, body=data, headers=headers)
                # ACK at once: the server's header and body writes would otherwise wait on our delayed ACK
                with contextlib.suppress(OSError, AttributeError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
                resp = conn.getresponse()
                raw = resp.read()
        except (OSError, ssl.SSLError, http.client.HTTPException) as e:
            raise ConnError(method, url, go_transport_error(e, self.host, self.port)) from e
        try:
            doc = json.loads(raw) if raw else {}
        except ValueError:
            doc = {"message": raw.decode(errors="replace").strip()}
        if resp.status >= 400:
            if not isinstance(doc, dict) or doc.get("kind") != "Status":
                doc = {"reason": http.client.responses.get(resp.status, "").replace(" ", ""), "message": str(doc.get("message", ""))}
            raise ApiError(resp.status, doc)
        return doc

    # --- conveniences ------------------------------------------------------------------------------
    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def get_or_none(self, path: str) -> Any:
        try:
            return self.get(path)
        except ApiError as e:
            if e.code == 404:
                return None
            raise

    def list(self, path: str, selector: str = "") -> list[dict[str, Any]]:
        q = f"?labelSelector={quote(selector)}" if selector else ""
        return list(self.get(path + q).get("items") or [])

    def create(self, path: str, obj: dict[str, Any]) -> Any:
        return self.request("POST", path, obj)

    def apply(self, collection: str, obj: dict[str, Any]) -> Any:
        """Create, or replace the spec/labels/data of what exists (controller-runtime CreateOrUpdate)."""
        name = obj["metadata"]["name"]
        for _ in range(5):
            current = self.get_or_none(f"{collection}/{name}")
            if current is None:
                try:
                    return self.create(collection, obj)
                except ApiError as e:
                    if e.code != 409:
                        raise
                    continue
            merged = dict(current)
            for k, v in obj.items():
                if k == "metadata":
                    meta = dict(current.get("metadata") or {})
                    for mk in ("labels", "annotations"):
                        if v.get(mk):
                            meta[mk] = {**(meta.get(mk) or {}), **v[mk]}
                    merged["metadata"] = meta
                elif k != "status":
                    merged[k] = v
            if merged == current:
                return current
            try:
                return self.request("PUT", f"{collection}/{name}", merged)
            except ApiError as e:
                if e.code != 409:
                    raise
        raise ApiError(409, {"reason": "Conflict", "message": f"the object {name} keeps changing"})

    def set_status(self, path: str, status: dict[str, Any]) -> Any:
        current = self.get(path)
        current["status"] = status
        return self.request("PUT", f"{path}/status", current)

    def delete(self, path: str) -> bool:
        try:
            self.request("DELETE", path)
            return True
        except ApiError as e:
            if e.code == 404:
                return False
            raise

    def served(self, group: str, version: str, resource: str) -> bool:
        """Does discovery list ``resource`` in ``group/version`` (a REST mapper's question)?"""
        doc = self.get_or_none(f"/apis/{group}/{version}")
        return bool(doc) and any(r.get("name") == resource for r in doc.get("resources") or [])

