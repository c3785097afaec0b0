"""The run state of one ``ksi run`` member: what it was asked, where it stands, what it made.

One value passed to every step function (``ksi.bringup``, ``ksi.roles``).  The inputs (options,
Slurm context, output, runner and tool wrappers, the port claims) are set at the start; the plan
is made before any step (it decides what the steps create); the rest is filled in by the one
step that makes it: ``job``/``record`` by the rendezvous, ``loader`` by start image loads,
``records`` by wait for members, ``env`` by credentials, ``exit_code`` by the workload (or the
leader's outcome).  Teardown never looks here: it runs the undos the steps pushed
(``ksi.steps``).
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ksi import constants as C
from ksi import images
from ksi.errors import InternalError
from ksi.exec import Runner
from ksi.kube import Kube
from ksi.paths import runtime_root
from ksi.plan import RunOptions, RunPlan
from ksi.ports import PortClaims
from ksi.progress import PhaseMark, Progress
from ksi.rendezvous import JobDir, MemberRecord
from ksi.signals import Shutdown
from ksi.slurm import SlurmContext, job_end_time
from ksi.tools.env import ToolEnv
from ksi.tools.kind import Kind
from ksi.tools.liqoctl import Liqoctl

if TYPE_CHECKING:
    from ksi.federation import BackgroundInstall, Peering
    from ksi.watch import Watcher


@dataclass
class RunState:
    """Everything the steps of one member share."""

    opts: RunOptions
    ctx: SlurmContext
    shutdown: Shutdown
    out: Progress
    runner: Runner
    kind: Kind
    liqo: Liqoctl
    claims: PortClaims
    #: the tools' environment; ``prepare tools`` replaces it with the run's own
    tools: ToolEnv = field(default_factory=ToolEnv.current)
    started: float = field(default_factory=time.monotonic)
    #: the job's end (epoch seconds) when Slurm gives it a time limit
    job_end: float | None = None
    phase_name: str | None = None
    #: set before teardown: diagnostics are kept for a failed run
    failed: bool = False
    exit_code: int = C.EXIT_OK
    plan_: RunPlan | None = None
    job_: JobDir | None = None
    record: MemberRecord | None = None
    loader: images.Loader | None = None
    #: False when kind said the cluster's name was taken: never delete somebody else's
    owns_cluster: bool = True
    records: dict[int, MemberRecord] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    #: the Liqo install, started during wait for nodes, joined by install Liqo
    liqo_install: "BackgroundInstall | None" = None
    #: the leader's peerings, started by wait for members, finished by peer
    peering: "Peering | None" = None
    watcher: "Watcher | None" = None  # ksi/watch.py, between "watch the others" and the workload

    @classmethod
    def start(cls, opts: RunOptions, ctx: SlurmContext, shutdown: Shutdown,
              out: Progress) -> "RunState":
        runner = Runner(shutdown, grace=3.0, log=out.debug)
        tools = ToolEnv.current()
        return cls(opts=opts, ctx=ctx, shutdown=shutdown, out=out, runner=runner,
                   kind=Kind(runner, dict(tools.kind)), liqo=Liqoctl(runner, dict(tools.base)),
                   claims=PortClaims(runtime_root()), tools=tools,
                   job_end=job_end_time(ctx))

    def use_tools(self, tools: ToolEnv) -> None:
        """From now on every tool runs in ``tools``' environment."""
        self.tools = tools
        self.kind = Kind(self.runner, dict(tools.kind))
        self.liqo = Liqoctl(self.runner, dict(tools.base))

    # --- what the steps made -------------------------------------------------------------------
    @property
    def plan(self) -> RunPlan:
        if self.plan_ is None:
            raise InternalError("a step needs the plan before it was made")
        return self.plan_

    @property
    def job(self) -> JobDir:
        if self.job_ is None:
            raise InternalError("a step needs the job directory before the rendezvous")
        return self.job_

    @property
    def federate(self) -> bool:
        return self.opts.federation and self.ctx.members > 1

    @property
    def role(self) -> str:
        """standalone (one member), leader or follower (known after the rendezvous)."""
        if self.ctx.members == 1:
            return "standalone"
        return "leader" if self.job_ is not None and self.job_.is_leader else "follower"

    # --- helpers of the steps ------------------------------------------------------------------
    def phase(self, name: str) -> AbstractContextManager[PhaseMark]:
        """A phase line and event; the phase an error is located in.  Its ``PhaseMark`` lets the
        phase say it failed without an exception, or add a note."""
        self.phase_name = name
        return self.out.phase(name)

    def status(self, status: str) -> None:
        """Publish this member's progress in the job directory (see ``rendezvous``)."""
        if self.job_ is not None and self.record is not None:
            self.record.status = status
            self.record.phase = self.phase_name or ""
            self.job_.publish(self.record)

    def remaining(self) -> float:
        """Seconds left of the bring-up timeout (at least one, so a step can say it timed out),
        never reaching past the point where teardown must start before the job's end."""
        left = self.opts.timeout - (time.monotonic() - self.started)
        deadline = self.workload_deadline()
        if deadline is not None:
            left = min(left, deadline - time.monotonic())
        return max(1.0, left)

    def workload_deadline(self) -> float | None:
        """Monotonic time at which to stop on our own, a margin before Slurm's time limit."""
        if self.job_end is None:
            return None
        left = self.job_end - time.time() - self.opts.teardown_margin
        return time.monotonic() + max(0.0, left)

    def token_ttl(self) -> int:
        if self.opts.token_ttl:
            return self.opts.token_ttl
        if self.job_end is not None:
            return max(C.MIN_TOKEN_TTL, int(self.job_end - time.time()))
        return C.DEFAULT_TOKEN_TTL

    def kube(self) -> Kube:
        return Kube(self.plan.kind_kubeconfig, context=f"kind-{self.plan.cluster_name}")
