"""The liqoctl double (tests/fakeworld/bin/liqoctl) against clusters made by the kind double.

Two kind clusters on 127.0.0.1: a provider that publishes the WireGuard gateway NodePort 30999 on a
free UDP host port, and a consumer; Liqo is installed on both, the consumer peers with the provider,
and the real ``kubectl`` must then see a Ready virtual node.  The negative cases pin the upstream
behaviour the double copies (flag errors, timeouts, faults) and its deliberate strictness.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import World, free_port

KUBECTL = "/usr/bin/kubectl" if Path("/usr/bin/kubectl").exists() else (shutil.which("kubectl") or "kubectl")
GW_NODE_PORT = 30999


def run(world: World, *argv: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), check=False, text=True, capture_output=True, timeout=timeout, cwd=world.base / "work",
                          env={**world.env, "KIND_EXPERIMENTAL_PROVIDER": "nerdctl", **(env or {})})


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"{proc.args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


def lines(text: str) -> list[str]:
    """What a log shows of liqoctl's stderr: spinner frames are carriage-return overwritten."""
    return [line.strip() for line in text.replace("\r", "\n").splitlines()
            if line.strip() and not "\u2800" <= line[0] <= "\u28ff"]


@dataclass
class Cluster:
    name: str
    kubeconfig: Path
    api_url: str


class Clusters:
    def __init__(self, world: World):
        self.world = world
        self.made: list[str] = []

    def create(self, name: str, pod_subnet: str, service_subnet: str, gw_host_port: int | None = None) -> Cluster:
        ports = ""
        if gw_host_port is not None:
            ports = (f"  extraPortMappings:\n  - containerPort: {GW_NODE_PORT}\n    hostPort: {gw_host_port}\n"
                     "    protocol: UDP\n")
        config = self.world.base / f"{name}.yaml"
        config.write_text("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnetworking:\n  apiServerAddress: 127.0.0.1\n"
                          f"  podSubnet: {pod_subnet}\n  serviceSubnet: {service_subnet}\nnodes:\n- role: control-plane\n{ports}")
        kubeconfig = self.world.base / f"{name}.kubeconfig"
        self.made.append(name)
        ok(run(self.world, "kind", "create", "cluster", "--name", name, "--config", str(config), "--kubeconfig", str(kubeconfig)))
        server = ok(run(self.world, KUBECTL, "--kubeconfig", str(kubeconfig), "config", "view", "--minify",
                        "-o", "jsonpath={.clusters[0].cluster.server}")).stdout.strip()
        return Cluster(name, kubeconfig, server)

    def delete_all(self) -> None:
        for name in self.made:
            run(self.world, "kind", "delete", "cluster", "--name", name)


@pytest.fixture
def clusters(world: World) -> Iterator[Clusters]:
    c = Clusters(world)
    yield c
    c.delete_all()


def install(world: World, c: Cluster, *extra: str, cluster_id: str | None = None, version: str = "v1.0.0",
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run(world, "liqoctl", "install", "kind", "--cluster-id", cluster_id or c.name, "--kubeconfig", str(c.kubeconfig),
               "--version", version, "--set", f"apiServer.address={c.api_url}", "--timeout", "30s", *extra, env=env)


def peer(world: World, consumer: Cluster, provider: Cluster, host_port: int, *extra: str, timeout: str = "20s",
         node_port: int = GW_NODE_PORT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run(world, "liqoctl", "peer", "--kubeconfig", str(consumer.kubeconfig), "--remote-kubeconfig", str(provider.kubeconfig),
               "--gw-server-service-type", "NodePort", "--gw-server-service-nodeport", str(node_port),
               "--gw-client-address", "127.0.0.1", "--gw-client-port", str(host_port), "--timeout", timeout, *extra, env=env)


@pytest.fixture
def pair(world: World, clusters: Clusters) -> tuple[Cluster, Cluster, int]:
    """(consumer, provider, gateway host port), Liqo installed on both."""
    host_port = free_port(socket.SOCK_DGRAM)
    provider = clusters.create("prov", "100.64.0.0/16", "198.18.0.0/21", gw_host_port=host_port)
    consumer = clusters.create("cons", "100.65.0.0/16", "198.18.8.0/21")
    ok(install(world, provider))
    ok(install(world, consumer))
    return consumer, provider, host_port


def kubectl_json(world: World, c: Cluster, *args: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(ok(run(world, KUBECTL, "--kubeconfig", str(c.kubeconfig), *args, "-o", "json")).stdout)
    return doc


# --- command line ------------------------------------------------------------------------------------


def test_version_client(world: World) -> None:
    proc = ok(run(world, "liqoctl", "version", "--client"))
    assert proc.stdout == "Client version: v1.0.0\n"


def test_refuses_to_run_outside_a_fake_world(world: World) -> None:
    proc = run(world, "liqoctl", "version", "--client", env={"KSI_FAKE_ROOT": ""})
    assert proc.returncode == 1 and "KSI_FAKE_ROOT is not set" in proc.stderr


@pytest.mark.parametrize("flag", ["--pod-cidr", "--service-cidr", "--api-server-url"])
def test_install_kind_has_no_generic_install_flags(world: World, flag: str) -> None:
    """pkg/liqoctl/install/generic registers these on ``install`` only; root SilenceUsage: no usage text."""
    proc = run(world, "liqoctl", "install", "kind", "--cluster-id", "x", "--kubeconfig", "/nonexistent", flag, "10.0.0.0/16")
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", f"Error: unknown flag: {flag}\n")


def test_flag_values_are_parsed_like_pflag(world: World) -> None:
    proc = run(world, "liqoctl", "peer", "--timeout", "10", "--remote-kubeconfig", "x")
    assert proc.stderr == 'Error: invalid argument "10" for "--timeout" flag: time: missing unit in duration "10"\n'
    proc = run(world, "liqoctl", "peer", "--gw-server-service-type", "nodeport")
    assert proc.stderr == ('Error: invalid argument "nodeport" for "--gw-server-service-type" flag: '
                           "nodeport is not included in LoadBalancer,NodePort,ClusterIP\n")
    proc = run(world, "liqoctl", "offload", "namespace")
    assert (proc.returncode, proc.stderr) == (1, "Error: accepts 1 arg(s), received 0\n")
    proc = run(world, "liqoctl", "peer", "--gw-client-port", "x")
    assert 'strconv.ParseInt: parsing "x": invalid syntax' in proc.stderr


def test_missing_kubeconfig(world: World) -> None:
    proc = run(world, "liqoctl", "install", "kind", "--kubeconfig", str(world.base / "nope"))
    assert proc.returncode == 1
    assert lines(proc.stderr) == [f"ERRO  error: stat {world.base / 'nope'}: no such file or directory"]


# --- the happy path ----------------------------------------------------------------------------------


def test_install_peer_offload(world: World, pair: tuple[Cluster, Cluster, int]) -> None:
    consumer, provider, host_port = pair
    assert ok(run(world, "liqoctl", "version", "--kubeconfig", str(consumer.kubeconfig))).stdout == (
        "Client version: v1.0.0\nServer version: v1.0.0\n")
    proc = ok(peer(world, consumer, provider, host_port, timeout="1m30s"))
    out = lines(proc.stderr)
    assert "INFO   (local) Connection is established" in out and out[-1] == "INFO   (local) ResourceSlice resources: Accepted"
    node = kubectl_json(world, consumer, "get", "node", "prov")
    labels = node["metadata"]["labels"]
    assert labels["liqo.io/type"] == "virtual-node" and labels["liqo.io/remote-cluster-id"] == "prov"
    assert labels["kubernetes.io/hostname"] == "prov"
    assert [c["status"] for c in node["status"]["conditions"] if c["type"] == "Ready"] == ["True"]
    table = ok(run(world, KUBECTL, "--kubeconfig", str(consumer.kubeconfig), "get", "nodes", "--no-headers")).stdout
    assert any(row.split()[:2] == ["prov", "Ready"] for row in table.splitlines()), table
    fcs = kubectl_json(world, provider, "get", "foreignclusters.core.liqo.io")["items"]
    assert [(fc["metadata"]["name"], fc["status"]["role"]) for fc in fcs] == [("cons", "Consumer")]
    ok(peer(world, consumer, provider, host_port))  # idempotent
    assert len(kubectl_json(world, consumer, "get", "nodes", "-l", "liqo.io/type=virtual-node")["items"]) == 1
    proc = ok(run(world, "liqoctl", "offload", "namespace", "default", "--kubeconfig", str(consumer.kubeconfig),
                  "--pod-offloading-strategy", "LocalAndRemote", "--namespace-mapping-strategy", "EnforceSameName", "--timeout", "10s"))
    assert lines(proc.stderr)[-1] == "INFO  Offloading completed successfully"
    nsoff = kubectl_json(world, consumer, "get", "namespaceoffloadings.offloading.liqo.io", "offloading", "-n", "default")
    assert nsoff["status"]["offloadingPhase"] == "Ready" and nsoff["spec"]["namespaceMappingStrategy"] == "EnforceSameName"
    proc = run(world, "liqoctl", "offload", "namespace", "missing", "--kubeconfig", str(consumer.kubeconfig))
    assert lines(proc.stderr)[-1] == 'ERRO  Failed enabling namespace offloading: Error from server (NotFound): namespaces "missing" not found'


# --- install -----------------------------------------------------------------------------------------


def test_install_keeps_its_cluster_id(world: World, clusters: Clusters) -> None:
    c = clusters.create("one", "100.64.0.0/16", "198.18.0.0/21")
    ok(install(world, c))
    ok(install(world, c))  # an upgrade with the same id
    proc = install(world, c, cluster_id="other")
    assert proc.returncode == 1
    assert lines(proc.stderr)[-1] == (
        "ERRO  Error installing or upgrading Liqo: execution error at (liqo/templates/liqo-clusterid-configmap.yaml:14:7): "
        "Changing the cluster ID by providing a different .discovery.config.clusterID value is not allowed.")
    proc = install(world, c, cluster_id="Not_A_Label")
    assert "failed validating cluster id: the cluster name must be DNS-compatible" in proc.stderr
    proc = install(world, c, version="v9.9.9")
    assert lines(proc.stderr)[-1].startswith('ERRO  Error initializing installer: chart "liqo" matching v9.9.9 not found')


def test_install_on_a_dead_api_server(world: World) -> None:
    kubeconfig = world.base / "dead.kubeconfig"
    port = free_port()
    kubeconfig.write_text(f"apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://127.0.0.1:{port}\n  name: x\n"
                          "contexts:\n- context:\n    cluster: x\n    user: x\n  name: x\ncurrent-context: x\nusers:\n- name: x\n  user: {}\n")
    proc = run(world, "liqoctl", "install", "kind", "--kubeconfig", str(kubeconfig))
    assert proc.returncode == 1
    assert lines(proc.stderr) == [(
        f'ERRO  failed to get the current kernel version: failed to get server groups: Get "https://127.0.0.1:{port}/api?timeout=32s": '
        f"dial tcp 127.0.0.1:{port}: connect: connection refused, disable this check with --disable-kernel-version-check")]


# --- peering failures --------------------------------------------------------------------------------


def test_peer_needs_the_same_liqo_version(world: World, pair: tuple[Cluster, Cluster, int]) -> None:
    consumer, provider, host_port = pair
    ok(install(world, provider, version="v1.1.0"))
    proc = peer(world, consumer, provider, host_port)
    assert proc.returncode == 1 and "runs Liqo v1.0.0 and the remote cluster Liqo v1.1.0" in proc.stderr


@pytest.mark.parametrize("wrong", ["host-port", "node-port"])
def test_peer_times_out_when_the_gateway_is_unreachable(world: World, pair: tuple[Cluster, Cluster, int], wrong: str) -> None:
    consumer, provider, host_port = pair
    start = time.monotonic()
    if wrong == "host-port":
        proc = peer(world, consumer, provider, free_port(socket.SOCK_DGRAM), timeout="2s")
    else:
        proc = peer(world, consumer, provider, host_port, timeout="2s", node_port=31000)
    assert proc.returncode == 1 and 1.5 < time.monotonic() - start < 15
    assert lines(proc.stderr)[-2:] == [
        "ERRO   (local) Failed waiting for Connection status to be established: timed out waiting for the condition",
        "ERRO   (global) Unable to ensure networking: context deadline exceeded"]
    assert not kubectl_json(world, consumer, "get", "nodes", "-l", "liqo.io/type=virtual-node")["items"]


def test_peer_verifies_the_advertised_api_server(world: World, pair: tuple[Cluster, Cluster, int]) -> None:
    """The provider advertises the consumer's API address: its certificate is signed by another CA."""
    consumer, provider, host_port = pair
    ok(run(world, "liqoctl", "install", "kind", "--cluster-id", "prov", "--kubeconfig", str(provider.kubeconfig),
           "--set", f"apiServer.address={consumer.api_url}"))
    proc = peer(world, consumer, provider, host_port, timeout="2s")
    assert proc.returncode == 1
    assert lines(proc.stderr)[-2:] == [
        "ERRO   (local) Failed waiting for ResourceSlice authentication to be accepted: timed out waiting for the condition",
        "ERRO   (global) Unable to ensure offloading: context deadline exceeded"]


def test_peer_refuses_overlapping_pod_cidrs(world: World, clusters: Clusters) -> None:
    host_port = free_port(socket.SOCK_DGRAM)
    provider = clusters.create("p1", "100.64.0.0/16", "198.18.0.0/21", gw_host_port=host_port)
    consumer = clusters.create("c1", "100.64.0.0/16", "198.18.8.0/21")
    ok(install(world, provider))
    ok(install(world, consumer))
    proc = peer(world, consumer, provider, host_port)
    assert proc.returncode == 1 and "overlaps the pod CIDR 100.64.0.0/16" in proc.stderr
    assert lines(proc.stderr)[-1].startswith("ERRO   (global) Unable to ensure networking: the pod CIDR")


def test_peer_needs_liqo_on_both_sides(world: World, clusters: Clusters) -> None:
    a = clusters.create("a", "100.64.0.0/16", "198.18.0.0/21")
    b = clusters.create("b", "100.65.0.0/16", "198.18.8.0/21")
    ok(install(world, a))
    proc = run(world, "liqoctl", "peer", "--kubeconfig", str(a.kubeconfig), "--remote-kubeconfig", str(b.kubeconfig))
    assert proc.returncode == 1
    assert lines(proc.stderr) == [("ERRO   (remote) error: an error occurred while retrieving cluster id: "
                                   'Error from server (NotFound): configmaps "configmaps" not found')]
    proc = run(world, "liqoctl", "peer", "--kubeconfig", str(a.kubeconfig), "--remote-kubeconfig", str(a.kubeconfig))
    assert lines(proc.stderr) == ["ERRO   (local) error: local and remote clusters must be different"]


# --- faults ------------------------------------------------------------------------------------------


def test_hang_ends_at_the_timeout(world: World, pair: tuple[Cluster, Cluster, int]) -> None:
    consumer, provider, host_port = pair
    start = time.monotonic()
    proc = peer(world, consumer, provider, host_port, timeout="2s", env={"KSI_FAKE_HANG": "liqo-peer"})
    assert proc.returncode == 1 and 1.5 < time.monotonic() - start < 15
    assert "timed out waiting for the condition" in proc.stderr
    proc = install(world, consumer, "--timeout", "1s", env={"KSI_FAKE_HANG": "liqo-install"})
    assert proc.returncode == 1
    assert "Error installing or upgrading Liqo: release liqo failed, and has been rolled back due to atomic being set: " \
           "timed out waiting for the condition" in proc.stderr
    proc = run(world, "liqoctl", "offload", "namespace", "default", "--kubeconfig", str(consumer.kubeconfig), "--timeout", "1s",
               env={"KSI_FAKE_HANG": "liqo-offload"})
    assert lines(proc.stderr)[-1] == "ERRO  Failed waiting for offloading to complete: timed out waiting for the condition"


def _node_ready(world: World, c: Cluster) -> bool:
    nodes = kubectl_json(world, c, "get", "nodes")["items"]
    return all(any(x["type"] == "Ready" and x["status"] == "True" for x in n["status"]["conditions"]) for n in nodes)


def test_install_waits_for_a_ready_node(world: World, clusters: Clusters) -> None:
    """Helm's Wait: Liqo's Deployments need a Ready node, so an install started while the node
    is not Ready yet (ksi starts it early) returns only after Ready; a node that never gets Ready
    times the install out (and the release is rolled back)."""
    config = world.base / "slow.yaml"
    config.write_text("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnetworking:\n  apiServerAddress: 127.0.0.1\n")
    for name, ready in (("slow", "3"), ("never", "1000")):
        clusters.made.append(name)
        ok(run(world, "kind", "create", "cluster", "--name", name, "--config", str(config), "--kubeconfig",
               str(world.base / f"{name}.kubeconfig"), env={"KSI_FAKE_NODE_READY_SECONDS": ready}))
    slow = Cluster("slow", world.base / "slow.kubeconfig", "")
    assert not _node_ready(world, slow)
    ok(run(world, "liqoctl", "install", "kind", "--kubeconfig", str(slow.kubeconfig), "--timeout", "30s"))
    assert _node_ready(world, slow)
    proc = run(world, "liqoctl", "install", "kind", "--kubeconfig", str(world.base / "never.kubeconfig"), "--timeout", "2s")
    assert proc.returncode == 1
    assert "Error installing or upgrading Liqo: release liqo failed, and has been uninstalled due to atomic being set: " \
           "timed out waiting for the condition" in proc.stderr


def test_fail_and_host_scoping(world: World, clusters: Clusters) -> None:
    c = clusters.create("f", "100.64.0.0/16", "198.18.0.0/21")
    proc = install(world, c, env={"KSI_FAKE_FAIL": f"liqo-install@{socket.gethostname()}"})
    assert proc.returncode == 1
    assert lines(proc.stderr)[-1].startswith('ERRO  Error initializing installer: looks like "https://helm.liqo.io/" is not a valid chart')
    ok(install(world, c, env={"KSI_FAKE_FAIL": "liqo-install@another-node"}))
    proc = run(world, "liqoctl", "offload", "namespace", "default", "--kubeconfig", str(c.kubeconfig), env={"KSI_FAKE_FAIL": "liqo-offload"})
    assert lines(proc.stderr)[-1] == 'ERRO  Failed waiting for offloading to complete: the offloading is in "AllFailed" state'


def test_unpeer_and_uninstall(world: World, pair: tuple[Cluster, Cluster, int]) -> None:
    consumer, provider, host_port = pair
    ok(peer(world, consumer, provider, host_port))
    uninstall = ("liqoctl", "uninstall", "--kubeconfig", str(provider.kubeconfig))
    assert run(world, *uninstall).returncode == 1  # no terminal for the confirmation prompt
    proc = run(world, *uninstall, "--skip-confirm")
    assert proc.returncode == 1
    assert "disable networking for clusters:" in proc.stderr and "- cons" in lines(proc.stderr)
    ok(run(world, "liqoctl", "unpeer", "--kubeconfig", str(consumer.kubeconfig), "--remote-kubeconfig", str(provider.kubeconfig)))
    assert not kubectl_json(world, consumer, "get", "nodes", "-l", "liqo.io/type=virtual-node")["items"]
    ok(run(world, *uninstall, "--skip-confirm", "--purge"))
    proc = run(world, "liqoctl", "version", "--kubeconfig", str(provider.kubeconfig))
    assert proc.returncode == 1 and proc.stdout == "Client version: v1.0.0\nServer version: Unknown\n"
