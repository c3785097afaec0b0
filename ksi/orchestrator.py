"""``ksi run`` for one member: bring-up as a list of named steps, each with its undo, and the
one teardown that unwinds them (see ``ksi.steps``).

The steps, chosen for the member's role once the election is done:

    common:     rendezvous -> reap stale clusters -> register cluster -> prepare tools
                -> load node image from cache -> create cluster -> wait for nodes
                -> start image loads
    standalone: load images -> credentials -> workload
    leader:     [install Liqo -> load images] -> wait for members -> [peer -> virtual nodes]
                -> credentials -> [offload namespace] -> [load images] -> workload
    follower:   [share kubeconfig -> install Liqo] -> load images -> wait for leader

Undos, pushed as each step starts and run last-first by the teardown:

    stop image loads <- start image loads     collect diagnostics <- create cluster
    delete cluster <- register cluster         leave rendezvous <- rendezvous
    release ports <- (the plan's port claims)

Teardown runs on every way out: success, failure, an error in any step (a bug included: it
ends with exit code 125, see ``ksi.exits``), SIGINT/SIGTERM/SIGHUP (signals only raise a flag;
the running tool or workload is stopped and we unwind to here).  It runs under one deadline
(``--teardown-timeout``, fitting Slurm's KillWait), an undo that fails or hangs is reported and
the next one still runs, and output errors (EPIPE, EIO) never stop it.  The cluster itself is
deleted by ``cluster.teardown``, the same function ``ksi delete`` and the guardian use; a
registry record written before ``kind create`` lets the next ``ksi run``/``ksi delete --stale``
finish the job if ksi itself is SIGKILLed.
"""

from __future__ import annotations

import os
import secrets
import shlex
import time
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import Callable

from ksi import cluster, diagnostics, environment, federation, guardian, housekeeping, images
from ksi import registry
from ksi import constants as C
from ksi import workload as workload_mod
from ksi.errors import (CommandError, InternalError, KsiError, RendezvousError, TeardownError,
                        UsageError)
from ksi.exec import Runner
from ksi.kube import Kube, user_kubeconfig
from ksi.paths import (is_dir, is_file, private_dir, runtime_root, stat_of, why_not_creatable,
                       write_private)
from ksi.plan import RunOptions, RunPlan, check_image, make_plan
from ksi.ports import PortClaims, check_nodeport
from ksi.progress import Progress
from ksi.pullwatch import PullWatch
from ksi.reaper import inventory, reap
from ksi.rendezvous import JobDir, MemberRecord, Outcome, describe
from ksi.signals import Shutdown
from ksi.slurm import SlurmContext, job_end_time, job_state, node_address
from ksi.steps import Bringup, Step, Undo
from ksi.tools.kind import Kind
from ksi.tools.liqoctl import Liqoctl
from ksi.tools.nerdctl import Nerdctl

#: seconds kept free for ``kind delete`` (with its runner's TERM->KILL grace) at the end of the
#: teardown deadline, and the part of its time given to that grace
DELETE_RESERVE = 12.0
KILL_SLACK = 5.5

def check_inputs(opts: RunOptions, warn: Callable[[str], None] = print) -> RunOptions:
    """Reject bad input before anything is created; return the options with paths resolved."""
    script = workload_mod.check(opts.workload.expanduser())
    workdir = opts.workdir.expanduser()
    if not is_dir(workdir, "work directory (--workdir)"):
        raise UsageError(f"work directory {workdir} does not exist or is not a directory",
                         hint="pass an existing directory with --workdir")
    if not os.access(workdir, os.W_OK | os.X_OK):
        raise UsageError(f"work directory {workdir} is not writable",
                         hint="workloads write their results to /app; choose a writable "
                         "--workdir")
    check_image(opts.image)
    archives = []
    for archive in opts.load_images:
        path = archive.expanduser()
        if not is_file(path, "image archive (--load-image)") or not os.access(path, os.R_OK):
            raise UsageError(f"image archive {archive} does not exist or is not a readable file",
                             hint="--load-image takes an archive written by `nerdctl save` "
                             "(or `ksi images save`)")
        archives.append(path.resolve())
    if opts.liqo_chart is not None and not is_dir(opts.liqo_chart.expanduser(),
                                                  "Liqo chart directory (--liqo-chart)"):
        raise UsageError(f"Liqo chart directory {opts.liqo_chart} does not exist",
                         hint="--liqo-chart takes the directory of an unpacked Liqo chart")
    liqo_set = federation.check_liqo_set(opts.liqo_set)
    if opts.port is not None:
        check_nodeport(opts.port)
    # The user's own symlink (~/.ksi -> /scratch/...) is followed once, here; below it, none is.
    shared_dir = Path(os.path.realpath(opts.shared_dir.expanduser()))
    what = "shared directory (--shared-dir)"
    if stat_of(shared_dir, what) is not None or not opts.dry_run:  # a dry run creates nothing
        private_dir(shared_dir, what=what)
    elif (why := why_not_creatable(shared_dir)) is not None:
        warn(f"warning: the shared directory {shared_dir} could not be created ({why}); "
             "a real run would stop here (choose another --shared-dir)")
    return replace(opts, workload=script.resolve(), workdir=workdir.resolve(),
                   shared_dir=shared_dir, load_images=tuple(archives), liqo_set=liqo_set)


def run_member(opts: RunOptions) -> int:
    ctx = SlurmContext.from_env()
    out = Progress(node=ctx.node_name, rank=ctx.rank if ctx.in_slurm else None,
                   verbose=opts.verbose)
    opts = check_inputs(opts, warn=out.say)
    shutdown = Shutdown().install()
    try:
        return Member(opts, ctx, shutdown, out).run()
    finally:
        shutdown.uninstall()


class Member:
    """One ksi task: its own cluster and its part in the job's rendezvous.

    What bring-up has made is the run state: ``plan`` and ``claims`` (made before any step, they
    decide what the steps create), ``job``/``record`` (the rendezvous step), ``loader`` (start
    image loads), ``records`` (wait for members) and ``env`` (credentials).  Teardown never
    looks at them: it runs the undos the steps pushed.
    """

    def __init__(self, opts: RunOptions, ctx: SlurmContext, shutdown: Shutdown,
                 out: Progress) -> None:
        self.opts = opts
        self.ctx = ctx
        self.shutdown = shutdown
        self.out = out
        self.runner = Runner(shutdown, grace=3.0, log=out.debug)
        self.kind = Kind(self.runner)
        self.liqo = Liqoctl(self.runner)
        self.bringup = Bringup(self.phase)
        self.started = time.monotonic()
        self.job_end = job_end_time(ctx)
        self.phase_name: str | None = None
        self.failed = False
        # the run state, filled in by the steps
        self.claims = PortClaims(runtime_root())
        self.plan: RunPlan | None = None
        self._job: JobDir | None = None
        self.record: MemberRecord | None = None
        self.loader: images.Loader | None = None
        self.records: dict[int, MemberRecord] = {}
        self.env: dict[str, str] = {}
        self.exit_code = C.EXIT_OK

    @property
    def federate(self) -> bool:
        return self.opts.federation and self.ctx.members > 1

    @property
    def job(self) -> JobDir:
        if self._job is None:
            raise InternalError("a step needs the job directory before the rendezvous")
        return self._job

    @property
    def the_plan(self) -> RunPlan:
        if self.plan is None:
            raise InternalError("a step needs the plan before it was made")
        return self.plan

    def remaining(self) -> float:
        """Seconds left of the bring-up timeout (at least one, so a step can say it timed out),
        never reaching past the point where teardown must start before the job's end."""
        left = self.opts.timeout - (time.monotonic() - self.started)
        deadline = self._workload_deadline()
        if deadline is not None:
            left = min(left, deadline - time.monotonic())
        return max(1.0, left)

    def phase(self, name: str) -> AbstractContextManager[None]:
        self.phase_name = name
        return self.out.phase(name)

    # --- the run -------------------------------------------------------------------------------
    def run(self) -> int:
        error: KsiError | None = None
        try:
            self.exit_code = self._run()
        except UsageError as exc:  # bad input: the user's to fix, not a place in the run
            error = exc
        except KsiError as exc:
            error = exc.located(node=self.ctx.node_name, rank=self.ctx.rank,
                                phase=self.phase_name)
        except BrokenPipeError:  # our stdout closed (`--dry-run | head -c 1`): not a bug
            raise  # (teardown still runs; the CLI exits 128+SIGPIPE, see ksi.cli._common)
        except Exception as exc:  # noqa: BLE001 - a bug: still tear down, still tell the others
            error = InternalError.from_exception(exc).located(
                node=self.ctx.node_name, rank=self.ctx.rank, phase=self.phase_name)
        finally:
            self.failed = error is not None or self.exit_code != C.EXIT_OK
            if error is not None:
                self._publish_failure(error)
            teardown_error = self._teardown()
        if error is not None:
            if teardown_error is not None:
                self.out.say(teardown_error.one_line())
            raise error
        if teardown_error is not None:
            if self.exit_code == C.EXIT_OK:  # the workload ran and succeeded: ksi's failure
                teardown_error.workload_code = self.exit_code  # (not raised yet: 125, said so)
                self._publish_outcome(Outcome("failed", teardown_error.run_code,
                                              describe(teardown_error), whose="ksi",
                                              cause=teardown_error.cause))
                raise teardown_error
            self.out.say(teardown_error.one_line())
        if not self.opts.dry_run:
            self.out.summary(f"finished with exit code {self.exit_code}")
        return self.exit_code

    def _run(self) -> int:
        self.bringup.push(Undo("release ports", lambda _s: self.claims.release()))
        self.plan = self._choose_plan()
        if self.opts.dry_run:
            self._print_dry_run()
            return C.EXIT_OK
        self.bringup.run(self.common_steps())
        self.bringup.run(self.role_steps(self.role()))
        return self.exit_code

    def role(self) -> str:
        """standalone (one member), leader or follower (after the election)."""
        if self.ctx.members == 1:
            return "standalone"
        return "leader" if self._job is not None and self._job.is_leader else "follower"

    # --- the steps -----------------------------------------------------------------------------
    def common_steps(self) -> list[Step]:
        """Every member's steps, up to a Ready cluster."""
        return [
            Step("check tools", self._require_tools, phase=False),
            Step("rendezvous", self._join, Undo("leave rendezvous", self._leave)),
            Step("reap stale clusters", self._reap_stale, phase=False),
            Step("register cluster", self._register,
                 Undo("delete cluster", self._delete_cluster, reserve=DELETE_RESERVE),
                 phase=False),
            Step("prepare tools", self._prepare_tools_env, phase=False),
            Step("load node image from cache", self._node_image_from_cache, phase=False),
            Step("create cluster", self._create_cluster,
                 Undo("collect diagnostics", self._collect_diagnostics)),
            Step("wait for nodes", self._wait_ready),
            Step("start image loads", self._start_loader, Undo("stop image loads",
                                                               self._stop_loader), phase=False),
        ]

    def role_steps(self, role: str) -> list[Step]:
        """The steps of ``role`` after the cluster is Ready."""
        load = Step("load images", self._join_loader, phase=False)
        # liqo-ready only once the images are in: the leader starts the workload after it
        liqo = [Step("install Liqo", self._install_liqo), load,
                Step("liqo ready", lambda: self._status("liqo-ready"), phase=False)
                ] if self.federate else []
        if role == "follower":
            share = [Step("share kubeconfig", self._share_kubeconfig, phase=False)]
            return [*share, *(liqo or [load]), Step("wait for leader", self._follow)]
        steps = [*liqo]
        if role == "leader":
            steps.append(Step("wait for members", self._wait_members))
        if self.federate:
            steps += [Step("peer", self._peer), Step("virtual nodes", self._virtual_nodes)]
        steps.append(Step("credentials", self._credentials))
        if self.federate:
            steps.append(Step("offload namespace", self._offload))
        else:
            steps.append(load)
        steps.append(Step("workload", self._workload))
        return steps

    # --- planning ------------------------------------------------------------------------------
    def _choose_plan(self) -> RunPlan:
        address = node_address(self.ctx, self.opts.api_address)
        if self.opts.port is not None:
            k8s_port = self.claims.require(self.opts.port, "tcp", "0.0.0.0", "--port/K8S_PORT")
        else:
            k8s_port = self.claims.pick("tcp", "0.0.0.0", C.NODEPORT_MIN, C.NODEPORT_MAX)
        gateway = self.claims.pick("udp", "0.0.0.0") if self.federate else None
        return make_plan(self.opts, self.ctx, pid=os.getpid(), nonce=secrets.token_hex(3),
                         api_address=address, api_port=self.claims.pick("tcp", address),
                         k8s_port=k8s_port, run_root=runtime_root(), gateway_host_port=gateway)

    def _repick_ports(self) -> None:
        plan = self.the_plan
        address = plan.api_address
        k8s_port = plan.k8s_port if self.opts.port is not None else self.claims.pick(
            "tcp", "0.0.0.0", C.NODEPORT_MIN, C.NODEPORT_MAX)
        gateway = plan.gateway
        if gateway is not None:
            gateway = replace(gateway, host_port=self.claims.pick("udp", "0.0.0.0"))
        self.plan = replace(plan, api_port=self.claims.pick("tcp", address),
                            k8s_port=k8s_port, gateway=gateway)

    def _print_dry_run(self) -> None:
        plan = self.the_plan
        roles = ["standalone"] if self.ctx.members == 1 else ["leader", "follower"]
        common = [s.name for s in self.common_steps()]
        lines = [
            "# ksi run --dry-run: nothing was created",
            f"# cluster:    {plan.cluster_name} (rank {plan.rank} of {plan.members})",
            f"# api server: {plan.api_url}",
            f"# K8S_PORT:   {plan.k8s_port}",
            f"# workload:   {shlex.join(workload_mod.argv_of(self.opts.workload, self.opts.args))}",
            f"# /app:       {plan.workdir}",
            f"# federation: {'Liqo ' + C.LIQO_VERSION if self.federate else 'none'}",
            f"# files:      {plan.run_dir}",
            *[f"# steps ({role}): " + " -> ".join(
                common + [s.name for s in self.role_steps(role)]) for role in roles],
            f"# teardown:   within {self.opts.teardown_timeout:g}s, last step first: "
            "stop image loads, collect diagnostics (on failure), delete cluster, "
            "leave rendezvous, release ports",
        ]
        print("\n".join(lines))
        print(cluster.render_config(plan), end="")

    # --- common steps --------------------------------------------------------------------------
    def _require_tools(self) -> None:
        """`ksi doctor`'s fast checks, same messages: the tools on PATH, the shared directory.
        (cgroup v2 is left to kind, whose own error names the fix; `ksi doctor` checks it.)"""
        from ksi import doctor

        checks = doctor.fast_checks(self.opts.shared_dir, multi_node=self.federate)
        doctor.raise_on_failure([c for c in checks if "cgroup" not in c.name])

    def _join(self) -> None:
        plan = self.the_plan
        run_id = self.ctx.run_id if self.ctx.in_slurm else plan.cluster_name
        self._job = job = JobDir(self.opts.shared_dir, run_id, rank=self.ctx.rank,
                                 members=self.ctx.members, warn=self.out.say)
        self.out.events_path = job.path / "events.jsonl"
        if job.outcome() is not None:
            raise RendezvousError(f"this job step already ended ({job.path}/outcome.json)",
                                  hint="this member started too late; see the leader's output")
        leader = job.elect(self.ctx.node_name)
        self.record = MemberRecord(rank=self.ctx.rank, node=self.ctx.node_name,
                                   address=plan.api_address, cluster=plan.cluster_name,
                                   pid=os.getpid(), api_port=plan.api_port,
                                   gateway_port=plan.gateway.host_port if plan.gateway else 0)
        job.publish(self.record)
        role = "leader" if leader else "follower"
        self.out.say(f"{role} of {self.ctx.members} member(s); cluster {plan.cluster_name}; "
                     f"job directory {job.path}")
        if leader:  # old finished job directories (``housekeeping``)
            housekeeping.prune(self.opts.shared_dir, housekeeping.JOB_DIR_MAX_AGE_DAYS, job_state,
                               budget=housekeeping.RUN_BUDGET)

    def _leave(self, seconds: float) -> None:
        """Undo of the rendezvous: our credential goes; a leader also frees lock and secrets."""
        if self._job is None:
            return
        self._job.drop_secret(self.ctx.rank)
        if self._job.is_leader:
            self._job.cleanup()

    def _status(self, status: str) -> None:
        if self._job is not None and self.record is not None:
            self.record.status = status
            self.record.phase = self.phase_name or ""
            self._job.publish(self.record)

    def _reap_stale(self) -> None:
        """Delete this user's clusters on this node whose owner is gone (SIGKILLed runs)."""
        try:
            stale = [e for e in inventory(self.kind, job_state) if e.state == "stale"]
        except KsiError as exc:
            self.out.say(f"warning: could not look for stale clusters: {exc.message}")
            return
        if stale:
            with self.phase("reap stale clusters"):
                deleted, errors = reap(self.kind, stale)
                for name in deleted:
                    self.out.say(f"deleted stale cluster {name}")
                for line in errors:
                    self.out.say(f"warning: could not delete stale cluster {line}")

    def _cluster_record(self) -> registry.Record:
        plan = self.the_plan
        return registry.new_record(
            plan.cluster_name, self.ctx.job_id, self.ctx.step_id, plan.rank, plan.run_dir,
            job_dir=self._job.path if self._job else None,
            leader=bool(self._job and self._job.is_leader))

    def _register(self) -> None:
        """The run directory, the registry record and the guardian, before anything is made."""
        plan = self.the_plan
        private_dir(plan.run_dir.parent, what="runs directory")
        private_dir(plan.run_dir, what="run directory")
        registry.save(self._cluster_record())
        why = guardian.start(self.runner, plan.cluster_name, dict(os.environ))
        if why:
            self.out.say(f"warning: no guardian outside the job ({why}); if ksi is killed, "
                         f"the next `ksi run` or `ksi delete --stale` on {self.ctx.node_name} "
                         "deletes the cluster")

    def _prepare_tools_env(self) -> None:
        """Proxies and the bypass4netns shim for the tools (see ``environment``)."""
        plan = self.the_plan
        base = environment.with_no_proxy(
            os.environ, environment.federation_no_proxy(
                plan.api_address, self.ctx.members, federation.liqo_ranges(self.opts.liqo_set)))
        kind_env = dict(base)
        if self.opts.bypass4netns:
            shim_dir = plan.run_dir / "shim"
            environment.write_nerdctl_shim(shim_dir, base,
                                           [plan.pod_subnet, plan.service_subnet])
            kind_env = environment.with_shim(base, shim_dir)
        self.kind.env.update(kind_env)
        self.liqo.env.update(base)

    def _node_image_from_cache(self) -> None:
        plan = self.the_plan
        nerdctl = Nerdctl(self.runner, dict(self.liqo.env))
        try:
            archive = images.cached_archive(self.opts.shared_dir, plan.image)
            if archive is None or nerdctl.image_present(plan.image):
                return  # nothing cached, or nothing to do: kind pulls if it must
            with self.phase("load node image from cache"):
                nerdctl.load(archive, timeout=images.LOAD_TIMEOUT)
            self.out.say(f"loaded {plan.image} from {archive}")
            tagged = plan.image.split("@", 1)[0]
            if tagged != plan.image and not nerdctl.image_present(plan.image):
                # an archive keeps the tag, not the digest it was pulled by (docker-archive
                # RepoTags); the cache was filled from the pinned reference, so use the tag
                self.plan = replace(plan, image=tagged)
        except KsiError as exc:  # kind will try to pull, and say so if it cannot
            self.out.say(f"warning: could not load the node image from the cache: {exc.message}")

    def _create_cluster(self) -> None:
        for attempt in (1, 2):
            plan = self.the_plan
            try:
                cluster.create(self.kind, plan, timeout=self.remaining())
                return
            except CommandError as exc:
                if attempt == 2 or not cluster.is_port_clash(exc.stderr):
                    raise
                self.out.say("a chosen port was taken meanwhile; retrying with new ports")
                cluster.delete(self.kind, plan, timeout=C.TEARDOWN_TIMEOUT)
                self._repick_ports()

    def _kube(self) -> Kube:
        plan = self.the_plan
        return Kube(plan.kind_kubeconfig, context=f"kind-{plan.cluster_name}")

    def _wait_ready(self) -> None:
        kube = self._kube()
        try:
            kube.wait_ready(timeout=self.remaining(), shutdown=self.shutdown,
                            budget=self.opts.timeout)
        finally:
            kube.close()
        self._status("cluster-ready")

    def _start_loader(self) -> None:
        self.loader = images.Loader(self.kind.env, self.the_plan.cluster_name,
                                    list(self.opts.load_images), log=self.out.debug).start()

    def _stop_loader(self, seconds: float) -> None:
        if self.loader is not None:
            self.loader.stop(timeout=seconds)  # a `kind load` must not outlive the run

    def _join_loader(self) -> None:
        if self.loader is None or not self.opts.load_images:
            return
        with self.phase("load images"):
            self.loader.wait(timeout=self.remaining())

    # --- role steps ----------------------------------------------------------------------------
    def _share_kubeconfig(self) -> None:
        """Follower: the leader peers with us through our admin kubeconfig (0600, removed at
        teardown by the rendezvous undo)."""
        self.job.put_secret(self.ctx.rank, self.the_plan.kind_kubeconfig.read_text())

    def _install_liqo(self) -> None:
        federation.install(self.liqo, self.the_plan, timeout=self.remaining(),
                           local_chart=self.opts.liqo_chart, values=self.opts.liqo_set)

    def _wait_members(self) -> None:
        status = "liqo-ready" if self.federate else "cluster-ready"
        self.records = self.job.wait_all(status, timeout=self.remaining(),
                                         shutdown=self.shutdown)
        # liqoctl peer (and kubectl) call every follower's API server: never through a proxy
        member_addresses = [r.address for r in self.records.values()]
        self.liqo.env = environment.with_no_proxy(self.liqo.env, member_addresses)
        self.kind.env = environment.with_no_proxy(self.kind.env, member_addresses)

    def _peer(self) -> None:
        providers = [federation.Provider(rank=r.rank, node=r.node, address=r.address,
                                         gateway_port=r.gateway_port,
                                         kubeconfig=self.job.secret_path(r.rank))
                     for r in self.records.values() if r.rank != self.ctx.rank]
        federation.peer_all(self.liqo, self.the_plan, providers, timeout=self.remaining())

    def _virtual_nodes(self) -> None:
        kube = self._kube()
        try:
            kube.wait_ready(timeout=self.remaining(), shutdown=self.shutdown,
                            expect=self.ctx.members, what="the virtual nodes")
        finally:
            kube.close()

    def _offload(self) -> None:
        federation.offload(self.liqo, self.the_plan, C.WORKLOAD_NAMESPACE,
                           timeout=self.remaining())

    def _workload(self) -> None:
        env = self.env
        if self.ctx.members > 1:  # no proxy between the members
            env = environment.with_no_proxy(env, [r.address for r in self.records.values()])
        self._status("federated")
        with PullWatch(self._kube, C.WORKLOAD_NAMESPACE, self.opts.shared_dir, self.out.say):
            self.exit_code = workload_mod.run(
                self.opts.workload, self.opts.args, env=env, cwd=Path.cwd(),
                shutdown=self.shutdown, grace=self.opts.grace, deadline=self._workload_deadline())
        mark = self.out.mark()  # the workload phase's line and event: `✗ workload (exit 3)`
        mark.fields["exit_code"] = self.exit_code
        if self.exit_code != C.EXIT_OK:
            mark.fail(f"exit {self.exit_code}")
        self.job.publish_outcome(Outcome("finished", self.exit_code, whose="workload"))
        self._status("done")

    def _follow(self) -> None:
        outcome = self.job.wait_outcome(shutdown=self.shutdown,
                                        deadline=self._workload_deadline())
        if outcome.status != "finished":
            error = RendezvousError(f"the run failed: {outcome.error}")
            error.about_member = True
            raise error
        self._status("done")
        self.exit_code = outcome.exit_code

    def _token_ttl(self) -> int:
        if self.opts.token_ttl:
            return self.opts.token_ttl
        if self.job_end is not None:
            return max(C.MIN_TOKEN_TTL, int(self.job_end - time.time()))
        return C.DEFAULT_TOKEN_TTL

    def _workload_deadline(self) -> float | None:
        """Monotonic time at which to stop on our own, a margin before Slurm's time limit."""
        if self.job_end is None:
            return None
        left = self.job_end - time.time() - self.opts.teardown_margin
        return time.monotonic() + max(0.0, left)

    def _credentials(self) -> None:
        plan = self.the_plan
        kube = self._kube()
        try:
            creds = kube.admin_token(self._token_ttl())
            self.out.secrets = (creds.token,)
            kube.ensure_namespace(C.WORKLOAD_NAMESPACE)
        finally:
            kube.close()
        write_private(plan.ca_file, creds.ca_pem)
        write_private(plan.kubeconfig,
                      user_kubeconfig(plan.context_name, creds, C.WORKLOAD_NAMESPACE))
        env = dict(self.liqo.env)  # the proxy settings of the tools, NO_PROXY extended
        env.update({
            "K8S_CLUSTER_NAME": plan.context_name,
            "K8S_CLUSTER_API": plan.api_url,
            "K8S_CLUSTER_API_TOKEN": creds.token,
            "K8S_CLUSTER_CA": str(plan.ca_file),
            "K8S_PORT": str(plan.k8s_port),
            "KUBECONFIG": str(plan.kubeconfig),
            "KSI_NAMESPACE": C.WORKLOAD_NAMESPACE,
            "KSI_MEMBERS": str(self.ctx.members),
        })
        if self.job_end is not None:
            env["KSI_DEADLINE"] = str(int(self.job_end))
        self.env = env

    # --- failure and teardown ------------------------------------------------------------------
    def _publish_failure(self, error: KsiError) -> None:
        if self._job is None or self.record is None:
            return
        try:
            self.record.status = "failed"
            self.record.phase = error.phase or ""
            self.record.error = error.message
            self._job.publish(self.record)
            if self._job.is_leader and self._job.outcome() is None:
                self._job.publish_outcome(Outcome("failed", error.run_code, describe(error),
                                                  whose="ksi", cause=error.cause))
        except Exception:  # noqa: BLE001 - the shared filesystem failing must not stop teardown
            pass

    def _publish_outcome(self, outcome: Outcome) -> None:
        """Leader: record the run's final outcome (a record only: the followers have left)."""
        if self._job is None or not self._job.is_leader:
            return
        try:
            self._job.publish_outcome(outcome)
        except Exception:  # noqa: BLE001 - the shared filesystem failing changes no exit code
            pass

    def _teardown(self) -> TeardownError | None:
        """Unwind every pushed undo under one deadline; the first problem, if any."""
        outcome = self.bringup.teardown(time.monotonic() + self.opts.teardown_timeout)
        for problem in outcome.problems[1:]:
            self.out.say(f"warning: {problem.message}")
        return outcome.error()

    def _collect_diagnostics(self, seconds: float) -> None:
        """Undo of ``create cluster``, before the cluster goes: on failure, or when asked."""
        if not (self.failed or self.opts.collect_logs) or self._job is None:
            return
        quick = self.shutdown.is_set() and not self.opts.collect_logs
        budget = diagnostics.QUICK_BUDGET if quick else diagnostics.BUDGET
        try:
            with self.phase("collect diagnostics"):
                where = diagnostics.collect(self.kind, self.the_plan, self._job.path,
                                            node=self.ctx.node_name, rank=self.ctx.rank,
                                            quick=quick, budget=min(budget, seconds))
            self.out.say(f"diagnostics saved in {where}")
        except KsiError as exc:
            self.out.say(f"warning: could not save diagnostics: {exc.message}")

    def _delete_cluster(self, seconds: float) -> None:
        """Undo of ``register cluster``: the one cluster teardown (or keep it, with --keep)."""
        plan = self.the_plan
        if self.opts.keep:
            self._keep(plan)
            return
        try:
            with self.phase("delete cluster"):
                cluster.teardown(self.kind, plan.cluster_name, self._cluster_record(),
                                 timeout=max(1.0, seconds - KILL_SLACK), job_files=False)
        except KsiError as exc:
            raise TeardownError(f"could not delete cluster {plan.cluster_name}: {exc.message}",
                                hint=f"run `ksi delete {plan.cluster_name}`") from None

    def _keep(self, plan: RunPlan) -> None:
        record = registry.load(plan.cluster_name)
        if record is not None:
            record.kept = True
            registry.save(record)
        guardian.stop(plan.run_dir)
        self.out.say(f"kept cluster {plan.cluster_name} (--keep); "
                     f"KUBECONFIG={plan.kubeconfig if plan.kubeconfig.exists() else plan.kind_kubeconfig}; "
                     f"delete it with: ksi delete {plan.cluster_name}")
