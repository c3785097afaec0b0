"""``liqoctl peer``, ``unpeer`` and ``offload namespace``, played against two fake API servers.

Upstream (liqotech/liqo v1.0.0): ``pkg/liqoctl/peer/handler.go`` (networking, then authentication,
then the ResourceSlice; each failure ends with ``Unable to ensure <phase>: <err>`` on the global
printer), ``pkg/liqoctl/network/{handler,cluster}.go`` and ``pkg/liqoctl/authenticate`` (the spinner
texts below, scoped ``(local)``/``(remote)``), ``pkg/liqoctl/wait/wait.go`` (every wait polls until
the command's ``--timeout``: ``Failed waiting for Connection status to be established: timed out
waiting for the condition``), ``pkg/liqoctl/rest/resourceslice/create.go``,
``pkg/liqoctl/unpeer/handler.go``, ``pkg/liqoctl/offload/handler.go`` (NamespaceOffloading
``offloading``; ``Waiting for offloading of namespace "x" to complete``).

What stands in for the data plane: the WireGuard connection is up when a UDP datagram sent to the
gateway client's endpoint (``--gw-client-address``:``--gw-client-port``, else the provider's node
address and the NodePort) is answered by the *server side* cluster's published port whose
containerPort is the gateway Service's NodePort (kubeapi/server.py answers ``{"cluster", "containerPort"}``);
the ResourceSlice is accepted once the provider API at its advertised ``apiServer.address``
(or, unset, the control-plane InternalIP:6443) completes a TLS handshake verified with the
provider's CA.  Until then the double waits, as liqoctl does, until ``--timeout``.

Deliberate strictness (no upstream check): peering clusters whose Liqo major.minor versions differ
(docs/usage/peer.md: not supported) or whose pod CIDRs overlap (Liqo would remap them, but ksi
promises disjoint subnets, so an overlap is a ksi bug) fails at once with a message saying so.
"""

from __future__ import annotations

import json
import socket
import zlib
from collections.abc import Callable
from typing import IO, Any

from tests.fakeworld.common import cliflags as cf
from tests.fakeworld.common import world as fw
from tests.fakeworld.liqoctl import apply
from tests.fakeworld.liqoctl import kube as lk
from tests.fakeworld.liqoctl import world as w
from tests.fakeworld.liqoctl.printer import Printer, pretty

ERRORS = (lk.ApiError, lk.ConnError, RuntimeError, w.Timeout)


class PhaseFailed(Exception):
    def __init__(self, err: BaseException):
        super().__init__(str(err))
        self.err = err


def step(printer: Printer, text: str, done: str, failed: str, action: Callable[[Any], Any] | None = None) -> Any:
    """One spinner: run ``action(spinner)``; on error print ``<failed>: <pretty err>`` and abort the phase."""
    s = printer.spinner(text)
    try:
        value = action(s) if action else None
    except ERRORS as e:
        s.fail(f"{failed}: {pretty(e)}")
        raise PhaseFailed(e) from e
    s.success(done)
    return value


def probe_gateway(address: str, port: int, expect: tuple[str, int | None], timeout: float = 1.0) -> bool:
    try:
        infos = socket.getaddrinfo(address, port, type=socket.SOCK_DGRAM)
    except OSError:
        return False
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(b"liqo-wireguard-handshake-initiation", addr)
            reply = json.loads(sock.recv(4096))
        except (OSError, ValueError):
            return False
    return isinstance(reply, dict) and (reply.get("cluster"), reply.get("containerPort")) == expect


def _two(p: cf.Parsed, err: IO[str]) -> tuple[lk.Client, lk.Client, Printer, Printer, Printer]:
    """``twoClustersPersistentPreRun`` with scoped printers."""
    verbose = bool(p.values["verbose"])
    lp, rp, gp = Printer("local", verbose, err), Printer("remote", verbose, err), Printer("global", verbose, err)
    lcfg, rcfg = w.load_config(p, lp), w.load_config(p, rp, "remote-")
    if lcfg.identity() == rcfg.identity():
        lp.error("error: local and remote clusters must be different")
        raise w.Exit(1)
    return lk.Client(lcfg), lk.Client(rcfg), lp, rp, gp


def _liqo(client: lk.Client, ns: str, printer: Printer) -> w.Liqo:
    try:
        return w.read_liqo(client, ns)
    except ERRORS as e:
        printer.error(f"error: an error occurred while retrieving cluster id: {pretty(e)}")
        raise w.Exit(1) from e


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def peer(p: cf.Parsed, err: IO[str]) -> int:
    v = p.values
    consumer, provider, lp, rp, gp = _two(p, err)
    c, pr = _liqo(consumer, v["namespace"], lp), _liqo(provider, v["remote-namespace"], rp)
    if _minor(c.version) != _minor(pr.version):
        lp.error(f"error: the local cluster runs Liqo {c.version} and the remote cluster Liqo {pr.version}: peering clusters with "
                 "different Liqo versions is not supported (docs/usage/peer.md) [deliberate check of the liqoctl double]")
        return 1
    deadline = w.Deadline(v["timeout"])
    phase = "networking"
    try:
        for client, remote in ((consumer, pr.cluster_id), (provider, c.cluster_id)):
            try:
                apply.tenant(client, remote)
            except ERRORS as e:
                (lp if client is consumer else rp).error(f"error: an error occurred while creating local tenant namespace: {pretty(e)}")
                return 1
        if not v["networking-disabled"]:
            _networking(v, consumer, provider, c, pr, lp, rp, deadline)
        phase = "authentication"
        for printer in (lp, rp):
            step(printer, "Ensuring tenant namespace", "Tenant namespace correctly ensured", "An error occurred while ensuring tenant namespace")
        step(rp, "Ensuring nonce secret", "Nonce secret ensured", "Unable to create nonce secret")
        step(rp, "Retrieving nonce", "Nonce retrieved", "Unable to retrieve nonce")
        step(lp, "Ensuring signed nonce", "Signed nonce secret ensured", "Unable to ensure signed nonce secret")
        step(lp, "Retrieving signed nonce", "Signed nonce retrieved", "Unable to retrieve signed nonce")
        step(lp, "Generating tenant", "Tenant correctly generated", "Unable to generate tenant")
        step(rp, "Applying tenant on provider cluster", "Tenant correctly applied on provider cluster", "Unable to apply tenant on provider cluster",
             lambda s: apply.foreign_cluster(provider, c.cluster_id, "Consumer"))
        step(rp, "Generating identity", "Identity correctly generated", "An error occurred while generating identity")
        address = pr.api_address or w.control_plane_address(provider)
        address = address if address.startswith("https://") else f"https://{address}"
        step(lp, "Applying identity on consumer cluster", "Identity correctly applied on consumer cluster", "Unable to apply identity on consumer cluster",
             lambda s: apply.foreign_cluster(consumer, pr.cluster_id, "Provider", address))
        if v["create-resource-slice"]:
            phase = "offloading"
            _offloading(v, consumer, provider, pr, lp, address, deadline)
    except PhaseFailed as e:
        gp.error(f"Unable to ensure {phase}: {e.err}")
        return 1
    except ERRORS as e:  # a call outside any spinner
        gp.error(f"Unable to ensure {phase}: {e}")
        return 1
    return 0


def _networking(v: dict[str, Any], consumer: lk.Client, provider: lk.Client, c: w.Liqo, pr: w.Liqo,
                lp: Printer, rp: Printer, deadline: w.Deadline) -> None:
    for printer in (lp, rp):
        step(printer, "Retrieving network configuration", "Network configuration correctly retrieved",
             "An error occurred while retrieving network configuration")

    def disjoint(_: Any) -> None:
        a, b = c.networks.get("pod-cidr", ""), pr.networks.get("pod-cidr", "")
        if w.overlaps(a, b):
            raise RuntimeError(f"the pod CIDR {a} of cluster {c.cluster_id} overlaps the pod CIDR {b} of cluster {pr.cluster_id} "
                               "[deliberate check of the liqoctl double: ksi promises disjoint subnets]")

    step(lp, "Setting up network configuration", "Network configuration correctly set up", "An error occurred while setting up network configuration", disjoint)
    step(rp, "Setting up network configuration", "Network configuration correctly set up", "An error occurred while setting up network configuration")
    for printer in (lp, rp):
        step(printer, "Waiting for configuration to be applied", "Configuration applied successfully", "Failed waiting for configuration to be applied")
    # the gateway server lives on the provider unless --gw-server-service-location Consumer
    server_is_provider = v["gw-server-service-location"] == "Provider"
    srv = provider if server_is_provider else consumer
    sp, cp = (rp, lp) if server_is_provider else (lp, rp)
    srv_ns, cli_ns = (v["remote-namespace"], v["namespace"]) if server_is_provider else (v["namespace"], v["remote-namespace"])
    srv_remote = c.cluster_id if server_is_provider else pr.cluster_id
    cli_remote = pr.cluster_id if server_is_provider else c.cluster_id
    step(sp, f'Checking gateway server template "wireguard-server/{srv_ns}"', f'Gateway server template "wireguard-server/{srv_ns}" correctly checked',
         f'An error occurred while checking gateway server template "wireguard-server/{srv_ns}"')
    step(cp, f'Checking gateway client template "wireguard-client/{cli_ns}"', f'Gateway client template "wireguard-client/{cli_ns}" correctly checked',
         f'An error occurred while checking gateway client template "wireguard-client/{cli_ns}"')
    for printer in (lp, rp):
        step(printer, "Checking network is initialized correctly", "Network correctly initialized", "An error occurred while checking network Configuration")
    step(sp, "Setting up gateway server", "Gateway server correctly set up", "An error occurred while setting up gateway server")
    step(sp, f"Waiting for gateway pod gw-{srv_remote} to be ready", f"Gateway pod gw-{srv_remote} is ready", f"Failed waiting for gateway pod gw-{srv_remote} to be ready")
    node_port = _gateway_server(v, srv, srv_remote, sp, deadline)
    step(cp, "Setting up gateway client", "Gateway client correctly set up", "An error occurred while setting up gateway client")
    step(cp, f"Waiting for gateway pod gw-{cli_remote} to be ready", f"Gateway pod gw-{cli_remote} is ready", f"Failed waiting for gateway pod gw-{cli_remote} to be ready")
    step(sp, "Waiting for gateway server Secret to be created", "Gateway server Secret created successfully", "Failed waiting for gateway server Secret to be created")
    step(cp, "Creating public key", "Public key correctly created", "An error occurred while creating public key")
    step(cp, "Waiting for gateway client Secret to be created", "Gateway client Secret created successfully", "Failed waiting for gateway client Secret to be created")
    step(sp, "Creating public key", "Public key correctly created", "An error occurred while creating public key")
    for printer in (sp, cp):
        step(printer, "Waiting for Connection to be created", "Connection created successfully", "Failed waiting for Connection to be created")
    fault = w.hang_or_fail("liqo-peer")

    def established(s: Any) -> None:
        if fault == "fail":
            raise w.Timeout()
        if fault == "hang":
            deadline.hang(s)
        deadline.sleep(fw.delay("KSI_FAKE_LIQO_PEER_SECONDS"), s)
        # the client dials --gw-client-address/--gw-client-port, else the server's status endpoint
        address = v["gw-client-address"] or w.control_plane_address(srv).removeprefix("https://").rsplit(":", 1)[0]
        port = v["gw-client-port"] or (node_port or v["gw-server-service-port"])
        expect = (w.kind_cluster_name(srv), node_port)
        deadline.poll(lambda: node_port is not None and probe_gateway(address, port, expect, min(1.0, deadline.remaining() + 0.05)), 1.0, s)

    step(cp, "Waiting for Connection status to be established", "Connection is established", "Failed waiting for Connection status to be established", established)
    step(sp, "Waiting for Connection status to be established", "Connection is established", "Failed waiting for Connection status to be established")


def _gateway_server(v: dict[str, Any], srv: lk.Client, consumer_id: str, sp: Printer, deadline: w.Deadline) -> int | None:
    """The gateway server's Service; its NodePort, or None when no endpoint reachable through a NodePort exists."""
    kind, node_port = v["gw-server-service-type"], v["gw-server-service-nodeport"]
    name = f"gw-{consumer_id}"

    def created(s: Any) -> int | None:
        if kind == "ClusterIP":
            return None
        if kind == "LoadBalancer":  # kind has no load-balancer provider: the endpoint never appears
            deadline.hang(s)
        port: int = node_port
        if not port:  # Kubernetes allocates a random NodePort
            used = apply.node_ports_in_use(srv, name)
            port = next(p for p in range(30000 + zlib.crc32(consumer_id.encode()) % 2000, 32768) if p not in used)
        if not 30000 <= port <= 32767 or port in apply.node_ports_in_use(srv, name):
            deadline.hang(s)  # the API server rejects the Service; the controller retries forever
        apply.gateway_service(srv, w.tenant_namespace(consumer_id), consumer_id, port, v["gw-server-service-port"])
        return port

    return step(sp, "Waiting for gateway server Service to be created", "Gateway server Service created successfully",  # type: ignore[no-any-return]
                "Failed waiting for gateway server Service to be created", created)


def _offloading(v: dict[str, Any], consumer: lk.Client, provider: lk.Client, pr: w.Liqo, lp: Printer, address: str, deadline: w.Deadline) -> None:
    ca = (provider.get_or_none("/api/v1/namespaces/kube-public/configmaps/kube-root-ca.crt") or {}).get("data", {}).get("ca.crt", "")
    ca_pem = ca.encode() if ca else provider.cfg.ca_pem
    tenant_ns = w.tenant_namespace(pr.cluster_id)
    step(lp, "Creating ResourceSlice", "ResourceSlice created", "Unable to create ResourceSlice")
    step(lp, "Waiting for ResourceSlice authentication to be accepted", "ResourceSlice authentication: Accepted",
         "Failed waiting for ResourceSlice authentication to be accepted",
         lambda s: deadline.poll(lambda: lk.probe_tls(address, ca_pem, min(3.0, deadline.remaining() + 0.05)) is None, 1.0, s))
    if v["create-virtual-node"]:
        try:
            apply.virtual_node(consumer, pr.cluster_id, tenant_ns)
        except ERRORS as e:
            raise PhaseFailed(e) from e
    lp.success("ResourceSlice resources: Accepted")


def unpeer(p: cf.Parsed, err: IO[str]) -> int:
    v = p.values
    consumer, provider, lp, rp, _ = _two(p, err)
    c, pr = _liqo(consumer, v["namespace"], lp), _liqo(provider, v["remote-namespace"], rp)
    try:
        apply.remove_peering(consumer, provider, c.cluster_id, pr.cluster_id)
        if v["delete-namespaces"]:
            consumer.delete(f"/api/v1/namespaces/{w.tenant_namespace(pr.cluster_id)}")
            provider.delete(f"/api/v1/namespaces/{w.tenant_namespace(c.cluster_id)}")
    except ERRORS as e:
        lp.error(f"error: unable to disable offloading: {pretty(e)}")
        return 1
    lp.success("Ensured virtualnodes absence")
    lp.success("Identity control plane correctly deleted")
    rp.success("Tenant correctly deleted")
    return 0
