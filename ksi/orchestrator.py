"""``ksi run`` for one member: bring-up as a list of named steps, each with its undo, and the
one teardown that unwinds them (the engine is ``ksi.steps``; the steps live in ``ksi.bringup``
and ``ksi.roles``, and share one ``RunState``).

The steps, chosen for the member's role once the election is done (``--dry-run`` prints them):

    every member: check tools -> rendezvous -> reap stale clusters -> register cluster
                  -> watch the others -> prepare tools -> load node image from cache -> create cluster
                  -> wait for nodes -> start image loads
    standalone:   credentials -> load images -> workload
    leader:       [install Liqo -> load images -> liqo ready] -> wait for members
                  -> [peer -> virtual nodes] -> credentials -> [offload namespace | load images]
                  -> workload
    follower:     share kubeconfig -> [install Liqo ->] load images [-> liqo ready]
                  -> wait for leader

(brackets: with federation, i.e. several members and no ``--no-federation``).  Undos, pushed as
their step starts and run last-first by the teardown:

    release ports    <- the plan's port claims (made before any step)
    leave rendezvous <- rendezvous            delete cluster   <- register cluster
    collect diagnostics <- create cluster     stop image loads <- start image loads
    stop watching <- watch the others (ksi/watch.py: the others' news stops our running tool)
    stop Liqo install <- wait for nodes (with federation the install starts there, as soon as
                         the API server can take it, and "install Liqo" joins it after Ready)

Teardown runs on every way out: success, failure, an error in any step (a bug included: it ends
with exit code 8), SIGINT/SIGTERM/SIGHUP (signals only raise a flag; the running tool or
workload is stopped and we unwind to here).  It runs under one deadline (``--teardown-timeout``,
fitting Slurm's KillWait); an undo that fails or hangs is reported and the next one still runs,
and output errors (EPIPE, EIO) never stop it.  The cluster itself is deleted by
``cluster.teardown``, the function ``ksi delete`` and the guardian use too; a registry record
written before ``kind create`` lets the next ``ksi run``/``ksi delete --stale`` (or the guardian)
finish the job if ksi itself is SIGKILLed.
"""

from __future__ import annotations

import time
from functools import partial

from ksi import bringup as B
from ksi import cluster
from ksi import constants as C
from ksi import federation
from ksi import roles as R
from ksi import watch as W
from ksi import workload as workload_mod
from ksi.errors import InternalError, KsiError, TeardownError, UsageError
from ksi.inputs import check_inputs
from ksi.plan import RunOptions
from ksi.progress import Progress
from ksi.rendezvous import Outcome, describe
from ksi.runstate import RunState
from ksi.signals import Shutdown
from ksi.slurm import SlurmContext
from ksi.steps import DEFAULT_RESERVE, Bringup, Step, Undo

__all__ = ["Member", "check_inputs", "run_member"]

#: seconds kept free for ``kind delete`` at the end of the teardown deadline
DELETE_RESERVE = 12.0
#: the most stopping a Liqo install started early may take (the runner's TERM, 3 s, KILL)
STOP_INSTALL_BUDGET = 5.0
#: the most stopping a ``kind load`` may take (its process group: TERM, 3 s, KILL), so that a
#: hanging one leaves the diagnostics their time
STOP_LOADS_BUDGET = 6.0


def run_member(opts: RunOptions) -> int:
    ctx = SlurmContext.from_env()
    out = Progress(node=ctx.node_name, rank=ctx.rank if ctx.in_slurm else None,
                   verbose=opts.verbose)
    opts = check_inputs(opts, warn=out.say, members=ctx.members, rank=ctx.rank)
    federation.check_size(ctx.members, opts.federation)
    shutdown = Shutdown().install()
    try:
        return Member(RunState.start(opts, ctx, shutdown, out)).run()
    finally:
        shutdown.uninstall()


class Member:
    """One ksi task: chooses its steps, runs them, and tears down whatever happened."""

    def __init__(self, state: RunState) -> None:
        self.s = state
        self.bringup = Bringup(state.phase)

    def step(self, name: str, do: B.StepFn, undo: tuple[str, B.UndoFn] | None = None,
             *, phase: bool = True, reserve: float = DEFAULT_RESERVE,
             budget: float | None = None) -> Step:
        """A step whose functions take the run state."""
        made = None
        if undo is not None:
            made = Undo(undo[0], partial(undo[1], self.s), reserve=reserve, budget=budget)
        return Step(name, partial(do, self.s), made, phase=phase)

    def common_steps(self) -> list[Step]:
        """Every member's steps, up to a Ready cluster."""
        st = self.step
        return [
            st("check tools", B.require_tools, phase=False),
            st("rendezvous", B.join, ("leave rendezvous", B.leave)),
            st("reap stale clusters", B.reap_stale, phase=False),
            st("register cluster", B.register, ("delete cluster", B.delete_cluster),
               phase=False, reserve=DELETE_RESERVE),
            st("watch the others", W.start_watching, ("stop watching", W.stop_watching),
               phase=False),
            st("prepare tools", B.prepare_tools, phase=False),
            st("load node image from cache", B.node_image, phase=False),
            st("create cluster", B.create, ("collect diagnostics", B.collect_diagnostics)),
            st("wait for nodes", B.wait_ready, ("stop Liqo install", R.stop_liqo_install),
               budget=STOP_INSTALL_BUDGET),
            st("start image loads", B.start_loader, ("stop image loads", B.stop_loader),
               phase=False, budget=STOP_LOADS_BUDGET),
        ]

    def role_steps(self, role: str) -> list[Step]:
        """The steps of ``role`` (standalone, leader, follower) after the cluster is Ready."""
        st, federate = self.step, self.s.federate
        load = st("load images", B.join_loader, phase=False)
        liqo = [st("install Liqo", R.install_liqo), load,
                st("liqo ready", R.liqo_ready, phase=False)] if federate else []
        if role == "follower":
            # the leader needs a follower's admin kubeconfig only to peer
            share = [st("share kubeconfig", R.share_kubeconfig, phase=False)] if federate else []
            return [*share, *(liqo or [load]), st("wait for leader", R.follow)]
        steps = [*liqo]
        if role == "leader":
            steps.append(st("wait for members", R.wait_members))
        if federate:
            steps += [st("peer", R.peer), st("virtual nodes", R.virtual_nodes)]
        steps.append(st("credentials", R.credentials))
        steps.append(st("offload namespace", R.offload) if federate else load)
        steps.append(st("workload", R.run_workload))
        return steps

    # --- the run -------------------------------------------------------------------------------
    def run(self) -> int:
        s = self.s
        error: KsiError | None = None
        try:
            self._run()
        except UsageError as exc:  # bad input: the user's to fix, not a place in the run
            error = exc
        except KsiError as exc:
            error = exc.located(node=s.ctx.node_name, rank=s.ctx.rank, phase=s.phase_name)
        except BrokenPipeError:  # our stdout closed (`--dry-run | head -c 1`): not a bug
            raise  # (teardown still runs; the CLI exits 128+SIGPIPE, see ksi.cli._common)
        except Exception as exc:  # noqa: BLE001 - a bug: still tear down, still tell the others
            error = InternalError.from_exception(exc).located(
                node=s.ctx.node_name, rank=s.ctx.rank, phase=s.phase_name)
        finally:
            s.failed = error is not None or s.exit_code != C.EXIT_OK
            if error is not None:
                self._publish_failure(error)
            teardown_error = self._teardown()
        if error is not None:
            if teardown_error is not None:
                s.out.say(teardown_error.one_line())
            raise error
        if teardown_error is not None:
            if s.exit_code == C.EXIT_OK:  # the workload ran and succeeded: ksi's failure
                teardown_error.workload_code = s.exit_code  # (not raised yet: 125, said so)
                self._publish_outcome(Outcome("failed", teardown_error.run_code,
                                              describe(teardown_error), whose="ksi",
                                              cause=teardown_error.cause))
                raise teardown_error
            s.out.say(teardown_error.one_line())
        if not s.opts.dry_run:
            s.out.summary(f"finished with exit code {s.exit_code}")
        return s.exit_code

    def _run(self) -> None:
        s = self.s
        self.bringup.push(Undo("release ports", lambda _seconds: s.claims.release()))
        B.choose_plan(s)
        if s.opts.dry_run:
            self._print_dry_run()
            return
        self.bringup.run(self.common_steps())
        self.bringup.run(self.role_steps(s.role))

    def _print_dry_run(self) -> None:
        s, plan = self.s, self.s.plan
        roles = ["standalone"] if s.ctx.members == 1 else ["leader", "follower"]
        common = [step.name for step in self.common_steps()]
        lines = [
            "# ksi run --dry-run: nothing was created",
            f"# cluster:    {plan.cluster_name} (rank {plan.rank} of {plan.members})",
            f"# api server: {plan.api_url}",
            f"# K8S_PORT:   {plan.k8s_port}",
            f"# workload:   {workload_mod.describe(s.opts)}",
            f"# /app:       {plan.workdir}",
            f"# federation: {'Liqo ' + C.LIQO_VERSION if s.federate else 'none'}",
            f"# files:      {plan.run_dir}",
            *[f"# steps ({role}): " + " -> ".join(
                common + [step.name for step in self.role_steps(role)]) for role in roles],
            f"# teardown:   within {s.opts.teardown_timeout:g}s, last step first: "
            "stop image loads, stop Liqo install, collect diagnostics (on failure), "
            "stop watching, delete cluster, leave rendezvous, release ports",
        ]
        print("\n".join(lines))
        print(cluster.render_config(plan), end="")

    # --- failure and teardown ------------------------------------------------------------------
    def _publish_failure(self, error: KsiError) -> None:
        job, record = self.s.job_, self.s.record
        if job is None or record is None:
            return
        try:
            record.status = "failed"
            record.phase = error.phase or ""
            record.error = error.message
            job.publish(record)
            if job.is_leader and job.outcome() is None:
                job.publish_outcome(Outcome("failed", error.run_code, describe(error),
                                            whose="ksi", cause=error.cause))
        except Exception:  # noqa: BLE001 - the shared filesystem failing must not stop teardown
            pass

    def _publish_outcome(self, outcome: Outcome) -> None:
        """Leader: record the run's final outcome (a record only: the followers have left)."""
        job = self.s.job_
        if job is None or not job.is_leader:
            return
        try:
            job.publish_outcome(outcome)
        except Exception:  # noqa: BLE001 - the shared filesystem failing changes no exit code
            pass

    def _teardown(self) -> TeardownError | None:
        """Unwind every pushed undo under one deadline; the first problem, if any."""
        outcome = self.bringup.teardown(time.monotonic() + self.s.opts.teardown_timeout)
        for problem in outcome.problems[1:]:
            self.s.out.say(f"warning: {problem.message}")
        return outcome.error()
