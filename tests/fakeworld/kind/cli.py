"""The kind double's command line (cobra tree of kind v0.29.0): parse, dispatch, print errors.

Upstream: ``pkg/cmd/kind/root.go`` (persistent ``-v/--verbosity``, ``-q/--quiet``; usage and errors
silenced; ``--version`` prints ``kind version 0.29.0``), ``cmd/kind/app/main.go`` (``ERROR: <err>``,
``\\nCommand Output: <output>`` for command failures, exit 1), the per-command files cited in
core.py (flags and argument rules: ``cobra.NoArgs``, ``MaximumNArgs(1)``, ...).
"""

from __future__ import annotations

import os
import sys
from typing import IO

from tests.fakeworld.common import cliflags as cf
from tests.fakeworld.common import world as fw
from tests.fakeworld.kind import core
from tests.fakeworld.kind import kubeconfig as kcfg
from tests.fakeworld.kind.provider import KindError, Logger, provider_from_env

PERSISTENT = [cf.Flag("verbosity", "int", short="v", default=0), cf.Flag("quiet", "bool", short="q", default=False),
              cf.Flag("help", "bool", short="h", default=False)]
USAGE = """kind creates and manages local Kubernetes clusters using Docker container 'nodes'

Usage:
  kind [command]

Available Commands:
  build       Build one of [node-image]
  completion  Output shell completion code for the specified shell (bash, zsh or fish)
  create      Creates one of [cluster]
  delete      Deletes one of [cluster]
  export      Exports one of [kubeconfig, logs]
  get         Gets one of [clusters, nodes, kubeconfig]
  help        Help about any command
  load        Loads images into nodes
  version     Prints the kind CLI version

Flags:
  -h, --help              help for kind
  -q, --quiet             silence all stderr output
  -v, --verbosity int32   info log verbosity, higher value produces more output
      --version           version for kind

Use "kind [command] --help" for more information about a command.
"""


def _parse(args: list[str], flags: list[cf.Flag]) -> cf.Parsed:
    p = cf.parse(args, [*flags, *PERSISTENT])
    return p


def run(argv: list[str], out: IO[str], err: IO[str]) -> int:
    log = Logger(err)
    words: list[str] = []
    rest = list(argv)
    # cobra finds the subcommand path among the non-flag words
    tree = {"create": {"cluster"}, "delete": {"cluster", "clusters"}, "get": {"clusters", "nodes", "kubeconfig"},
            "export": {"logs", "kubeconfig"}, "load": {"image-archive", "docker-image"}, "version": set()}
    if "--version" in rest:
        out.write(f"kind version {core.VERSION}\n")
        return 0
    for word in [a for a in argv if not a.startswith("-")][:2]:
        level = tree if not words else tree.get(words[0], set())
        if word in level:
            words.append(word)
            rest.remove(word)
        else:
            break
    try:
        quiet = "-q" in rest or "--quiet" in rest
        log.quiet = quiet
        fw.root()
        cmd = " ".join(words)
        if cmd in ("", "create", "delete", "get", "export", "load"):
            p = _parse(rest, [])
            if p.args:
                raise cf.FlagError(f'unknown command "{p.args[0]}" for "{" ".join(["kind", *words])}"')
            out.write(USAGE)
            return 0
        return _dispatch(cmd, rest, log, out)
    except (cf.FlagError, KindError) as e:
        log.error(f"ERROR: {e}")
        if isinstance(e, KindError) and e.output is not None:
            log.error(f"\nCommand Output: {e.output}")
        return 1


def _dispatch(cmd: str, args: list[str], log: Logger, out: IO[str]) -> int:
    if cmd == "version":
        p = _parse(args, [])
        cf.no_args(p, "kind version")
        out.write(f"kind v{core.VERSION} {core.GO_VERSION} linux/amd64\n" if not p.values["quiet"] else f"{core.VERSION}\n")
        return 0
    if cmd == "create cluster":
        p = _parse(args, [cf.Flag("name", short="n", default=""), cf.Flag("config", default=""), cf.Flag("image", default=""),
                          cf.Flag("retain", "bool", default=False), cf.Flag("wait", "duration", default=0.0),
                          cf.Flag("kubeconfig", default="")])
        cf.no_args(p, "kind create cluster")
        log.verbosity = p.values["verbosity"]
        name = core._name_flag(p, "")
        provider = provider_from_env(log)
        try:
            core.create(provider, log, p.values, name)
        except KindError as e:
            raise e.wrap("failed to create cluster") from None
        return 0
    if cmd == "delete cluster":
        p = _parse(args, [cf.Flag("name", short="n", default="kind"), cf.Flag("kubeconfig", default="")])
        cf.no_args(p, "kind delete cluster")
        name = core._name_flag(p, "kind")
        provider = provider_from_env(log)
        log.info(f'Deleting cluster "{name}" ...')
        try:
            core.delete_cluster(provider, log, name, p.values["kubeconfig"])
        except KindError as e:
            raise e.wrap(f'failed to delete cluster "{name}"') from None
        return 0
    if cmd == "delete clusters":
        p = _parse(args, [cf.Flag("kubeconfig", default=""), cf.Flag("all", "bool", short="A", default=False)])
        if not p.values["all"] and not p.args:
            raise KindError("no cluster names provided")
        provider = provider_from_env(log)
        names = p.args
        if p.values["all"]:
            try:
                names = provider.list_clusters()
            except KindError as e:
                raise e.wrap("failed listing clusters for delete") from None
        done = []
        for name in names:
            try:
                core.delete_cluster(provider, log, name, p.values["kubeconfig"])
                done.append(name)
            except KindError as e:
                log.info(f'failed to delete cluster "{name}": {e}\n')
        log.info("Deleted clusters: [" + " ".join(f'"{n}"' for n in done) + "]")
        return 0
    if cmd == "get clusters":
        p = _parse(args, [])
        cf.no_args(p, "kind get clusters")
        clusters = provider_from_env(log).list_clusters()
        if not clusters:
            log.info("No kind clusters found.")
        out.write("".join(f"{c}\n" for c in clusters))
        return 0
    if cmd == "get nodes":
        p = _parse(args, [cf.Flag("name", short="n", default="kind"), cf.Flag("all-clusters", "bool", short="A", default=False)])
        cf.no_args(p, "kind get nodes")
        name = core._name_flag(p, "kind")
        nodes = provider_from_env(log).list_nodes(name)
        if not nodes:
            log.info(f'No kind nodes found for cluster "{name}".')
        out.write("".join(f"{n}\n" for n in nodes))
        return 0
    if cmd == "get kubeconfig":
        p = _parse(args, [cf.Flag("name", short="n", default="kind"), cf.Flag("internal", "bool", default=False)])
        cf.no_args(p, "kind get kubeconfig")
        cfg = core.kind_kubeconfig(provider_from_env(log), core._name_flag(p, "kind"), p.values["internal"])
        out.write(kcfg.encode(cfg) + "\n")
        return 0
    if cmd == "export kubeconfig":
        p = _parse(args, [cf.Flag("name", short="n", default="kind"), cf.Flag("kubeconfig", default=""), cf.Flag("internal", "bool", default=False)])
        cf.no_args(p, "kind export kubeconfig")
        name = core._name_flag(p, "kind")
        kcfg.write_merged(core.kind_kubeconfig(provider_from_env(log), name, p.values["internal"]), p.values["kubeconfig"])
        log.info(f'Set kubectl context to "{kcfg.key(name)}"')
        return 0
    if cmd == "export logs":
        p = _parse(args, [cf.Flag("name", short="n", default="kind")])
        cf.max_args(p, 1)
        core.export_logs(provider_from_env(log), log, core._name_flag(p, "kind"), p.args[0] if p.args else None, out)
        return 0
    if cmd == "load image-archive":
        p = _parse(args, [cf.Flag("name", short="n", default="kind"), cf.Flag("nodes", "list", split=True)])
        if not p.args:
            raise cf.FlagError("name of image archive is required")
        provider = provider_from_env(log)
        if len(p.args) > 1:
            log.info("It is suggested that you save multiple images into a common archive and load that instead of loading multiple archives for better performance")
        core.load_archives(provider, log, core._name_flag(p, "kind"), p.values["nodes"], p.args)
        return 0
    if cmd == "load docker-image":
        raise KindError('failed to detect containerd snapshotter: command "docker save" is not available in the fake world')
    raise cf.FlagError(f'unknown command "{cmd}" for "kind"')


def main() -> int:
    return run(sys.argv[1:], sys.stdout, sys.stderr)

