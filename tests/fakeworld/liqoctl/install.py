"""``liqoctl install [kind]``, ``uninstall`` and the server half of ``version``, against the fake API.

Upstream (liqotech/liqo v1.0.0): ``cmd/liqoctl/cmd/install.go`` (PersistentPreRun: kernel check
``kernel version X does not satisfy the minimum requirements 5.10.0, disable this check with
--disable-kernel-version-check`` from ``pkg/utils/kernel/version``; ``--repo-url``/``--local-chart-path``
rules), ``pkg/liqoctl/install/handler.go`` (spinners ``Initializing installer``, ``Retrieving cluster
configuration``, ``Generating installation parameters``, ``Installing or upgrading Liqo... (this may
take a few minutes)``; ``--set`` is applied *after* validation; helm ``Atomic``+``Wait`` within
``--timeout``; the timeout hints), ``validation.go`` (cluster id ``IsDNS1123Label``; pods and services
must sit in the Pod/Service CIDR), ``kind/provider.go`` + ``kubeadm/provider.go`` (CIDRs come from the
``kube-controller-manager`` pod's ``--cluster-cidr``/``--service-cluster-ip-range``, defaults
172.16.0.0/16 and 10.96.0.0/12; API server defaulting disabled), the chart's
``liqo-clusterid-configmap.yaml`` (changing the cluster id fails), ``pkg/liqoctl/uninstall/handler.go``,
``pkg/liqoctl/version/handler.go``.  Helm ``strvals`` for ``--set``.
"""

from __future__ import annotations

import ipaddress
import random
import re
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from tests.fakeworld.common import cliflags as cf
from tests.fakeworld.common import world as fw
from tests.fakeworld.liqoctl import kube as lk
from tests.fakeworld.liqoctl import world as w
import yaml
from tests.fakeworld.liqoctl.printer import Printer, pretty

KERNEL_MIN = (5, 10, 0)
HINTS = ["Likely causes for the installation/upgrade timeout could include:",
         "* One or more pods failed to start (e.g., they are in the ImagePullBackOff status)",
         "* A service of type LoadBalancer has been configured, but no provider is available",
         "You can add the --verbose flag for debug information concerning the failing resources",
         "Additionally, if necessary, you can increase the timeout value with the --timeout flag"]


def _api_error_text(e: Exception, server: str) -> str:
    """Go's text for a failed first call through controller-runtime's lazy REST mapper."""
    if isinstance(e, lk.ConnError):
        return f'failed to get server groups: Get "{server}/api?timeout=32s": {e.detail}'
    return str(e)


def _kernel(release: str) -> tuple[int, int, int, str] | None:
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?(.*)", release)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0), m.group(4)) if m else None


def pre_run(p: cf.Parsed, printer: Printer, client: lk.Client) -> None:
    v = p.values
    if not v["disable-kernel-version-check"]:
        try:
            nodes = client.list(w.NODES)
        except (lk.ApiError, lk.ConnError) as e:
            printer.error(f"failed to get the current kernel version: {_api_error_text(e, client.cfg.server)}, "
                          "disable this check with --disable-kernel-version-check")
            raise w.Exit(1) from e
        kernels = [k for n in nodes if n["metadata"].get("labels", {}).get("liqo.io/virtual-node") != "true"
                   and (k := _kernel(n.get("status", {}).get("nodeInfo", {}).get("kernelVersion", "")))]
        low = min(kernels) if kernels else None
        if low is not None and low[:3] < KERNEL_MIN:
            printer.error(f"kernel version {low[0]}.{low[1]}.{low[2]}{low[3]} does not satisfy the minimum requirements 5.10.0, "
                          "disable this check with --disable-kernel-version-check")
            raise w.Exit(1)
    default_repo = "https://github.com/liqotech/liqo"
    for bad, msg in ((v["repo-url"] != default_repo and v["local-chart-path"], "Cannot specify both --repo-url and --local-chart-path at the same time"),
                     (v["local-chart-path"] and not v["version"], "A version must be explicitly specified if the --local-chart-path flag is set"),
                     (v["repo-url"] != default_repo and not v["version"], "A version must be explicitly specified if the --repo-url flag is set")):
        if bad:
            printer.error(msg)
            raise w.Exit(1)


# --- helm strvals ----------------------------------------------------------------------------------


def _typed(value: str, as_string: bool) -> Any:
    if as_string:
        return value
    if value in ("true", "false"):
        return value == "true"
    if value == "null":
        return None
    if re.fullmatch(r"-?(0|[1-9]\d*)", value):
        return int(value)
    return value


def parse_set(text: str, into: dict[str, Any], as_string: bool = False) -> None:
    """``strvals.ParseInto``: ``a.b=v,c=w`` (backslash escapes a comma); raises ValueError."""
    items, cur, esc = [], "", False
    for ch in text:
        if esc:
            cur, esc = cur + ch, False
        elif ch == "\\":
            esc = True
        elif ch == ",":
            items.append(cur)
            cur = ""
        else:
            cur += ch
    items.append(cur)
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            raise ValueError(f'key "{key}" has no value' + (" (cannot end with ,)" if not key else ""))
        node = into
        parts = key.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = _typed(value, as_string)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, val in over.items():
        out[k] = _merge(out[k], val) if isinstance(val, dict) and isinstance(out.get(k), dict) else val
    return out


def _dig(values: dict[str, Any], path: str) -> Any:
    node: Any = values
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


# --- install ----------------------------------------------------------------------------------------


def _provider_cidrs(client: lk.Client) -> tuple[str, str, bool]:
    """kubeadm provider ``Initialize``; third item: the fake seed's command-less pod (see below)."""
    pods = client.list("/api/v1/namespaces/kube-system/pods", "component=kube-controller-manager,tier=control-plane")
    if not pods:
        raise RuntimeError("kube-controller-manager not found")
    containers = pods[0].get("spec", {}).get("containers", [])
    if len(containers) != 1:
        raise RuntimeError("unexpected amount of containers in kube-controller-manager")
    command = containers[0].get("command")
    if command is None:
        # WORKAROUND (fake world): kubeapi/seed.py seeds kube-controller-manager without its command; a
        # real kubeadm static pod always has one.  Read the subnets the node was built with instead.
        name = w.kind_cluster_name(client)
        for cfg_path in fw.root().glob(f"hosts/*/*/clusters/{name}/kubeadm.json"):
            cfg = fw.read_json(cfg_path) or {}
            return cfg.get("podSubnet", "").split(",")[0], cfg.get("serviceSubnet", "").split(",")[0], True
        command = []

    def arg(key: str, default: str) -> str:
        for a in command:
            if a.startswith(key + "="):
                return a.split("=", 1)[1]
            if a == key:
                return ""
        return default

    return arg("--cluster-cidr", "172.16.0.0/16"), arg("--service-cluster-ip-range", "10.96.0.0/12"), False


def _validate(v: dict[str, Any], client: lk.Client, pod_cidr: str, svc_cidr: str, api_server: str, kind: bool, seed_bug: bool) -> None:
    cid = v["cluster-id"]
    if not w.DNS1123_LABEL.match(cid) or len(cid) > 63:
        raise RuntimeError("failed validating cluster id: the cluster name must be DNS-compatible (e.g., lowercase letters, numbers and hyphens) and\n"
                           "\t\tmust be <= 63 characters. Try using 'liqoctl --cluster-id' to set another name and overcome this error")
    if api_server and not kind:
        cfg_host = re.sub(r"^https?://", "", client.cfg.server).split("/")[0]
        api_host = re.sub(r"^https?://", "", api_server).split("/")[0]
        with_port = [h if re.search(r":\d+$", h) else h + ":443" for h in (cfg_host, api_host)]
        if not v["disable-api-server-sanity-check"] and with_port[0] != with_port[1]:
            raise RuntimeError(f'failed validating API Server URL "{api_server}": the retrieved API server URL ("{api_server}") does not match '
                               f'the kubeconfig one ("{client.cfg.server}"). If correct, skip with --disable-api-server-sanity-check')
        if api_host.rsplit(":", 1)[0].strip("[]") in ("localhost", "127.0.0.1", "0.0.0.0"):
            raise RuntimeError(f'failed validating API Server URL "{api_server}": cannot use localhost as API Server address')
    for what, cidr, coll, ip_of in (("Pod", pod_cidr, "pods", lambda o: "" if o["spec"].get("hostNetwork") else o.get("status", {}).get("podIP", "")),
                                    ("Service", svc_cidr, "services", lambda o: o.get("spec", {}).get("clusterIP", ""))):
        hint = (f'failed validating {what} CIDR "{cidr}": %s. Try setting the correct {what} CIDR using the vanilla *liqoctl install* '
                "command, or installing Liqo with Helm")
        try:
            net = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise RuntimeError(hint % f"invalid CIDR address: {cidr}") from None
        selector = "!liqo.io/shadowPod" if coll == "pods" else ""
        for obj in client.list(f"/api/v1/{coll}", selector):
            ip = ip_of(obj)
            if not ip or ip == "None":
                continue
            if seed_bug and coll == "services" and obj["metadata"]["name"] == "kubernetes":
                continue  # WORKAROUND (fake world): kubeapi/seed.py derives this IP from the first two octets only
            if ipaddress.ip_address(ip) not in net:
                raise RuntimeError(hint % f'{what.lower() if what == "Pod" else "service"} "{obj["metadata"]["name"]}" does not match '
                                   f"the provided {what} CIDR (IP: {ip})")
    if v["dump-values-path"] and not v["only-output-values"]:
        raise RuntimeError("failed validating output values: --dump-values-path can only be used in conjunction with --only-output-values")


def _chart(v: dict[str, Any], printer: Printer) -> str:
    """Where the chart comes from (``initialize``); returns the version to install."""
    version: str = v["version"]
    if v["local-chart-path"]:
        path = Path(v["local-chart-path"])
        if not path.exists():
            raise RuntimeError(f'path "{path}" not found')
        if path.is_dir() and not (path / "Chart.yaml").is_file():
            raise RuntimeError("Chart.yaml file is missing")
        return version
    if version == "" or w.SEMVER.match(version):
        version = version or w.RELEASES[-1]
        if version not in w.RELEASES:
            raise RuntimeError(f"chart \"liqo\" matching {version} not found in liqo index. (try 'helm repo update'): "
                               f"no chart version found for liqo-{version}")
        return version
    printer.warning(f'Non-released version selected. Downloading repository from "{v["repo-url"]}"...')
    raise RuntimeError("commit not found. Did you select the correct repository?")


def install(p: cf.Parsed, provider: str, err: IO[str]) -> int:
    v = dict(p.values)
    printer = Printer(None, bool(v["verbose"]), err)
    client = lk.Client(w.load_config(p, printer))
    pre_run(p, printer, client)
    if not provider:
        missing = [n for n in ("pod-cidr", "service-cidr") if n not in p.changed]
        if missing:
            raise cf.FlagError("required flag(s) " + ", ".join(f'"{n}"' for n in missing) + " not set")
    deadline = w.Deadline(v["timeout"])
    ns = v["namespace"]
    s = printer.spinner("Initializing installer")
    try:
        if w.hang_or_fail("liqo-install") == "fail" and not v["local-chart-path"]:
            # the most common failure on a node without internet: the chart repository is unreachable
            raise RuntimeError('looks like "https://helm.liqo.io/" is not a valid chart repository or cannot be reached: Get '
                               '"https://helm.liqo.io/index.yaml": dial tcp: lookup helm.liqo.io on 127.0.0.53:53: server misbehaving')
        version = _chart(v, printer)
        if not v["cluster-id"]:
            try:
                v["cluster-id"] = w.cluster_id(client, ns)
            except lk.ApiError as e:
                if e.code != 404:
                    raise
    except (RuntimeError, lk.ApiError, lk.ConnError) as e:
        s.fail(f"Error initializing installer: {pretty(e)}")
        return 1
    s.success("Installer initialized")
    s = printer.spinner("Retrieving cluster configuration")
    seed_bug = False
    try:
        if provider:
            pod_cidr, svc_cidr, seed_bug = _provider_cidrs(client)
        else:
            pod_cidr, svc_cidr = v["pod-cidr"], v["service-cidr"]
    except (RuntimeError, lk.ApiError, lk.ConnError) as e:
        s.fail(f"Error retrieving provider specific configuration: {pretty(e)}")
        return 1
    if not v["cluster-id"]:
        words = (["brave", "calm", "eager", "fancy", "jolly", "lucid", "noble", "quiet"], ["ampere", "curie", "euler", "gauss", "hopper", "noether"])
        v["cluster-id"] = f"{random.choice(words[0])}-{random.choice(words[1])}"
        printer.info(f'No cluster id specified. Generated: "{v["cluster-id"]}"')
    api_server = "" if provider else v["api-server-url"]
    if provider != "kind" and not api_server and urlsplit(client.cfg.server).hostname not in ("localhost", "127.0.0.1", "0.0.0.0"):
        api_server = client.cfg.server  # validateAPIServer: default to the kubeconfig's, unless it is localhost
    if not v["skip-validation"]:
        try:
            _validate(v, client, pod_cidr, svc_cidr, api_server, provider == "kind", seed_bug)
        except (RuntimeError, lk.ApiError, lk.ConnError) as e:
            s.fail(f"Error retrieving configuration: {pretty(e)}")
            return 1
    s.success("Cluster configuration correctly retrieved")
    s = printer.spinner("Generating installation parameters")
    labels = dict(kv.split("=", 1) for kv in v["cluster-labels"] if "=" in kv)
    if provider:
        labels["liqo.io/provider"] = provider
    values: dict[str, Any] = {
        "tag": version, "apiServer": {"address": api_server},
        "discovery": {"config": {"clusterID": v["cluster-id"], "clusterLabels": labels}},
        "ipam": {"podCIDR": pod_cidr, "serviceCIDR": svc_cidr, "reservedSubnets": v["reserved-subnets"],
                 "externalCIDR": "10.70.0.0/16", "internalCIDR": "10.80.0.0/16"},
        "requirements": {"kernel": {"disabled": v["disable-kernel-version-check"]}},
    }
    try:
        for path in v["values"]:
            values = _merge(values, yaml.safe_load(Path(path).read_text()) or {})
        for text in v["set"]:
            try:
                parse_set(text, values)
            except ValueError as e:
                raise RuntimeError(f"failed parsing --set data: {e}") from None
        for text in v["set-string"]:
            try:
                parse_set(text, values, as_string=True)
            except ValueError as e:
                raise RuntimeError(f"failed parsing --set-string data: {e}") from None
    except (RuntimeError, OSError, yaml.YAMLError) as e:
        s.fail(f"Error generating installation parameters: {e.strerror and f'open {e.filename}: {e.strerror.lower()}' if isinstance(e, OSError) else e}")
        return 1
    s.success("Installation parameters correctly generated")
    if v["only-output-values"]:
        out_path = v["dump-values-path"] or "./values.yaml"
        s = printer.spinner("Generating values.yaml file with the Liqo chart parameters for your cluster")
        Path(out_path).write_text(yaml.safe_dump(values, sort_keys=True))
        s.success(f'All Set! Chart values written to "{out_path}"')
        return 0
    s = printer.spinner("Installing or upgrading Liqo... (this may take a few minutes)")
    return _helm_install(client, ns, values, bool(v["dry-run"]), deadline, printer, s)


def _nodes_ready(client: lk.Client) -> bool:
    """Every real node Ready (no ``node.kubernetes.io/not-ready`` taint): Liqo's pods can run."""
    try:
        nodes = client.list(w.NODES)
    except (lk.ApiError, lk.ConnError):
        return False
    real = [n for n in nodes if (n["metadata"].get("labels") or {}).get("liqo.io/type") != "virtual-node"]
    return bool(real) and all(any(c.get("type") == "Ready" and c.get("status") == "True"
                                  for c in (n.get("status") or {}).get("conditions") or []) for n in real)


def _helm_wait(client: lk.Client, deadline: w.Deadline, s: Any) -> None:
    """Helm's install with ``Wait``: the chart's objects are created at once (CRDs, RBAC, webhooks,
    Deployments: ``KSI_FAKE_LIQO_INSTALL_SECONDS`` minus the pods' part), then Helm waits until
    every Deployment is available -- and their pods are scheduled only once the node is Ready
    (kubelet's ``not-ready`` taint), then pull their images and start
    (``KSI_FAKE_LIQO_INSTALL_PODS_SECONDS``, default 0).  So an install started before the node
    is Ready (ksi's overlap) ends no earlier than Ready plus the pods' time; a node that never
    gets Ready times the install out, as helm's ``context deadline exceeded``.
    helm.sh/helm/v3 ``pkg/action/install.go`` (``performInstall``: ``Wait`` through
    ``pkg/kube/wait.go`` ``waitForResources``), liqotech/liqo ``pkg/liqoctl/install/handler.go``."""
    total = fw.delay("KSI_FAKE_LIQO_INSTALL_SECONDS")
    pods = min(total, fw.delay("KSI_FAKE_LIQO_INSTALL_PODS_SECONDS"))
    deadline.sleep(total - pods, s)
    deadline.poll(lambda: _nodes_ready(client), interval=0.25, spinner=s)
    deadline.sleep(pods, s)


def _helm_install(client: lk.Client, ns: str, values: dict[str, Any], dry_run: bool, deadline: w.Deadline,
                  printer: Printer, s: Any) -> int:
    from tests.fakeworld.liqoctl import apply as liqoapply

    try:
        old = w.cluster_id(client, ns)
    except lk.ApiError:
        old = ""
    except lk.ConnError as e:
        s.fail(f"Error installing or upgrading Liqo: {pretty(e)}")
        return 1
    cid = str(_dig(values, "discovery.config.clusterID") or "")
    if old and cid and cid != old:
        s.fail("Error installing or upgrading Liqo: execution error at (liqo/templates/liqo-clusterid-configmap.yaml:14:7): "
               "Changing the cluster ID by providing a different .discovery.config.clusterID value is not allowed.")
        return 1
    if not old and cid and not re.fullmatch(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)$", cid):
        s.fail("Error installing or upgrading Liqo: execution error at (liqo/templates/liqo-clusterid-configmap.yaml:19:9): "
               "Provided cluster ID must be a valid DNS-compatible name.")
        return 1
    atomic = f"release liqo failed, and has been {'rolled back' if old else 'uninstalled'} due to atomic being set: "
    fault = w.hang_or_fail("liqo-install")
    try:
        if fault == "fail":  # with a local chart: the release never becomes ready
            raise w.Timeout()
        if fault == "hang":
            deadline.hang(s)
        _helm_wait(client, deadline, s)
    except w.Timeout as e:
        s.fail(f"Error installing or upgrading Liqo: {pretty(atomic + str(e))}")
        for hint in HINTS:
            printer.info(hint)
        return 1
    if dry_run:
        s.success("Installation completed (dry-run)")
        return 0
    try:
        liqoapply.install_objects(client, ns, values, old or cid)
    except (lk.ApiError, lk.ConnError) as e:
        s.fail(f"Error installing or upgrading Liqo: {pretty(e)}")
        return 1
    s.success("All Set! You can now proceed establishing a peering (liqoctl peer --help for more information)")
    printer.success("Make sure to use the same version of Liqo on all remote clusters")
    return 0
