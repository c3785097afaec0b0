"""Names, ports, subnets and the rendered kind config: pure values, no processes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ksi import constants as C
from ksi.cluster import render_config
from ksi.errors import UsageError
from ksi.plan import (IMAGE_RE, JOB_NAME_RE, MAX_NAME, STANDALONE_NAME_RE, RunOptions,
                      check_image, cluster_name, make_plan, subnets)
from ksi.slurm import SlurmContext

GOLDEN = Path(__file__).parent.parent / "golden"


def ctx(job: str | None = "4242", step: str = "0", rank: int = 1, n: int = 3) -> SlurmContext:
    if job is None:
        return SlurmContext(job_id=None, step_id=None, rank=0, ntasks=1, nnodes=1, node_name="vm")
    return SlurmContext(job_id=job, step_id=step, rank=rank, ntasks=n, nnodes=n,
                        node_name=f"node{rank + 1}")


def plan_for(c: SlurmContext, workdir: str = "/home/alice/my project", gateway: int | None = None):
    opts = RunOptions(workload=Path("w.sh"), workdir=Path(workdir))
    return make_plan(opts, c, pid=1234, nonce="a1b2c3", api_address="10.200.0.12",
                     api_port=40123, k8s_port=30080, run_root=Path("/run/user/1000/ksi"),
                     gateway_host_port=gateway)


def test_names_are_unique_per_job_step_and_rank_and_parse_back():
    names = {cluster_name(ctx(job, step, rank), 1, "abcdef")
             for job in ("1", "2") for step in ("0", "1", "batch") for rank in (0, 1, 2)}
    assert len(names) == 18
    match = JOB_NAME_RE.match(cluster_name(ctx("4242", "3", 2), 1, "abcdef"))
    assert match and (match["job"], match["step"], match["rank"]) == ("4242", "3", "2")


def test_standalone_names_differ_between_runs_and_are_valid_kind_names():
    a = cluster_name(ctx(None), 77, "abcdef")
    b = cluster_name(ctx(None), 77, "fedcba")
    assert a != b and STANDALONE_NAME_RE.match(a)
    assert a.startswith(C.CLUSTER_PREFIX) and len(a) <= MAX_NAME


def test_longest_job_name_still_fits_a_kind_hostname():
    name = cluster_name(ctx("4294967294", "4294967294", 63, 64), 1, "abcdef")
    assert len(name + "-control-plane") <= 63


def test_member_subnets_never_overlap_and_avoid_kind_defaults():
    import ipaddress

    nets = [ipaddress.ip_network(s) for r in range(64) for s in subnets(r)]
    for i, a in enumerate(nets):
        for b in nets[i + 1:]:
            assert not a.overlaps(b), (a, b)
    avoid = ["10.96.0.0/16", "10.244.0.0/16", "10.70.0.0/16", "10.80.0.0/16", "10.0.0.0/8",
             "172.16.0.0/12", "192.168.0.0/16"]  # kind's and Liqo's defaults, site networks
    assert not any(n.overlaps(ipaddress.ip_network(a)) for n in nets for a in avoid)
    with pytest.raises(UsageError, match="at most 64"):
        subnets(64)


@pytest.mark.parametrize("ref", [
    C.DEFAULT_NODE_IMAGE, "kindest/node:v1.33.1", "registry.example.org:5000/team/node:v1",
    "localhost/kind-node", "node",
])
def test_valid_image_references(ref):
    assert check_image(ref) == ref


@pytest.mark.parametrize("ref", ["Bad Image", "Node:v1", "node:", "node@sha256:xyz",
                                 "a//b", ":tag", ""])
def test_invalid_image_references_are_usage_errors(ref):
    with pytest.raises(UsageError, match="not a valid image reference"):
        check_image(ref)
    assert not IMAGE_RE.match(ref)


def test_rendered_config_matches_golden_file():
    text = render_config(plan_for(ctx(), gateway=41000))
    golden = GOLDEN / "kind-config-follower.yaml"
    assert text == golden.read_text()


def test_rendered_config_carries_the_contract():
    doc = yaml.safe_load(render_config(plan_for(ctx(None))))
    assert doc["apiVersion"] == "kind.x-k8s.io/v1alpha4" and doc["kind"] == "Cluster"
    net = doc["networking"]
    assert (net["apiServerAddress"], net["apiServerPort"]) == ("10.200.0.12", 40123)
    node = doc["nodes"][0]
    assert node["extraMounts"][0] == {"hostPath": "/home/alice/my project",
                                      "containerPath": "/app"}
    assert node["extraPortMappings"] == [{"containerPort": 30080, "hostPort": 30080,
                                          "protocol": "TCP"}]
    patch = yaml.safe_load(doc["kubeadmConfigPatches"][0])
    assert "10.200.0.12" in patch["apiServer"]["certSANs"]


def test_certsans_patch_keeps_what_kinds_own_list_had():
    # kind merges the patch into its ClusterConfiguration as a JSON merge patch (RFC 7386), which
    # replaces lists: what kind listed (localhost, apiServerAddress) survives only if repeated
    doc = yaml.safe_load(render_config(plan_for(ctx(None))))
    patch = yaml.safe_load(doc["kubeadmConfigPatches"][0])
    kinds = {"apiServer": {"certSANs": ["localhost", doc["networking"]["apiServerAddress"]]}}
    merged = {**kinds, **patch}  # a list value is replaced whole
    assert {"localhost", "10.200.0.12"} <= set(merged["apiServer"]["certSANs"])


def test_follower_config_maps_the_gateway_udp_nodeport():
    doc = yaml.safe_load(render_config(plan_for(ctx(), gateway=41000)))
    udp = [m for m in doc["nodes"][0]["extraPortMappings"] if m["protocol"] == "UDP"]
    assert udp == [{"containerPort": C.GATEWAY_NODE_PORT, "hostPort": 41000, "protocol": "UDP"}]


def test_plan_paths_are_private_per_cluster():
    plan = plan_for(ctx())
    assert plan.kubeconfig.parent == plan.run_dir == Path("/run/user/1000/ksi/runs/ksi-4242-0-1")
    assert plan.kind_kubeconfig != plan.kubeconfig
    assert plan.api_url == "https://10.200.0.12:40123"
    assert plan.context_name == plan.cluster_name
