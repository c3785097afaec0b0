"""The liqoctl double's proxy choice follows Go's golang.org/x/net/http/httpproxy (issue 12)."""

from __future__ import annotations

import socket
import sys

import pytest

from tests.fakeworld.common import goproxy

PROXY = {"HTTPS_PROXY": "proxy.example:3128"}


@pytest.mark.parametrize("url,no_proxy,proxied", [
    ("https://10.200.0.12:6443", "", True),
    ("https://127.0.0.1:6443", "", False),  # loopback: never
    ("https://localhost:6443", "", False),
    ("https://10.200.0.12:6443", "*", False),
    ("https://10.200.0.12:6443", "10.200.0.12", False),  # IP
    ("https://10.200.0.12:6443", "10.200.0.0/24", False),  # CIDR
    ("https://10.200.0.12:6443", "10.200.0.13,10.201.0.0/16", True),
    ("https://10.200.0.12:6443", "10.200.0.12:443", True),  # another port
    ("https://n01-ib.cluster:6443", "cluster", False),  # domain and its subdomains
    ("https://n01-ib.cluster:6443", ".cluster", False),
    ("https://cluster:6443", ".cluster", True),  # a leading dot: subdomains only
    ("https://n01-ib.cluster:6443", "*.cluster", False),
    ("https://n01-ib.cluster:6443", "ib.cluster", True),  # not a label boundary
    ("https://n01-ib.cluster:6443", "10.200.0.0/16", True),  # names are not resolved
    ("http://10.200.0.12:80", "", False),  # HTTP_PROXY unset
])
def test_proxy_choice_is_gos(url: str, no_proxy: str, proxied: bool) -> None:
    assert (goproxy.proxy_for(url, {**PROXY, "NO_PROXY": no_proxy}) is not None) is proxied


def test_upper_case_wins_and_a_bare_host_is_http() -> None:
    p = goproxy.proxy_for("https://10.0.0.1", {"HTTPS_PROXY": "a:1", "https_proxy": "b:2"})
    assert p is not None and (p.host, p.port) == ("a", 1)
    bare = goproxy.proxy_for("https://10.0.0.1", {"https_proxy": "http://b"})
    assert bare is not None and bare.port == 80


def test_a_refusing_proxy_fails_like_gos_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        with pytest.raises(goproxy.ProxyConnectError) as err:
            goproxy.connect("10.200.0.12", 6443, "https://10.200.0.12:6443", 2)
    assert str(err.value) == f"proxyconnect tcp: dial tcp 127.0.0.1:{port}: connect: connection refused"
