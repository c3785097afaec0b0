"""The kind double's commands: create/delete cluster(s), get clusters/nodes/kubeconfig, export, load, version.

Upstream (kubernetes-sigs/kind v0.29.0): ``pkg/cmd/kind/root.go`` + ``cmd/kind/app/main.go``
(``-v``/``-q``, ``ERROR: ...``, exit 1), ``pkg/cmd/kind/create/cluster/createcluster.go``,
``pkg/cluster/internal/create/create.go`` (order: provider info, config, ``node(s) already exist
for a cluster with the name "x"``, name-length warning, validation, ``Creating cluster "x" ...``,
provision, actions, kubeconfig export with retries, ``Set kubectl context to "kind-x"``, usage,
salutation; on failure nodes are deleted unless ``--retain``), ``create/actions/*`` (status lines),
``pkg/cmd/kind/delete/cluster/deletecluster.go`` + ``pkg/cluster/internal/delete/delete.go``
(``Deleting cluster "x" ...``, kubeconfig first, then ``Deleted nodes: ["x-control-plane"]``),
``pkg/cmd/kind/delete/clusters/deleteclusters.go``, ``pkg/cmd/kind/get/clusters/clusters.go``
(``No kind clusters found.`` on stderr), ``get/nodes``, ``get/kubeconfig``, ``export/logs/logs.go``,
``load/image-archive/image-archive.go``, ``version/version.go``.

Like real kind (Go default signal handling) nothing is cleaned up when the process is killed: a
kill after "Preparing nodes" leaves the node containers (and their processes) behind.
"""

from __future__ import annotations

import os
import random
import secrets
import shlex
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from tests.fakeworld.common import cliflags as cf
from tests.fakeworld.common import world as fw
from tests.fakeworld.kind import config as kc
from tests.fakeworld.kind import kubeconfig as kcfg
from tests.fakeworld.kind.provider import KindError, Logger, Nerdctl, Status, provider_from_env, run_error

VERSION = "0.29.0"
GO_VERSION = "go1.24.2"
NODE_PORT = 6443
SALUTATIONS = [
    "Have a nice day! 👋",
    "Thanks for using kind! 😊",
    "Not sure what to do next? 😅  Check out https://kind.sigs.k8s.io/docs/user/quick-start/",
    "Have a question, bug, or feature request? Let us know! https://kind.sigs.k8s.io/#community 🙂",
]


def _name_flag(p: cf.Parsed, default: str) -> str:
    """``cli.OverrideDefaultName``: KIND_CLUSTER_NAME applies only when --name was not given."""
    if "name" not in p.changed and os.environ.get("KIND_CLUSTER_NAME"):
        return os.environ["KIND_CLUSTER_NAME"]
    return p.values["name"] or default


def _exec_error(node: str, command: list[str], output: str, stdin: bool = False) -> KindError:
    argv = ["nerdctl", "exec", "--privileged", *(["-i"] if stdin else []), node, *command]
    return run_error(argv, "exit status 1", output)


def _roles(names: list[str]) -> dict[str, str]:
    return {n: (fw.load_container(n) or {}).get("labels", {}).get(fw.ROLE_LABEL, "") for n in names}


# --- create -------------------------------------------------------------------------------------------------


def _publish(pm: dict[str, Any], family: str) -> tuple[str, list[Any]]:
    """``generatePortMappings`` for one mapping: (``--publish=...``, release callbacks)."""
    addr = pm.get("listenAddress") or ("::" if family == "ipv6" else "0.0.0.0")
    proto = pm.get("protocol") or "TCP"
    host_port = int(pm.get("hostPort") or 0)
    held: list[Any] = []
    if host_port == 0:
        s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET)
        s.bind((addr, 0))
        host_port = s.getsockname()[1]
        held.append(s)
    elif host_port == -1:
        host_port = 0
    binding = f"[{addr}]:{host_port}" if ":" in addr else f"{addr}:{host_port}"
    return f"--publish={binding}:{pm.get('containerPort') or 0}/{proto}", held


def _run_args(c: kc.Cluster, node: dict[str, Any], name: str, rootless: bool) -> tuple[list[str], list[Any]]:
    """``runArgsForNode`` + ``commonArgs`` in kind's order."""
    args = ["--hostname", name, "--label", f"{fw.ROLE_LABEL}={node['role']}", "--privileged",
            "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
            "--tmpfs", "/tmp", "--tmpfs", "/run", "--volume", "/var", "--volume", "/lib/modules:/lib/modules:ro",
            "-e", "KIND_EXPERIMENTAL_CONTAINERD_SNAPSHOTTER",
            "--detach", "--tty", "--label", f"{fw.CLUSTER_LABEL}={c.name}", "--net", "kind",
            "--restart=on-failure:1", "--init=false"]
    if c.networking["ipFamily"] in ("ipv6", "dual"):
        args += ["--sysctl=net.ipv6.conf.all.disable_ipv6=0", "--sysctl=net.ipv6.conf.all.forwarding=1"]
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"):
        value = os.environ.get(var) or os.environ.get(var.lower())
        if value:
            if var == "NO_PROXY":
                value = f"{value},{c.networking['serviceSubnet']},{c.networking['podSubnet']}"
            args += ["-e", f"{var}={value}", "-e", f"{var.lower()}={value}"]
    if rootless:
        args += ["--device", "/dev/fuse"]
    if c.networking.get("dnsSearch") is not None:
        args += ["-e", "KIND_DNS_SEARCH=" + " ".join(c.networking["dnsSearch"])]
    for m in node["extraMounts"]:
        host = os.path.abspath(m.get("hostPath") or "")
        attrs = [a for a, on in (("ro", m.get("readOnly")), ("Z", m.get("selinuxRelabel"))) if on]
        attrs += {"Bidirectional": ["rshared"], "HostToContainer": ["rslave"]}.get(m.get("propagation") or "", [])
        args.append(f"--volume={host}:{m.get('containerPath', '')}" + (f":{','.join(attrs)}" if attrs else ""))
    mappings = list(node["extraPortMappings"])
    if node["role"] == "control-plane":
        mappings.append({"listenAddress": c.networking["apiServerAddress"], "hostPort": c.networking["apiServerPort"],
                         "containerPort": NODE_PORT})
    held: list[Any] = []
    for pm in mappings:
        arg, h = _publish(pm, c.networking["ipFamily"])
        args.append(arg)
        held += h
    if node["role"] == "control-plane":
        args += ["-e", "KUBECONFIG=/etc/kubernetes/admin.conf"]
    return ["run", "--name", name, *args, node["image"]], held


def _node_names(c: kc.Cluster) -> list[str]:
    counts: dict[str, int] = {}
    names = []
    for n in c.nodes:
        counts[n["role"]] = counts.get(n["role"], 0) + 1
        names.append(f"{c.name}-{n['role']}{counts[n['role']] if counts[n['role']] > 1 else ''}")
    return names


def _cert_sans(c: kc.Cluster, node: dict[str, Any], node_name: str, node_ip: str, endpoint_host: str) -> list[str]:
    """kind's kubeadm ClusterConfiguration after the user's patches, plus kubeadm's own SANs."""
    import json

    import yaml

    from tests.fakeworld.kubeapi.store import json_patch, merge_patch

    doc: dict[str, Any] = {"apiVersion": "kubeadm.k8s.io/v1beta3", "kind": "ClusterConfiguration",
                           "apiServer": {"certSANs": ["localhost", c.networking["apiServerAddress"]]}}
    for raw in [*c.kubeadm_patches, *node.get("kubeadmConfigPatches", [])]:
        for patch in yaml.safe_load_all(raw):
            if isinstance(patch, dict) and patch.get("kind") == "ClusterConfiguration" and patch.get("apiVersion") in (None, "", doc["apiVersion"]):
                doc = merge_patch(doc, patch)
    for p6902 in [*c.kubeadm_patches_6902, *node.get("kubeadmConfigPatchesJSON6902", [])]:
        if p6902.get("kind") == "ClusterConfiguration" and p6902.get("group") == "kubeadm.k8s.io" and p6902.get("version") == "v1beta3":
            ops = yaml.safe_load(p6902.get("patch") or "[]")
            doc = json_patch(json.loads(json.dumps(doc)), ops if isinstance(ops, list) else [])
    service_ip = str(__import__("ipaddress").ip_network(c.networking["serviceSubnet"].split(",")[0], strict=False)[1])
    sans = [node_name, "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
            service_ip, node_ip, endpoint_host, *[str(s) for s in (doc.get("apiServer") or {}).get("certSANs") or []]]
    return list(dict.fromkeys(s for s in sans if s))


def _kubeadm_init(c: kc.Cluster, names: list[str], cfg_path: Path) -> None:
    """What kubeadm init leaves behind: the PKI and admin credentials; then the API serves."""
    import trustme

    cdir = cfg_path.parent
    cfg = fw.read_json(cfg_path) or {}
    ca = trustme.CA(organization_name="kubernetes")
    server = ca.issue_cert(*cfg["certSANs"], common_name="kube-apiserver")
    admin = ca.issue_cert("kubernetes-admin", common_name="kubernetes-admin", organization_name="kubeadm:cluster-admins")
    fw.write_text_atomic(cdir / "ca.pem", ca.cert_pem.bytes())
    fw.write_text_atomic(cdir / "ca-key.pem", ca.private_key_pem.bytes(), mode=0o600)
    fw.write_text_atomic(cdir / "server.pem", server.private_key_and_cert_chain_pem.bytes(), mode=0o600)
    fw.write_text_atomic(cdir / "admin.pem", admin.private_key_pem.bytes() + admin.cert_chain_pems[0].bytes(), mode=0o600)
    fw.write_text_atomic(cdir / "initialized", f"{time.time()}\n")


def _admin_kubeconfig(cluster: str, server: str) -> dict[str, Any]:
    import re

    cdir = fw.cluster_dir(cluster)
    ca = (cdir / "ca.pem").read_bytes()
    admin = (cdir / "admin.pem").read_bytes()
    key = re.search(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----\n?", admin, re.S)
    cert = re.search(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", admin, re.S)
    assert key and cert
    return kcfg.kind_config(cluster, server, ca, cert.group(0), key.group(0))


def kind_kubeconfig(p: Nerdctl, cluster: str, internal: bool = False) -> dict[str, Any]:
    """``kubeconfig.get``: admin.conf from the bootstrap control plane, server made external."""
    names = p.list_nodes(cluster)
    cps = sorted(n for n, r in _roles(names).items() if r == "control-plane")
    if not cps:
        raise KindError(f"could not locate any control plane nodes for cluster named '{cluster}'. "
                        "Use the --name option to select a different cluster")
    if not (fw.cluster_dir(cluster) / "admin.pem").exists():
        raise _exec_error(cps[0], ["cat", "/etc/kubernetes/admin.conf"], "cat: /etc/kubernetes/admin.conf: No such file or directory\n"
                          ).wrap("failed to get cluster internal kubeconfig")
    if internal:
        return _admin_kubeconfig(cluster, f"https://{cps[0]}:{NODE_PORT}")
    lbs = [n for n, r in _roles(names).items() if r == "external-load-balancer"]
    return _admin_kubeconfig(cluster, "https://" + p.api_server_endpoint(lbs[0] if lbs else cps[0]))


def create(p: Nerdctl, log: Logger, flags: dict[str, Any], name: str) -> None:
    stdin_text = sys.stdin.read() if flags["config"] == "-" else None
    try:
        doc = kc.load(flags["config"] or None, stdin_text)
    except kc.ConfigError as e:
        raise KindError(str(e)) from None
    info = p.info()
    rootless = "name=rootless" in ",".join(info.get("SecurityOptions") or [])
    if rootless and info.get("CgroupVersion") != "2":
        raise KindError("running kind with rootless provider requires cgroup v2, see https://kind.sigs.k8s.io/docs/user/rootless/")
    c = kc.defaulted(doc, name, flags["image"])
    if p.list_nodes(c.name):
        raise KindError(f'node(s) already exist for a cluster with the name "{c.name}"')
    if len(c.name) > 50:
        log.info(f'cluster name "{c.name}" is probably too long, this might not work properly on some systems')
    try:
        kc.validate(c)
    except kc.ConfigError as e:
        raise KindError(str(e)) from None
    status = Status(log)
    log.info(f'Creating cluster "{c.name}" ...\n')
    try:
        _provision(p, log, status, c, rootless)
        _actions(p, log, status, c, flags)
    except KindError:
        status.end(False)
        if not flags["retain"]:
            delete_cluster(p, log, c.name, flags["kubeconfig"])
        raise
    status.end(True)
    error: KindError | None = None
    for backoff in (0, 0.001, 0.05, 0.1):
        time.sleep(backoff)
        try:
            kcfg.write_merged(kind_kubeconfig(p, c.name), flags["kubeconfig"])
            error = None
            break
        except KindError as e:
            error = e
    if error:
        raise error
    ctx = kcfg.key(c.name)
    sample = f"kubectl cluster-info --context {ctx}" + (f" --kubeconfig {shlex.quote(flags['kubeconfig'])}" if flags["kubeconfig"] else "")
    log.info(f'Set kubectl context to "{ctx}"')
    log.info(f"You can now use your cluster with:\n\n{sample}")
    log.info("")
    log.info(random.choice(SALUTATIONS))


def _provision(p: Nerdctl, log: Logger, status: Status, c: kc.Cluster, rootless: bool) -> None:
    for image in sorted({n["image"] for n in c.nodes}):
        status.start(f"Ensuring node image ({image.split('@sha256:')[0]}) 🖼")
        p.pull_if_not_present(image, log)
    p.ensure_network("kind")
    status.start(f"Preparing nodes {'📦 ' * len(c.nodes)}")
    for node, name in zip(c.nodes, _node_names(c)):
        args, held = _run_args(c, node, name, rootless)
        for s in held:  # kind releases the ports it picked just before running the container
            s.close()
        p.run(args)


def _actions(p: Nerdctl, log: Logger, status: Status, c: kc.Cluster, flags: dict[str, Any]) -> None:
    names = _node_names(c)
    cps = [n for n, node in zip(names, c.nodes) if node["role"] == "control-plane"]
    if len(cps) > 1:
        status.start("Configuring the external load balancer ⚖️")
    status.start("Writing configuration 📜")
    records = {n: fw.load_container(n) or {} for n in names}
    cdir = fw.cluster_dir(c.name)
    cfg_path = cdir / "kubeadm.json"
    endpoint_host = f"{c.name}-external-load-balancer" if len(cps) > 1 else cps[0]
    boot = c.nodes[names.index(cps[0])]
    cfg = {
        "clusterName": c.name, "kubernetesVersion": _kube_version(boot["image"]), "apiServerContainer": cps[0],
        "apiServerAddress": c.networking["apiServerAddress"], "podSubnet": c.networking["podSubnet"],
        "serviceSubnet": c.networking["serviceSubnet"], "readySeconds": fw.delay("KSI_FAKE_NODE_READY_SECONDS"),
        "neverReady": fw.should_fail("node-never-ready") or fw.should_hang("node-never-ready"),
        "tokenKey": secrets.token_hex(32),
        "nodes": [{"name": n, "role": node["role"], "ip": records[n].get("ip", ""), "labels": node.get("labels") or {},
                   "mounts": [{"hostPath": os.path.abspath(m.get("hostPath") or ""), "containerPath": m.get("containerPath", "")}
                              for m in node["extraMounts"]]}
                  for n, node in zip(names, c.nodes)],
        "certSANs": _cert_sans(c, boot, cps[0], records[cps[0]].get("ip", ""), endpoint_host),
    }
    fw.write_json_atomic(cfg_path, cfg)
    status.start("Starting control-plane 🕹️")
    time.sleep(fw.delay("KSI_FAKE_KIND_CREATE_SECONDS"))
    if fw.should_hang("kind-create"):
        fw.hang_forever()
    if fw.should_fail("kind-create"):
        raise _exec_error(cps[0], ["kubeadm", "init", "--config=/kind/kubeadm.conf", "--skip-token-print", "--v=6"],
                          f"[init] Using Kubernetes version: {cfg['kubernetesVersion']}\n[preflight] Running pre-flight checks\n"
                          "[wait-control-plane] Waiting for the kubelet to boot up the control plane as static Pods from directory "
                          '"/etc/kubernetes/manifests"\n[kubelet-check] The kubelet is not healthy after 4m0.000584192s\n'
                          "error execution phase wait-control-plane: could not initialize a Kubernetes cluster\n"
                          "To see the stack trace of this error execute with --v=5 or higher\n").wrap("failed to init node with kubeadm")
    _kubeadm_init(c, names, cfg_path)
    if not c.networking.get("disableDefaultCNI"):
        status.start("Installing CNI 🔌")
    status.start("Installing StorageClass 💾")
    if len(cps) > 1:
        status.start("Joining more control-plane nodes 🎮")
    if any(n["role"] == "worker" for n in c.nodes):
        status.start("Joining worker nodes 🚜")
    wait = flags["wait"]
    if wait:
        status.start(f"Waiting ≤ {cf.format_duration(wait)} for control-plane = Ready ⏳")
        start = time.time()
        ready_at = float((cdir / "initialized").read_text()) + cfg["readySeconds"]
        if cfg["neverReady"] or ready_at > start + wait:
            time.sleep(wait)
            status.end(False)
            log.info(" • WARNING: Timed out waiting for Ready ⚠️")
        else:
            time.sleep(max(0.0, ready_at - start))
            status.end(True)
            log.info(f" • Ready after {cf.format_duration(time.time() - start)} 💚")


def _kube_version(image: str) -> str:
    tag = image.split("@")[0].rsplit(":", 1)[-1] if ":" in image.split("@")[0].rsplit("/", 1)[-1] else ""
    return tag if tag.startswith("v") and tag[1:2].isdigit() else "v1.33.1"


# --- delete / get / export / load ----------------------------------------------------------------------------


def delete_cluster(p: Nerdctl, log: Logger, name: str, kubeconfig: str) -> None:
    """``delete.Cluster``: kubeconfig entries first, then the nodes; idempotent."""
    try:
        nodes = p.list_nodes(name)
    except KindError as e:
        raise e.wrap("error listing nodes") from None
    kerr: KindError | None = None
    try:
        kcfg.remove(name, kubeconfig)
    except KindError as e:
        kerr = e
        log.error(f"failed to update kubeconfig: {e}")
    if nodes:
        time.sleep(fw.delay("KSI_FAKE_KIND_DELETE_SECONDS"))
        if fw.should_hang("kind-delete"):
            fw.hang_forever()
        if fw.should_fail("kind-delete"):
            raise run_error([p.binary, "update", "--restart=no", *nodes], "exit status 1",
                            f'time="{fw.rfc3339()}" level=fatal msg="failed to update container {nodes[0]}: context deadline exceeded"\n'
                            ).wrap("failed to update restart policy to 'no'")
        p.delete_nodes(nodes)
        log.info("Deleted nodes: [" + " ".join(f'"{n}"' for n in nodes) + "]")
    if kerr:
        raise kerr


def export_logs(p: Nerdctl, log: Logger, name: str, dir_arg: str | None, out: IO[str]) -> None:
    nodes = p.list_nodes(name)
    if not nodes:
        raise KindError(f'unknown cluster "{name}"')
    target = Path(dir_arg) if dir_arg else Path(tempfile.gettempdir()) / str(random.randrange(10**9, 4 * 10**9))
    log.info(f'Exporting logs for cluster "{name}" to:')
    out.write(f"{target}\n")
    out.flush()
    target.mkdir(parents=True, exist_ok=True)
    (target / "kind-version.txt").write_text(f"kind v{VERSION} {GO_VERSION} linux/amd64")
    if fw.should_hang("kind-export-logs"):
        fw.hang_forever()
    try:
        (target / "docker-info.txt").write_text(p.run(["info"]))
    except KindError as e:
        (target / "docker-info.txt").write_text(e.output or "")
    for node in (n for n, r in _roles(nodes).items() if r != "external-load-balancer"):
        ndir = target / node
        ndir.mkdir(exist_ok=True)
        if fw.should_fail("kind-export-logs"):
            raise _exec_error(node, ["sh", "-c", "journalctl --no-pager"], "Error response from daemon: container is not running\n")
        try:
            (ndir / "inspect.json").write_text(p.run(["inspect", node]))
        except KindError as e:
            (ndir / "inspect.json").write_text(e.output or "")
        cdir = fw.cluster_dir(name)
        api_log = (cdir / "apiserver.log").read_text(errors="replace") if (cdir / "apiserver.log").exists() else ""
        (ndir / "serial.log").write_text((fw.containers_dir() / f"{node}.log").read_text(errors="replace")
                                         if (fw.containers_dir() / f"{node}.log").exists() else "")
        (ndir / "kube-apiserver.log").write_text(api_log)
        (ndir / "kubernetes-version.txt").write_text(((fw.read_json(cdir / "kubeadm.json") or {}).get("kubernetesVersion", "")) + "\n")
        for f in ("journal.log", "kubelet.log", "containerd.log"):
            (ndir / f).write_text("")


def load_archives(p: Nerdctl, log: Logger, name: str, selected: list[str], archives: list[str]) -> None:
    from tests.fakeworld.nerdctl import images as imgs

    for a in archives:
        if not os.path.exists(a):
            raise KindError(f"stat {a}: no such file or directory")
    for a in archives:
        nodes = [n for n, r in _roles(p.list_nodes(name)).items() if r != "external-load-balancer"]
        if not nodes:
            raise KindError(f'no nodes found for cluster "{name}"')
        for s in selected:
            if s not in nodes:
                raise KindError(f"unknown node: {s}")
        targets = selected or nodes
        if fw.should_hang("kind-load"):
            fw.hang_forever()
        cmd = ["ctr", "--namespace=k8s.io", "images", "import", "--all-platforms", "--digests", "--snapshotter=overlayfs", "-"]
        try:
            refs = imgs.refs_in_archive(Path(a))
        except ValueError:
            raise _exec_error(targets[0], cmd, "ctr: unrecognized image format\n", stdin=True).wrap("failed to load image") from None
        # ctr imports --all-platforms: every blob the index names must be in the archive
        # (kind pkg/cluster/nodeutils/util.go LoadImageArchive; kind issues 3795, 4224)
        missing = imgs.missing_blobs(Path(a))
        if missing:
            raise _exec_error(targets[0], cmd, f"ctr: content digest {missing[0]}: not found\n", stdin=True
                              ).wrap("failed to load image")
        if fw.should_fail("kind-load"):
            raise _exec_error(targets[0], cmd, "ctr: failed to ingest \"index.json\": context deadline exceeded\n", stdin=True
                              ).wrap("failed to load image")
        path = fw.cluster_dir(name) / "images.json"
        loaded = fw.read_json(path) or {}
        for node in targets:
            loaded[node] = sorted(set(loaded.get(node, [])) | {str(imgs.parse_reference(r)) for r in refs})
        fw.write_json_atomic(path, loaded)
