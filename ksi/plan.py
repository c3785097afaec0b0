"""What one ksi member will create, decided before anything is created: a pure value.

``RunOptions`` is what the user asked for (command line, then ``KSI_*`` variables, then
defaults).  ``make_plan`` turns options, the Slurm context and the ports chosen on this node into
a ``RunPlan``: names, ports, subnets and paths.  Nothing here touches processes, so all of it is
tested without a cluster.

Names: ``ksi-<job>-<step>-<rank>`` inside a real job step (unique per job step and member, and
tells ``ksi delete --stale`` which job owns it); ``ksi-<job>-<step>p<pid><6 hex>-0`` in a job but
outside a step of its own (the batch step, an ``salloc`` shell, ``srun --pty bash``: several runs,
in a row or at once, each with its own name and job directory); ``ksi-p<pid>-<6 hex>`` outside
Slurm (the random part keeps two runs apart even across pid reuse).  kind allows ``^[a-z0-9.-]+$`` and, with the
``-control-plane`` suffix, a 63-character host name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ksi import constants as C
from ksi.errors import UsageError
from ksi.slurm import SlurmContext

NAME_RE = re.compile(r"^[a-z0-9.-]+$")
MAX_NAME = 63 - len("-control-plane")
JOB_NAME_RE = re.compile(r"^ksi-(?P<job>\d+)-(?P<step>[a-z0-9]+)-(?P<rank>\d+)$")
STANDALONE_NAME_RE = re.compile(r"^ksi-p(?P<pid>\d+)-(?P<nonce>[0-9a-f]{6})$")
#: Subnets are derived from the rank so that federated members never overlap (Liqo then needs
#: no NAT; see TECH-NOTES §4).  Pods get a /16 of 100.64.0.0/10 (shared address space) and
#: services a /21 of 198.18.0.0/15 (benchmarking space): ranges site networks, kind's defaults
#: and Liqo's own (10.70.0.0/16 external, 10.80.0.0/16 internal) do not use.  This bounds a
#: federation to 64 members.
MAX_MEMBERS = 64

# The Docker/OCI reference grammar (distribution/reference), as a single expression.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)?"
_TAG = r"(?::[\w][\w.-]{0,127})?"
_DIGEST = r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
IMAGE_RE = re.compile(rf"^{_DOMAIN}{_COMPONENT}(?:/{_COMPONENT})*{_TAG}{_DIGEST}$")


@dataclass(frozen=True)
class RunOptions:
    """What the user asked of ``ksi run``."""

    workload: Path
    args: tuple[str, ...] = ()
    workdir: Path = Path(".")
    image: str = C.DEFAULT_NODE_IMAGE
    port: int | None = None
    timeout: float = C.DEFAULT_TIMEOUT
    keep: bool = False
    dry_run: bool = False
    verbose: bool = False
    shared_dir: Path = C.DEFAULT_SHARED_DIR
    api_address: str | None = None
    grace: float = C.DEFAULT_GRACE
    token_ttl: int | None = None
    federation: bool = True
    #: a manifest workload's checked documents (``ksi/manifests/``); empty for a script
    manifests: tuple[Any, ...] = ()
    #: ``--for``: how long a manifest workload without Jobs or Pods runs (seconds)
    for_seconds: float | None = None
    #: ``ksi shell``: the command to run (() = $SHELL); None for ``ksi run``
    shell: tuple[str, ...] | None = None
    #: start teardown on our own this many seconds before the job's end (Slurm's time limit)
    teardown_margin: float = C.TEARDOWN_MARGIN
    #: the one deadline of the whole teardown, in seconds (fits Slurm's KillWait)
    teardown_timeout: float = C.TEARDOWN_TIMEOUT
    #: save diagnostics (kind logs, events, pod logs) even when the run succeeds
    collect_logs: bool = False
    #: image archives to load into every member's cluster (``kind load image-archive``)
    load_images: tuple[Path, ...] = ()
    #: start kind's node containers with bypass4netns (through a nerdctl shim on kind's PATH)
    bypass4netns: bool = False
    #: a local Liqo chart for offline nodes (``liqoctl install --local-chart-path``)
    liqo_chart: Path | None = None
    #: Liqo chart values (``liqoctl install --set KEY=VALUE``), validated by ``federation``
    liqo_set: tuple[str, ...] = ()


@dataclass(frozen=True)
class Gateway:
    """The Liqo WireGuard gateway of a follower: a UDP NodePort published on a host port."""

    node_port: int
    host_port: int


@dataclass(frozen=True)
class RunPlan:
    """Everything one member creates, named and numbered."""

    cluster_name: str
    rank: int
    members: int
    node: str
    image: str
    workdir: Path
    api_address: str
    api_port: int
    k8s_port: int
    pod_subnet: str
    service_subnet: str
    run_dir: Path
    gateway: Gateway | None = None

    @property
    def run_id(self) -> str:
        """The job directory's name under ``<shared-dir>/jobs``: ``<job>.<step>`` of the name."""
        match = JOB_NAME_RE.match(self.cluster_name)
        return f"{match['job']}.{match['step']}" if match else self.cluster_name

    @property
    def context_name(self) -> str:
        """The kube context in the exported kubeconfig: the cluster name itself."""
        return self.cluster_name

    @property
    def api_url(self) -> str:
        host = f"[{self.api_address}]" if ":" in self.api_address else self.api_address
        return f"https://{host}:{self.api_port}"

    @property
    def kind_kubeconfig(self) -> Path:
        """kind's own kubeconfig (admin client certificate): ksi's use only."""
        return kind_kubeconfig_in(self.run_dir)

    @property
    def kubeconfig(self) -> Path:
        """The kubeconfig exported to the workload (service-account token, one context)."""
        return self.run_dir / "kubeconfig"

    @property
    def ca_file(self) -> Path:
        return self.run_dir / "ca.crt"

    @property
    def shim_dir(self) -> Path:
        """The nerdctl shim put first on kind's PATH for --bypass4netns."""
        return self.run_dir / "shim"

    @property
    def config_file(self) -> Path:
        return self.run_dir / "kind-config.yaml"


@dataclass(frozen=True)
class ClusterName:
    """What a ksi cluster's name says about its owner: a job step's member, or a process."""

    job: str | None = None
    step: str | None = None
    rank: int | None = None
    pid: int | None = None

    @property
    def owner(self) -> str:
        return f"job {self.job}.{self.step}" if self.job else "standalone"


def parse_cluster_name(name: str) -> ClusterName | None:
    """The one parser of the names ``cluster_name`` makes; None for any other name."""
    match = JOB_NAME_RE.match(name)
    if match:
        return ClusterName(job=match["job"], step=match["step"], rank=int(match["rank"]))
    match = STANDALONE_NAME_RE.match(name)
    if match:
        return ClusterName(pid=int(match["pid"]))
    return None


def run_dir_for(run_root: Path, name: str) -> Path:
    """The node-local run directory of cluster ``name`` (0700; kubeconfigs, CA, kind config)."""
    return run_root / "runs" / name


def kind_kubeconfig_in(run_dir: Path) -> Path:
    """kind's own kubeconfig (admin client certificate) in a run directory: ksi's use only."""
    return run_dir / "kind.kubeconfig"


def cluster_name(ctx: SlurmContext, pid: int, nonce: str) -> str:
    if ctx.job_id is None:
        name = f"ksi-p{pid}-{nonce}"
    else:
        step = re.sub(r"[^a-z0-9]", "", (ctx.step_id or "0").lower()) or "0"
        if not ctx.in_own_step(pid):
            step = f"{step}p{pid}{nonce}"
        name = f"ksi-{ctx.job_id}-{step}-{ctx.rank}"
    if not NAME_RE.match(name) or len(name) > MAX_NAME:
        raise UsageError(f"cannot derive a valid kind cluster name from {name!r}")
    return name


def subnets(rank: int) -> tuple[str, str]:
    """Pod and service subnets of member ``rank``: disjoint across members."""
    if not 0 <= rank < MAX_MEMBERS:
        raise UsageError(f"ksi federates at most {MAX_MEMBERS} nodes (this is rank {rank})",
                         hint="ask for fewer nodes, or use --no-federation")
    return f"100.{64 + rank}.0.0/16", f"198.{18 + rank // 32}.{(rank % 32) * 8}.0/21"


def check_image(ref: str) -> str:
    if len(ref) > 255 or not IMAGE_RE.match(ref):
        raise UsageError(
            f"{ref!r} is not a valid image reference",
            hint="use NAME[:TAG][@sha256:DIGEST], e.g. kindest/node:v1.33.1",
        )
    return ref


def make_plan(
    opts: RunOptions,
    ctx: SlurmContext,
    *,
    pid: int,
    nonce: str,
    api_address: str,
    api_port: int,
    k8s_port: int,
    run_root: Path,
    gateway_host_port: int | None = None,
) -> RunPlan:
    name = cluster_name(ctx, pid, nonce)
    pod, service = subnets(ctx.rank)
    gateway = (Gateway(C.GATEWAY_NODE_PORT, gateway_host_port)
               if gateway_host_port is not None else None)
    return RunPlan(
        cluster_name=name,
        rank=ctx.rank,
        members=ctx.members,
        node=ctx.node_name,
        image=check_image(opts.image),
        workdir=opts.workdir,
        api_address=api_address,
        api_port=api_port,
        k8s_port=k8s_port,
        pod_subnet=pod,
        service_subnet=service,
        run_dir=run_dir_for(run_root, name),
        gateway=gateway,
    )
