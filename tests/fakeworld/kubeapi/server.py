#!/usr/bin/env python3
"""The process that *is* a kind node container: it holds the published ports and serves the API.

Started by the nerdctl double's ``run`` (in its own session, stdio to ``containers/<name>.log``), it

1. leaves the Slurm job's cgroups (rootless containers live in the user's containerd, outside the
   job, so Slurm's final SIGKILL of the job does not reach them): for every hierarchy in
   ``/proc/self/cgroup`` whose path contains ``slurm``, it writes its pid to that hierarchy's root
   ``cgroup.procs`` (best effort);
2. binds every published port of its container record, writes its pid into the record and tells
   ``nerdctl run`` (``--ready-fd``) ``ok`` or ``error <message>``;
3. serves: the port published for containerPort 6443 of the cluster's API container answers TLS
   Kubernetes API requests once ``clusters/<cluster>/initialized`` exists ("kubeadm init" done;
   before that connections are closed, like a published port with nothing listening behind it);
   other TCP ports answer any HTTP request with 200 naming the cluster; UDP ports answer each
   datagram with ``{"cluster": name, "containerPort": N}``;
4. exits 0 on SIGTERM or SIGINT.

Upstream behaviour mirrored: kube-apiserver (see kubeapi.py), kind's node container port publishing
(pkg/cluster/internal/providers/nerdctl/provision.go), rootlesskit's port driver.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.fakeworld.common import world as fw

API_PORT = 6443


def escape_slurm_cgroups(pid: int) -> list[str]:
    """Move ``pid`` to the root of every cgroup hierarchy whose path names Slurm; returns the moves."""
    moved: list[str] = []
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
        mounts = [line.split(" - ", 1) for line in Path("/proc/self/mountinfo").read_text().splitlines() if " - " in line]
    except OSError:
        return moved
    for line in lines:
        hid, controllers, path = line.split(":", 2)
        if "slurm" not in path:
            continue
        wanted = set(controllers.split(",")) if controllers else set()
        for head, tail in mounts:
            fstype, _, options = tail.split()[:3]
            mountpoint = head.split()[4]
            if hid == "0" and fstype == "cgroup2" or fstype == "cgroup" and wanted and wanted <= set(options.split(",")):
                try:
                    Path(mountpoint, "cgroup.procs").write_text(str(pid))
                    moved.append(mountpoint)
                except OSError:
                    pass
                break
    return moved


class PlainHandler(BaseHTTPRequestHandler):
    """Any request on an extra TCP port: 200 naming the cluster and the container port."""

    cluster_name = ""
    container_port = 0

    def _answer(self) -> None:
        body = f"kind cluster {self.cluster_name}: containerPort {self.container_port}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_HEAD = _answer  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class ApiServer(ThreadingHTTPServer):
    """TLS is switched on lazily: until the cluster is initialised, connections are closed."""

    daemon_threads = True

    def __init__(self, sock: socket.socket, node: Node):
        super().__init__(sock.getsockname()[:2], BaseHTTPRequestHandler, bind_and_activate=False)
        self.socket = sock
        self.node = node
        self.stopping = False

    def get_request(self) -> tuple[Any, Any]:
        conn, addr = self.socket.accept()
        try:
            ctx = self.node.tls_context()
        except Exception as exc:  # a bug in the double must show, not silently stop accepting
            import traceback

            traceback.print_exc()
            conn.close()
            raise OSError(f"the API server failed to start: {exc}") from exc
        if ctx is None:
            conn.close()
            raise OSError("the API server is not running yet")
        self.RequestHandlerClass = self.node.handler_class  # type: ignore[assignment]
        # Go's net package turns Nagle off on every TCP connection (net/tcpsock.go: "The default is
        # true (no delay)"), so kube-apiserver answers at once; Python's sockets keep it on, and a
        # response written as headers then body (two TLS records) waited for the client's delayed
        # ACK: 40 ms per request against this double, none against the real API server.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return ctx.wrap_socket(conn, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # TLS failures of clients that do not trust us: not the server's problem


class Node:
    """One container: its record, its ports, and (for the API container) the lazily built cluster."""

    def __init__(self, host_dir: Path, name: str):
        self.host_dir, self.name = host_dir, name
        self.record_path = host_dir / "containers" / f"{name}.json"
        self.record: dict[str, Any] = fw.read_json(self.record_path) or {}
        self.cluster_name = self.record.get("labels", {}).get(fw.CLUSTER_LABEL, "")
        self.cluster_dir = host_dir / "clusters" / self.cluster_name
        self.lock = threading.Lock()
        self._ctx: ssl.SSLContext | None = None
        self.handler_class: type | None = None
        self.sockets: list[tuple[dict[str, Any], socket.socket]] = []
        self.life: Any = None  # kubelife.Life: the workload pods' "containers"

    def bind(self) -> None:
        for p in self.record.get("ports", []):
            udp = p["protocol"] == "udp"
            family = socket.AF_INET6 if ":" in p["listenAddress"] else socket.AF_INET
            s = socket.socket(family, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
            if not udp:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((p["listenAddress"], p["hostPort"]))
            except OSError as e:
                s.close()
                raise OSError(f"listen {'udp' if udp else 'tcp'} {p['listenAddress']}:{p['hostPort']}: bind: {e.strerror.lower() if e.strerror else e}") from e
            if not udp:
                s.listen(128)
            self.sockets.append((p, s))

    def tls_context(self) -> ssl.SSLContext | None:
        """The server's TLS context once "kubeadm init" is done (building the cluster then)."""
        if self._ctx is not None:
            return self._ctx
        marker = self.cluster_dir / "initialized"
        cfg = fw.read_json(self.cluster_dir / "kubeadm.json")
        if not marker.exists() or not cfg or cfg.get("apiServerContainer") != self.name:
            return None
        with self.lock:
            if self._ctx is None:
                self._build(cfg, float(marker.read_text().strip() or time.time()))
        return self._ctx

    def _build(self, cfg: dict[str, Any], started: float) -> None:
        from tests.fakeworld.kubeapi import api as kubeapi
        from tests.fakeworld.kubeapi import seed as kubeseed
        from tests.fakeworld.kubeapi.resources import Registry
        from tests.fakeworld.kubeapi.store import Store

        ca_pem = (self.cluster_dir / "ca.pem").read_text()
        log_file = open(self.cluster_dir / "apiserver.log", "a", buffering=1)  # noqa: SIM115 - lives as long as the process
        log_lock = threading.Lock()

        def log(message: str) -> None:
            with log_lock:
                log_file.write(f"{fw.rfc3339(nanos=True)} {message}\n")

        dirty = threading.Event()
        store = Store(Registry(), on_change=dirty.set)
        kubeseed.seed(store, cfg, ca_pem)
        cluster = kubeapi.Cluster(cfg, ca_pem, store, log)
        from tests.fakeworld.kubeapi import life as kubelife

        cluster.life = self.life = kubelife.Life(store, cfg, self.cluster_dir, cluster.node_ready, cluster.pod_ip)
        self.life.start()
        self.handler_class = type("ClusterHandler", (kubeapi.Handler,), {"cluster": cluster})
        threading.Thread(target=self._snapshots, args=(store, dirty), daemon=True).start()
        threading.Thread(target=self._readiness, args=(cluster, cfg, started), daemon=True).start()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(self.cluster_dir / "server.pem"))
        ctx.load_verify_locations(cafile=str(self.cluster_dir / "ca.pem"))
        ctx.verify_mode = ssl.CERT_OPTIONAL
        log(f"serving the Kubernetes API of cluster {self.cluster_name!r}")
        self._ctx = ctx

    def _snapshots(self, store: Any, dirty: threading.Event) -> None:
        while True:
            dirty.wait()
            time.sleep(0.2)
            dirty.clear()
            with store.cond:
                data = {f"{g}/{r}" if g else r: list(bucket.values()) for (g, r), bucket in store.objects.items()}
            try:
                fw.write_json_atomic(self.cluster_dir / "state.json", data)
            except OSError:
                return  # the cluster directory is gone: we are being removed

    def _readiness(self, cluster: Any, cfg: dict[str, Any], started: float) -> None:
        """Flip every node's Ready condition once ``readySeconds`` have passed (never if told so)."""
        from tests.fakeworld.kubeapi import seed as kubeseed

        if cfg.get("neverReady"):
            return
        time.sleep(max(0.0, started + float(cfg.get("readySeconds", 0)) - time.time()))
        nodes = cluster.registry.by_group_resource("", "nodes")
        for node in cluster.store.all("", "nodes"):
            fresh = dict(node)
            fresh["metadata"] = {k: v for k, v in node["metadata"].items() if k != "resourceVersion"}
            fresh["status"] = {**node["status"], "conditions": kubeseed.node_conditions(True)}
            cluster.store.update(nodes, "", node["metadata"]["name"], fresh, subresource="status")
        kubeseed.kubelet(cluster.store, cluster.node_ready, cluster.pod_ip)

    def serve(self, stop: threading.Event) -> None:
        servers: list[Any] = []
        for p, s in self.sockets:
            if p["protocol"] == "udp":
                threading.Thread(target=self._udp, args=(s, p), daemon=True).start()
            elif p["containerPort"] == API_PORT:
                servers.append(ApiServer(s, self))
            else:
                handler = type("Plain", (PlainHandler,), {"cluster_name": self.cluster_name, "container_port": p["containerPort"]})
                srv = ThreadingHTTPServer(s.getsockname()[:2], handler, bind_and_activate=False)
                srv.daemon_threads = True
                srv.socket = s
                servers.append(srv)
        for srv in servers:
            threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
        stop.wait()
        for srv in servers:
            srv.stopping = True

    def _udp(self, s: socket.socket, p: dict[str, Any]) -> None:
        reply = json.dumps({"cluster": self.cluster_name, "containerPort": p["containerPort"]}).encode()
        while True:
            try:
                _, addr = s.recvfrom(65535)
                s.sendto(reply, addr)
            except OSError:
                return


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host-dir", required=True, type=Path)
    ap.add_argument("--container", required=True)
    ap.add_argument("--ready-fd", type=int, default=-1)
    args = ap.parse_args()
    moved = escape_slurm_cgroups(os.getpid())
    node = Node(args.host_dir, args.container)
    ready = os.fdopen(args.ready_fd, "w") if args.ready_fd >= 0 else None
    try:
        node.bind()
    except OSError as e:
        if ready:
            ready.write(f"error {e}\n")
            ready.close()
        print(f"container {args.container}: {e}", flush=True)
        return 1
    node.record.update(pid=os.getpid(), pidStartTime=fw.proc_start_time(os.getpid()))
    fw.write_json_atomic(node.record_path, node.record)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"container {args.container} (pid {os.getpid()}) up; left cgroups: {moved or 'none'}", flush=True)
    if ready:
        ready.write("ok\n")
        ready.close()
    node.serve(stop)
    if node.life is not None:
        node.life.stop()
    print(f"container {args.container} stopping", flush=True)
    return 0

