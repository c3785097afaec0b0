"""Go's proxy selection, as client-go (liqoctl, kubectl) applies it to every API call.

Upstream: ``golang.org/x/net/http/httpproxy/proxy.go`` (``FromEnvironment``, ``ProxyFunc``,
``useProxy``, ``domainMatch``), used through ``net/http.ProxyFromEnvironment`` by client-go's
default transport (``k8s.io/client-go/transport/cache.go``: ``utilnet.NewProxierWithNoProxyCIDR``
over ``http.ProxyFromEnvironment``).  Rules:

* ``HTTPS_PROXY``/``https_proxy`` for https URLs, ``HTTP_PROXY``/``http_proxy`` for http ones (the
  upper-case spelling wins); a proxy without a scheme is ``http://``.
* Never for ``localhost`` or a loopback IP.
* ``NO_PROXY``/``no_proxy``: comma-separated; ``*`` disables the proxy; an IP matches that IP; a
  CIDR matches the IPs in it; ``foo.com`` matches ``foo.com`` and its subdomains; ``.foo.com``
  (or ``*.foo.com``) only subdomains; an entry with ``:port`` matches that port only.  A host name
  is never resolved to match a CIDR or IP entry.

The transport then dials the proxy and sends ``CONNECT host:port`` for https; a dial that fails
is reported as ``proxyconnect tcp: dial tcp <proxy>: connect: connection refused``
(``net/http/transport.go``).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import urlsplit


def _env(env: Mapping[str, str], *names: str) -> str:
    for name in names:
        value = env.get(name)
        if value:
            return value
    return ""


@dataclass(frozen=True)
class Proxy:
    host: str
    port: int

    @property
    def addr(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def _parse_proxy(raw: str) -> Proxy | None:
    if not raw:
        return None
    url = raw if "://" in raw else f"http://{raw}"
    parts = urlsplit(url)
    default = {"https": 443, "socks5": 1080}.get(parts.scheme, 80)
    return Proxy(parts.hostname or "", parts.port or default)


def _no_proxy_allows(host: str, port: int, no_proxy: str) -> bool:
    """True when the proxy must be used for ``host:port`` (``useProxy``)."""
    if host == "localhost":
        return False
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None and ip.is_loopback:
        return False
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return False
        try:
            net = ipaddress.ip_network(entry, strict=False) if "/" in entry else None
        except ValueError:
            net = None
        if net is not None:
            if ip is not None and ip in net:
                return False
            continue
        entry_host, entry_port = entry, 0
        if entry.count(":") == 1 or entry.startswith("["):
            h, _, p = entry.rpartition(":")
            if p.isdigit():
                entry_host, entry_port = h.strip("[]"), int(p)
        try:
            entry_ip = ipaddress.ip_address(entry_host)
        except ValueError:
            entry_ip = None
        if entry_ip is not None:
            if ip is not None and ip == entry_ip and entry_port in (0, port):
                return False
            continue
        if entry_port and entry_port != port:
            continue
        name = host.lower()
        if entry_host.startswith("*."):
            entry_host = entry_host[1:]
        if entry_host.startswith("."):
            if name.endswith(entry_host):
                return False
        elif name == entry_host or name.endswith("." + entry_host):
            return False
    return True


def proxy_for(url: str, env: Mapping[str, str] | None = None) -> Proxy | None:
    """The proxy client-go would use for ``url``, or None for a direct connection."""
    env = os.environ if env is None else env
    parts = urlsplit(url)
    scheme = parts.scheme or "https"
    raw = _env(env, "HTTPS_PROXY", "https_proxy") if scheme == "https" else _env(env, "HTTP_PROXY", "http_proxy")
    proxy = _parse_proxy(raw)
    if proxy is None:
        return None
    host = parts.hostname or ""
    port = parts.port or (443 if scheme == "https" else 80)
    if not _no_proxy_allows(host, port, _env(env, "NO_PROXY", "no_proxy")):
        return None
    return proxy


class ProxyConnectError(OSError):
    """A failed dial of the proxy, worded like Go's transport."""


def connect(host: str, port: int, url: str, timeout: float) -> socket.socket:
    """A TCP connection to ``host:port`` for ``url``: direct, or tunnelled through the proxy that
    Go would choose (``CONNECT``).  Raises :class:`ProxyConnectError` when the proxy fails."""
    proxy = proxy_for(url)
    if proxy is None:
        return socket.create_connection((host, port), timeout=timeout)
    try:
        sock = socket.create_connection((proxy.host, proxy.port), timeout=timeout)
    except OSError as e:
        reason = (e.strerror or str(e)).lower()
        raise ProxyConnectError(f"proxyconnect tcp: dial tcp {proxy.addr}: connect: {reason}") from e
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                raise ProxyConnectError("proxyconnect tcp: EOF")
            head += chunk
    except OSError as e:
        sock.close()
        if isinstance(e, ProxyConnectError):
            raise
        raise ProxyConnectError(f"proxyconnect tcp: {e}") from e
    status = head.split(b"\r\n", 1)[0].decode(errors="replace").split(" ", 2)
    if len(status) < 2 or status[1] != "200":
        sock.close()
        raise ProxyConnectError(status[2] if len(status) > 2 else "malformed proxy response")
    return sock
