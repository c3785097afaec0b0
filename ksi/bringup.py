"""The steps every member runs, up to a Ready cluster, and their undos (see ``orchestrator``).

Each function takes the ``RunState``; an undo also takes the seconds it may spend (``steps``).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from typing import Callable

from ksi import (cluster, diagnostics, federation, guardian, housekeeping, images, interactive,
                 registry, roles)
from ksi import constants as C
from ksi.errors import CommandError, KsiError, RendezvousError, TeardownError
from ksi.paths import private_dir, runtime_root
from ksi.plan import make_plan
from ksi.reaper import inventory, reap
from ksi.rendezvous import JobDir, MemberRecord
from ksi.runstate import RunState
from ksi.slurm import job_identity, job_state, node_address
from ksi.tools.env import ToolEnv

StepFn = Callable[[RunState], None]
UndoFn = Callable[[RunState, float], None]

#: seconds ``kind delete`` may spend on its runner's TERM->KILL grace after its own timeout
KILL_SLACK = 5.5


def choose_plan(s: RunState) -> None:
    """Names, ports and paths of this member (ports claimed, released by the last undo)."""
    import secrets

    address = node_address(s.ctx, s.opts.api_address)
    if s.opts.port is not None:
        k8s_port = s.claims.require(s.opts.port, "tcp", "0.0.0.0", "--port/K8S_PORT")
    else:
        k8s_port = s.claims.pick("tcp", "0.0.0.0", C.NODEPORT_MIN, C.NODEPORT_MAX)
    gateway = s.claims.pick("udp", "0.0.0.0") if s.federate else None
    s.plan_ = make_plan(s.opts, s.ctx, pid=os.getpid(), nonce=secrets.token_hex(3),
                        api_address=address, api_port=s.claims.pick("tcp", address),
                        k8s_port=k8s_port, run_root=runtime_root(), gateway_host_port=gateway)


def repick_ports(s: RunState) -> None:
    plan = s.plan
    k8s_port = plan.k8s_port if s.opts.port is not None else s.claims.pick(
        "tcp", "0.0.0.0", C.NODEPORT_MIN, C.NODEPORT_MAX)
    gateway = plan.gateway
    if gateway is not None:
        gateway = replace(gateway, host_port=s.claims.pick("udp", "0.0.0.0"))
    s.plan_ = replace(plan, api_port=s.claims.pick("tcp", plan.api_address),
                      k8s_port=k8s_port, gateway=gateway)


def require_tools(s: RunState) -> None:
    """`ksi doctor`'s fast checks, same messages: the tools on PATH, the shared directory.
    (cgroup v2 is left to kind, whose own error names the fix; `ksi doctor` checks it.)"""
    from ksi import doctor

    checks = doctor.fast_checks(s.opts.shared_dir, multi_node=s.federate)
    doctor.raise_on_failure([c for c in checks if "cgroup" not in c.name])


def join(s: RunState) -> None:
    """Meet the other members in the job directory and take part in the election."""
    plan = s.plan
    identity = job_identity(s.ctx.job_id) if s.ctx.job_id else None  # earlier job, same id?
    s.job_ = job = JobDir(s.opts.shared_dir, plan.run_id, rank=s.ctx.rank, members=s.ctx.members,
                          warn=s.out.say, identity=identity)
    s.out.events_path = job.events_path(s.ctx.rank)
    if job.outcome() is not None:
        raise RendezvousError(f"this job step already ended ({job.outcome_path})",
                              hint="this member started too late; see the leader's output")
    if s.opts.shell is not None:  # ksi shell: the shell runs where the terminal is, rank 0 leads
        leader = interactive.elect(job, s.ctx.rank, s.ctx.node_name, timeout=s.remaining(),
                                   shutdown=s.shutdown)
    else:
        leader = job.elect(s.ctx.node_name)
    s.record = MemberRecord(rank=s.ctx.rank, node=s.ctx.node_name, address=plan.api_address,
                            cluster=plan.cluster_name, pid=os.getpid(),
                            api_port=plan.api_port,
                            gateway_port=plan.gateway.host_port if plan.gateway else 0)
    job.publish(s.record)
    role = "leader" if leader else "follower"
    s.out.say(f"{role} of {s.ctx.members} member(s); cluster {plan.cluster_name}; "
              f"job directory {job.path}")
    if leader:  # old finished job directories (``housekeeping``)
        housekeeping.prune(s.opts.shared_dir, housekeeping.JOB_DIR_MAX_AGE_DAYS, job_state,
                           budget=housekeeping.RUN_BUDGET)


def leave(s: RunState, seconds: float) -> None:
    """Undo of the rendezvous: our credential goes; a leader also frees lock and secrets."""
    if s.job_ is None:
        return
    s.job_.drop_secret(s.ctx.rank)
    if s.job_.is_leader:
        s.job_.cleanup()


def reap_stale(s: RunState) -> None:
    """Delete this user's clusters on this node whose owner is gone (SIGKILLed runs)."""
    try:
        stale = [e for e in inventory(s.kind, job_state) if e.state == "stale"]
    except KsiError as exc:
        s.out.say(f"warning: could not look for stale clusters: {exc.message}")
        return
    if stale:
        with s.phase("reap stale clusters"):
            deleted, errors = reap(s.kind, stale)
            for name in deleted:
                s.out.say(f"deleted stale cluster {name}")
            for line in errors:
                s.out.say(f"warning: could not delete stale cluster {line}")


def cluster_record(s: RunState) -> registry.Record:
    plan = s.plan
    return registry.new_record(
        plan.cluster_name, s.ctx.job_id, s.ctx.step_id, plan.rank, plan.run_dir,
        job_dir=s.job_.path if s.job_ else None, leader=bool(s.job_ and s.job_.is_leader))


def register(s: RunState) -> None:
    """The run directory, the registry record and the guardian, before anything is made."""
    plan = s.plan
    registry.refuse_taken(plan.cluster_name)  # another live run's: touch nothing
    private_dir(plan.run_dir.parent, what="runs directory")
    private_dir(plan.run_dir, what="run directory")
    registry.save(cluster_record(s))
    why = guardian.start(s.runner, plan.cluster_name, dict(os.environ))
    if why:
        s.out.say(f"warning: no guardian outside the job ({why}); if ksi is killed, the next "
                  f"`ksi run` or `ksi delete --stale` on {s.ctx.node_name} deletes the cluster")


def prepare_tools(s: RunState) -> None:
    """The one environment of the tools: proxies, the bypass4netns shim (``tools.env``)."""
    s.use_tools(ToolEnv.for_run(s.plan, bypass4netns=s.opts.bypass4netns,
                                liqo_ranges=federation.liqo_ranges(s.opts.liqo_set)))


def node_image(s: RunState) -> None:
    """Load the node image from the shared cache when this node lacks it (offline nodes)."""
    image = images.load_node_image(s.runner, dict(s.tools.base), s.opts.shared_dir,
                                   s.plan.image, phase=s.phase, say=s.out.say)
    if image != s.plan.image:
        s.plan_ = replace(s.plan, image=image)


def create(s: RunState) -> None:
    """``kind create cluster``, once more if another run on this node took a chosen port (with
    fresh ports) or created kind's network at the same moment (``cluster.is_network_race``)."""
    for attempt in (1, 2):
        try:
            cluster.create(s.kind, s.plan, timeout=s.remaining())
            return
        except CommandError as exc:
            if cluster.is_name_taken(exc.stderr):  # not ours: never delete it
                disown(s)
                raise
            port_clash = cluster.is_port_clash(exc.stderr)
            if attempt == 2 or not (port_clash or cluster.is_network_race(exc.stderr)):
                raise
            if port_clash:
                s.out.say("a chosen port was taken meanwhile; retrying with new ports")
            else:
                s.out.say("another run created kind's network at the same moment; retrying")
            cluster.delete(s.kind, s.plan, timeout=C.TEARDOWN_TIMEOUT)
            if port_clash:
                repick_ports(s)


def disown(s: RunState) -> None:
    """kind already has a cluster of this name: forget ours (record, guardian, run files) so
    that no undo deletes theirs."""
    s.owns_cluster = False
    guardian.stop(s.plan.run_dir)
    registry.remove(s.plan.cluster_name)
    shutil.rmtree(s.plan.run_dir, ignore_errors=True)


def wait_ready(s: RunState) -> None:
    """With federation the Liqo install starts here, as soon as the API server can take it
    (``roles.start_liqo_install``), and is joined by "install Liqo" after Ready."""
    kube = s.kube()
    early = (lambda: roles.start_liqo_install(s, kube)) if s.federate else None
    try:
        kube.wait_ready(timeout=s.remaining(), shutdown=s.shutdown, budget=s.opts.timeout,
                        on_answer=early)
    finally:
        kube.close()
    s.status("cluster-ready")


def start_loader(s: RunState) -> None:
    s.loader = images.Loader(dict(s.tools.kind), s.plan.cluster_name, list(s.opts.load_images),
                             log=s.out.debug).start()


def stop_loader(s: RunState, seconds: float) -> None:
    """Undo: a `kind load` still running must not outlive the run."""
    if s.loader is not None:
        s.loader.stop(timeout=seconds)


def join_loader(s: RunState) -> None:
    if s.loader is None or not s.opts.load_images:
        return
    with s.phase("load images"):
        s.loader.wait(timeout=s.remaining())


def collect_diagnostics(s: RunState, seconds: float) -> None:
    """Undo of ``create cluster``, before the cluster goes: on failure, or when asked."""
    if not (s.failed or s.opts.collect_logs) or s.job_ is None:
        return
    quick = s.shutdown.is_set() and not s.opts.collect_logs
    budget = diagnostics.QUICK_BUDGET if quick else diagnostics.BUDGET
    try:
        with s.phase("collect diagnostics"):
            where = diagnostics.collect(s.kind, s.plan, s.job_.diagnostics_dir(
                s.ctx.node_name, s.ctx.rank), quick=quick, budget=min(budget, seconds))
        s.out.say(f"diagnostics saved in {where}")
    except KsiError as exc:
        s.out.say(f"warning: could not save diagnostics: {exc.message}")


def delete_cluster(s: RunState, seconds: float) -> None:
    """Undo of ``register cluster``: the one cluster teardown (or keep it, with --keep)."""
    plan = s.plan
    if not s.owns_cluster:
        return  # somebody else's cluster (kind said the name exists)
    if s.opts.keep:
        keep(s)
        return
    try:
        with s.phase("delete cluster"):
            cluster.teardown(s.kind, plan.cluster_name, cluster_record(s),
                             timeout=max(1.0, seconds - KILL_SLACK), job_files=False)
    except KsiError as exc:
        raise TeardownError(f"could not delete cluster {plan.cluster_name}: {exc.message}",
                            hint=f"run `ksi delete {plan.cluster_name}`") from None


def keep(s: RunState) -> None:
    plan = s.plan
    record = registry.load(plan.cluster_name)
    if record is not None:
        record.kept = True
        registry.save(record)
    guardian.stop(plan.run_dir)
    kubeconfig = plan.kubeconfig if plan.kubeconfig.exists() else plan.kind_kubeconfig
    s.out.say(f"kept cluster {plan.cluster_name} (--keep); KUBECONFIG={kubeconfig}; "
              f"delete it with: ksi delete {plan.cluster_name}")
