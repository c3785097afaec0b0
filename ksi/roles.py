"""The steps that differ by role, once the cluster is Ready (see ``orchestrator``).

The leader (or a standalone member) waits for the others, peering with each follower as soon as
that follower's Liqo is ready ("wait for members" starts the peerings, "peer" finishes them),
makes the workload's credentials, offloads the workload namespace and runs the workload once;
a follower hands its kubeconfig to the leader, installs Liqo and waits for the leader's outcome.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from ksi import watch
from ksi import constants as C
from ksi import environment, federation
from ksi import workload as workload_mod
from ksi.errors import InternalError, KsiError, RendezvousError
from ksi.exec import Runner
from ksi.kube import Kube, user_kubeconfig
from ksi.paths import write_private
from ksi.pullwatch import PullWatch
from ksi.rendezvous import MemberRecord, Outcome
from ksi.runstate import RunState
from ksi.tools.liqoctl import Liqoctl


def share_kubeconfig(s: RunState) -> None:
    """Follower: the leader peers with us through our admin kubeconfig (0600, removed at
    teardown by the rendezvous undo)."""
    s.job.put_secret(s.ctx.rank, s.plan.kind_kubeconfig.read_text())


def start_liqo_install(s: RunState, kube: Kube | None = None) -> None:
    """Start ``liqoctl install`` in the background once the cluster can take it: called at every
    look of "wait for nodes" after the API server answered (``kube``: once it lists the
    controller manager, ``federation.BackgroundInstall`` says why that is enough), and by
    "install Liqo" if it has not started by then.  Idempotent."""
    if s.liqo_install is not None:
        return
    if kube is not None:
        try:
            if not kube.has_pods("kube-system", federation.CONTROL_PLANE_SELECTOR):
                return
        except Exception:  # noqa: BLE001 - the API server is still booting: the next look
            return
    liqo, plan, opts, timeout = s.liqo, s.plan, s.opts, s.remaining()

    def run(runner: Runner) -> None:
        federation.install(Liqoctl(runner, liqo.env), plan, timeout=timeout,
                           local_chart=opts.liqo_chart, values=opts.liqo_set)

    s.liqo_install = federation.BackgroundInstall(run, s.runner).start()


def install_liqo(s: RunState) -> None:
    """The Liqo install, started while the node became Ready, finished (its error, if any)."""
    start_liqo_install(s)
    assert s.liqo_install is not None
    s.liqo_install.join()


def stop_liqo_install(s: RunState, seconds: float) -> None:
    """Undo of "wait for nodes": a Liqo install started early must not outlive the run."""
    if s.liqo_install is not None:
        s.liqo_install.stop(seconds)


def liqo_ready(s: RunState) -> None:
    """Announced only once the images are in too: the leader starts the workload after it."""
    s.status("liqo-ready")


class _PeeringFailed(Exception):
    """Ends the wait for members: a peering failed, the "peer" step reports it."""


def wait_members(s: RunState) -> None:
    """Leader: wait until every member is ready; with federation, peer each follower as soon as
    its Liqo is ready (``federation.Peering``), so that peering hides the spread of the
    followers' bring-ups.  A failed peering ends the wait (the "peer" step reports every
    failure); any other way out stops the peerings still running before the error goes up."""
    if not s.federate:
        s.records = s.job.wait_all("cluster-ready", timeout=s.remaining(), shutdown=s.shutdown)
        s.use_tools(s.tools.bypassing([r.address for r in s.records.values()]))
        return
    s.peering = peering = federation.Peering(s.plan)

    def look(ready: Iterable[MemberRecord]) -> None:
        for r in ready:
            if r.rank == s.ctx.rank:
                continue
            # liqoctl peer calls the follower's API server: never through a proxy
            peering.submit(s.liqo.bypassing([r.address]), federation.Provider(
                rank=r.rank, node=r.node, address=r.address, gateway_port=r.gateway_port,
                kubeconfig=s.job.peer_kubeconfig(r.rank)), timeout=s.remaining())
        if peering.failed():
            raise _PeeringFailed

    try:
        s.records = s.job.wait_all("liqo-ready", timeout=s.remaining(), shutdown=s.shutdown,
                                   on_look=look)
    except _PeeringFailed:
        return  # reported by "peer", with every other failure
    except BaseException as exc:
        if peering.submitted:  # stop them as the watcher would, not after a peer's time
            s.shutdown.fail(exc if isinstance(exc, KsiError) else InternalError(str(exc)))
        peering.close()
        raise
    # kubectl and the workload call every follower's API server: never through a proxy
    s.use_tools(s.tools.bypassing([r.address for r in s.records.values()]))


def peer(s: RunState) -> None:
    """Leader: the peerings started while waiting for members, every one finished."""
    if s.peering is not None:
        s.peering.finish()
    s.job.drop_secrets()  # peered: the followers' admin kubeconfigs must go now


def virtual_nodes(s: RunState) -> None:
    kube = s.kube()
    try:
        kube.wait_ready(timeout=s.remaining(), shutdown=s.shutdown, expect=s.ctx.members,
                        what="the virtual nodes")
    finally:
        kube.close()


def credentials(s: RunState) -> None:
    """A token for the workload, its private kubeconfig and CA, and its environment."""
    plan = s.plan
    kube = s.kube()
    try:
        creds = kube.admin_token(s.token_ttl())
        s.out.secrets = (creds.token,)
        kube.ensure_namespace(C.WORKLOAD_NAMESPACE)
    finally:
        kube.close()
    write_private(plan.ca_file, creds.ca_pem)
    write_private(plan.kubeconfig, user_kubeconfig(plan.context_name, creds,
                                                   C.WORKLOAD_NAMESPACE))
    env = dict(s.tools.base)  # the proxy settings of the tools, NO_PROXY extended
    env.update({
        "K8S_CLUSTER_NAME": plan.context_name,
        "K8S_CLUSTER_API": plan.api_url,
        "K8S_CLUSTER_API_TOKEN": creds.token,
        "K8S_CLUSTER_CA": str(plan.ca_file),
        "K8S_PORT": str(plan.k8s_port),
        "KUBECONFIG": str(plan.kubeconfig),
        "KSI_NAMESPACE": C.WORKLOAD_NAMESPACE,
        "KSI_MEMBERS": str(s.ctx.members),
    })
    if s.job_end is not None:
        env["KSI_DEADLINE"] = str(int(s.job_end))
    s.env = env


def offload(s: RunState) -> None:
    federation.offload(s.liqo, s.plan, C.WORKLOAD_NAMESPACE, timeout=s.remaining())


def run_workload(s: RunState) -> None:
    """The user's script, once; its exit code is the run's, published for the followers."""
    env = s.env
    if s.ctx.members > 1:  # no proxy between the members
        env = environment.with_no_proxy(env, [r.address for r in s.records.values()])
    s.status("federated")
    watch.stop_watching(s)  # from here a member lost must not stop the workload
    with PullWatch(s.kube, C.WORKLOAD_NAMESPACE, s.opts.shared_dir, s.out.say):
        s.exit_code = workload_mod.run_any(s.opts, env=env, shutdown=s.shutdown, say=s.out.say,
                                           rc_dir=s.plan.run_dir, deadline=s.workload_deadline())
    mark = s.out.mark()  # the workload phase's line and event: `✗ workload (exit 3)`
    mark.fields["exit_code"] = s.exit_code
    if s.exit_code != C.EXIT_OK:
        mark.fail(f"exit {s.exit_code}")
    s.job.publish_outcome(Outcome("finished", s.exit_code, whose="workload"))
    s.status("done")


def follow(s: RunState) -> None:
    """Follower: wait for the leader's outcome and take its exit code."""
    probe = s.watcher.probe if s.watcher else watch.LockProbe(s.job.lock_path, s.job)
    watch.stop_watching(s, keep_probe=True)  # the wait below does the same looks
    try:
        outcome = s.job.wait_outcome(shutdown=s.shutdown, leader_alive=probe.held,
                                     deadline=s.workload_deadline())
    finally:
        probe.close()
    if outcome.status != "finished":
        error = RendezvousError(f"the run failed: {outcome.error}")
        error.about_member = True
        raise error
    s.status("done")
    s.exit_code = outcome.exit_code
