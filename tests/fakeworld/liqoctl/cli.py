"""Test double of liqotech/liqo ``liqoctl`` v1.0.0: the command tree, its flags, and dispatch.

Upstream (tag v1.0.0): ``cmd/liqoctl/main.go`` (exit 1 on any error), ``cmd/liqoctl/cmd/root.go``
(``SilenceUsage: true`` on the root, so a flag error prints only ``Error: unknown flag: --x``; root
persistent flags: the k8s ``genericclioptions`` ones except ``--namespace``, ``-v/--verbose``,
``--skip-confirm``, ``--global-labels``, ``--global-annotations``; ``pkg/liqoctl/factory``:
``--remote-*`` copies without shorthands, ``-n/--namespace`` = Liqo namespace ``liqo``),
``install.go`` (persistent install flags; ``--api-server-url``, ``--pod-cidr``, ``--service-cidr``
are *local* flags of the generic ``install`` from ``pkg/liqoctl/install/generic`` and do **not**
exist on ``install kind``), ``peer.go``, ``unpeer.go``, ``uninstall.go``, ``offload.go``,
``version.go``; spf13/cobra v1.8.1 (``unknown command "x" for "liqoctl"``, ``accepts 1 arg(s),
received 0``, ``required flag(s) "a", "b" not set``), spf13/pflag v1.0.5 (see common/cliflags.py),
``pkg/utils/args/enum.go`` (``X is not included in A,B,C``).

The behaviour of each command lives in install.py and peer.py; the fake world (state under
``$KSI_FAKE_ROOT``, faults ``liqo-install``/``liqo-peer``/``liqo-offload``) is in tests/fakeworld/README.md.
"""

from __future__ import annotations

import os
import sys
from typing import IO

from tests.fakeworld.common import cliflags as cf
from tests.fakeworld.common import world as fw
from tests.fakeworld.liqoctl import kube as lk
from tests.fakeworld.liqoctl import world as w
from tests.fakeworld.liqoctl.printer import Printer

F = cf.Flag
_GENERIC = [("kubeconfig", ""), ("cache-dir", ""), ("certificate-authority", ""), ("client-certificate", ""), ("client-key", ""),
            ("token", ""), ("as", ""), ("as-uid", ""), ("username", ""), ("password", ""), ("cluster", ""), ("user", ""),
            ("context", ""), ("server", "s"), ("tls-server-name", ""), ("request-timeout", "")]


def factory(prefix: str = "") -> list[cf.Flag]:
    """``factory.AddFlags``: genericclioptions minus ``--namespace``; remote copies lose shorthands."""
    flags = [F(prefix + n, short="" if prefix else s, default="0" if n == "request-timeout" else "") for n, s in _GENERIC]
    flags += [F(prefix + "as-group", "list"), F(prefix + "insecure-skip-tls-verify", "bool", default=False),
              F(prefix + "disable-compression", "bool", default=False)]
    return flags


def liqo_namespace(prefix: str = "") -> cf.Flag:
    return F(prefix + "namespace", short="" if prefix else "n", default="liqo")


ROOT = [*factory(), F("verbose", "bool", short="v", default=False), F("skip-confirm", "bool", default=False),
        F("global-labels", "list", split=True), F("global-annotations", "list", split=True), F("help", "bool", short="h", default=False)]
INSTALL = [F("version", default=w.VERSION), F("repo-url", default="https://github.com/liqotech/liqo"), F("local-chart-path", default=""),
           F("only-output-values", "bool", default=False), F("dump-values-path", default=""), F("dry-run", "bool", default=False),
           F("timeout", "duration", default=600.0), F("cluster-id", default=""), F("cluster-labels", "list", split=True),
           F("reserved-subnets", "list", split=True), F("set", "list"), F("set-string", "list"), F("values", "list"),
           F("disable-api-server-sanity-check", "bool", default=False), F("skip-validation", "bool", default=False),
           F("enable-metrics", "bool", default=False), F("disable-telemetry", "bool", default=False),
           F("disable-kernel-version-check", "bool", default=False), liqo_namespace()]
GENERIC_INSTALL = [F("api-server-url", default=""), F("pod-cidr", default=""), F("service-cidr", default="")]
TWO_CLUSTERS = [*factory(), *factory("remote-"), liqo_namespace(), liqo_namespace("remote-")]
PEER = [F("timeout", "duration", default=600.0), F("skip-validation", "bool", default=False), *TWO_CLUSTERS,
        F("networking-disabled", "bool", default=False), F("gw-server-service-location", default="Provider"),
        F("gw-server-service-type", default="LoadBalancer"), F("gw-server-service-port", "int", default=51840),
        F("gw-server-service-nodeport", "int", default=0), F("gw-server-service-loadbalancerip", default=""),
        F("gw-client-address", default=""), F("gw-client-port", "int", default=0), F("mtu", "int", default=1340),
        F("create-resource-slice", "bool", default=True), F("resource-slice-class", default="default"), F("in-band", "bool", default=False),
        F("proxy-url", default=""), F("create-virtual-node", "bool", default=True), F("cpu", default=""), F("memory", default=""),
        F("pods", default="")]
UNPEER = [F("timeout", "duration", default=120.0), F("wait", "bool", default=True), F("delete-namespaces", "bool", default=False), *TWO_CLUSTERS]
UNINSTALL = [F("purge", "bool", default=False), F("timeout", "duration", default=600.0), liqo_namespace()]
OFFLOAD_NS = [F("pod-offloading-strategy", default="LocalAndRemote"), F("namespace-mapping-strategy", default="DefaultName"),
              F("timeout", "duration", default=20.0), F("remote-namespace-name", default=""), F("selector", "list", short="l"),
              F("output", short="o", default="")]
VERSION = [F("client", "bool", default=False), liqo_namespace()]
ENUMS = {"gw-server-service-location": ["Consumer", "Provider"], "gw-server-service-type": ["LoadBalancer", "NodePort", "ClusterIP"],
         "pod-offloading-strategy": ["LocalAndRemote", "Remote", "Local"],
         "namespace-mapping-strategy": ["EnforceSameName", "DefaultName", "SelectedName"], "output": ["json", "yaml"]}

PROVIDERS = {"aks", "eks", "gke", "k3s", "kind", "kubeadm", "openshift"}
#: the v1.0.0 command tree (aliases included); values: subcommands
TREE: dict[str, set[str]] = {
    "install": PROVIDERS, "upgrade": PROVIDERS, "uninstall": set(), "peer": set(), "unpeer": set(),
    "network": {"connect", "disconnect", "reset", "init"}, "authenticate": set(), "unauthenticate": set(),
    "offload": {"namespace", "ns"}, "unoffload": {"namespace", "ns"}, "move": {"volume"}, "version": set(), "docs": set(),
    "activate": {"resourceslice", "tenant"}, "cordon": {"resourceslice", "tenant"}, "uncordon": {"resourceslice", "tenant"},
    "drain": {"tenant"}, "create": set(), "generate": set(), "get": set(), "delete": set(), "info": {"peer"}, "test": {"network"},
    "completion": {"bash", "zsh", "fish", "powershell"}, "help": set(),
}
IMPLEMENTED = {"install", "install kind", "install kubeadm", "uninstall", "peer", "unpeer", "offload namespace", "version"}
GROUPS = {"", "help", "offload"}
CANONICAL = {"upgrade": "install", "ns": "namespace"}
SHORT = {"": "A CLI tool to install and manage Liqo", "install": "Install/upgrade Liqo in the selected cluster",
         "install kind": "Install Liqo in the selected kind cluster", "uninstall": "Uninstall Liqo from the selected cluster",
         "peer": "Enable a peering towards a remote cluster", "unpeer": "Disable a peering towards a remote provider cluster",
         "offload": "Offload a resource to remote clusters", "offload namespace": "Offload a namespace to remote clusters",
         "version": "Print the liqo CLI version and the deployed Liqo version"}


def command_flags(path: str) -> list[cf.Flag]:
    local = {"install": [*INSTALL, *GENERIC_INSTALL], "peer": PEER, "unpeer": UNPEER, "uninstall": UNINSTALL,
             "offload namespace": OFFLOAD_NS, "version": VERSION}
    if path.startswith("install ") and path.split()[1] in PROVIDERS:
        return [*ROOT, *INSTALL]
    return [*ROOT, *local.get(path, [])]


def _positionals(argv: list[str]) -> list[str]:
    """cobra ``stripFlags``: skip flags, and the next word after any ``--flag``/``-f`` not known as boolean."""
    every = [f for fl in (ROOT, INSTALL, GENERIC_INSTALL, PEER, UNPEER, UNINSTALL, OFFLOAD_NS, VERSION) for f in fl]
    boolean = {f"--{f.name}" for f in every if f.kind == "bool"} | {f"-{f.short}" for f in every if f.kind == "bool" and f.short}
    words, i = [], 0
    while i < len(argv):
        a = argv[i]
        i += 1
        if a == "--":
            break
        if a.startswith("--") and "=" not in a and a not in boolean or (len(a) == 2 and a[0] == "-" and a not in boolean):
            i += 1
        elif not a.startswith("-"):
            words.append(a)
    return words


def resolve(argv: list[str]) -> tuple[list[str], list[str]]:
    """The command path (canonical names) and the arguments left for it."""
    path: list[str] = []
    rest = list(argv)
    level: set[str] | dict[str, set[str]] = TREE
    for word in _positionals(argv):
        if word not in level:
            break
        rest.remove(word)
        path.append(CANONICAL.get(word, word))
        level = TREE.get(word, set()) if len(path) == 1 else set()
    return path, rest


def usage(path: str, flags: list[cf.Flag]) -> str:
    lines = [SHORT.get(path, ""), "", "Usage:", f"  liqoctl {path} [flags]".replace("  liqoctl  ", "  liqoctl "), "", "Flags:"]
    for f in sorted({f.name: f for f in flags}.values(), key=lambda f: f.name):
        short = f"-{f.short}, " if f.short else "    "
        lines.append(f"  {short}--{f.name}")
    return "\n".join(lines) + "\n"


def check_enums(p: cf.Parsed) -> None:
    for name, allowed in ENUMS.items():
        if name in p.changed and p.values[name] not in allowed:
            spelled = "-o, --output" if name == "output" else f"--{name}"
            raise cf.FlagError(f'invalid argument "{p.values[name]}" for "{spelled}" flag: '
                               f'{p.values[name]} is not included in {",".join(allowed)}')


def run(argv: list[str], out: IO[str], err: IO[str]) -> int:
    path_words, rest = resolve(argv)
    path = " ".join(path_words)
    if path not in IMPLEMENTED and path not in GROUPS:
        fw.root()
        err.write(f'Error: the liqoctl double does not implement "liqoctl {path}"\n')
        return 1
    flags = command_flags(path)
    try:
        p = cf.parse(rest, flags)
        check_enums(p)
        if p.values.get("help") or path in GROUPS and not p.args:
            out.write(usage(path, flags))
            return 0
        fw.root()
        if path == "offload namespace":
            if len(p.args) != 1:
                raise cf.FlagError(f"accepts 1 arg(s), received {len(p.args)}")
        elif p.args:
            raise cf.FlagError(f'unknown command "{p.args[0]}" for "{" ".join(["liqoctl", *path_words])}"')
        w.cancel_on_signals()
        return dispatch(path, p, out, err)
    except cf.FlagError as e:
        err.write(f"Error: {e}\n")
        return 1
    except w.Exit as e:
        return e.code
    except w.Timeout:  # cancelled outside any wait: nothing more to say, like output.ExitOnErr
        return 1


def dispatch(path: str, p: cf.Parsed, out: IO[str], err: IO[str]) -> int:
    from tests.fakeworld.liqoctl import admin as liqoadmin
    from tests.fakeworld.liqoctl import install as liqoinstall
    from tests.fakeworld.liqoctl import offload as liqooffload
    from tests.fakeworld.liqoctl import peer as liqopeer

    verbose = bool(p.values.get("verbose"))
    if path == "version":
        out.write(f"Client version: {w.VERSION}\n")
        out.flush()
        if p.values["client"]:
            return 0
        printer = Printer(None, verbose, err)
        return liqoadmin.server_version(lk.Client(w.load_config(p, printer)), p.values["namespace"], printer, out)
    if path.startswith("install"):
        return liqoinstall.install(p, provider=path.split()[1] if " " in path else "", err=err)
    if path == "uninstall":
        return liqoadmin.uninstall(p, err)
    if path in ("peer", "unpeer"):
        return (liqopeer.peer if path == "peer" else liqopeer.unpeer)(p, err)
    if path == "offload namespace":
        return liqooffload.offload(p, err)
    raise AssertionError(path)


def main() -> int:
    return run(sys.argv[1:], sys.stdout, sys.stderr)

