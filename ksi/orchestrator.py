"""``ksi run`` for one member: the ordered steps, and the teardown that follows every one of them.

Steps (each a phase line and an event):

    plan -> rendezvous (elect) -> create cluster -> wait for nodes -> [install Liqo]
      leader:   [wait for members -> peer -> virtual nodes] -> credentials -> [offload]
                -> workload -> outcome
      follower: wait for the leader's outcome
    -> teardown (always): delete cluster, remove run files and secrets, release ports and lock

Teardown runs on every way out: success, failure, an error in any step, SIGINT/SIGTERM/SIGHUP
(signals only raise a flag; the running tool or workload is stopped and we unwind to here).  It
is idempotent and bounded (``TEARDOWN_TIMEOUT``), and a registry record written before
``kind create`` lets the next ``ksi run``/``ksi delete --stale`` finish the job if ksi itself is
SIGKILLed.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from dataclasses import replace
from pathlib import Path

from ksi import cluster, diagnostics, environment, federation, guardian, images, registry
from ksi import constants as C
from ksi import workload as workload_mod
from ksi.errors import CommandError, KsiError, RendezvousError, TeardownError, UsageError
from ksi.exec import Runner
from ksi.kube import Kube, user_kubeconfig
from ksi.paths import private_dir, runtime_root, write_private
from ksi.plan import RunOptions, RunPlan, check_image, make_plan
from ksi.ports import PortClaims, check_nodeport
from ksi.progress import Progress
from ksi.reaper import inventory, reap
from ksi.rendezvous import JobDir, MemberRecord, Outcome, describe
from ksi.signals import Shutdown
from ksi.slurm import SlurmContext, job_end_time, job_state, node_address
from ksi.tools.kind import Kind
from ksi.tools.liqoctl import Liqoctl
from ksi.tools.nerdctl import Nerdctl


def check_inputs(opts: RunOptions) -> RunOptions:
    """Reject bad input before anything is created; return the options with paths resolved."""
    script = opts.workload.expanduser()
    if not script.exists():
        raise UsageError(f"workload {script} does not exist",
                         hint="give the path of a bash script")
    if script.is_dir():
        raise UsageError(f"workload {script} is a directory",
                         hint="give the path of a bash script inside it")
    if not os.access(script, os.R_OK):
        raise UsageError(f"workload {script} is not readable", hint=f"chmod u+r {script}")
    workdir = opts.workdir.expanduser()
    if not workdir.is_dir():
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
        if not path.is_file() or not os.access(path, os.R_OK):
            raise UsageError(f"image archive {archive} does not exist or is not a readable file",
                             hint="--load-image takes an archive written by `nerdctl save` "
                             "(or `ksi images save`)")
        archives.append(path.resolve())
    if opts.liqo_chart is not None and not opts.liqo_chart.expanduser().is_dir():
        raise UsageError(f"Liqo chart directory {opts.liqo_chart} does not exist",
                         hint="--liqo-chart takes the directory of an unpacked Liqo chart")
    liqo_set = federation.check_liqo_set(opts.liqo_set)
    if opts.port is not None:
        check_nodeport(opts.port)
    # The user's own symlink (~/.ksi -> /scratch/...) is followed once, here; below it, none is.
    shared_dir = Path(os.path.realpath(opts.shared_dir.expanduser()))
    if shared_dir.exists() or not opts.dry_run:  # a dry run creates nothing
        private_dir(shared_dir, what="shared directory (--shared-dir)")
    return replace(opts, workload=script.resolve(), workdir=workdir.resolve(),
                   shared_dir=shared_dir, load_images=tuple(archives), liqo_set=liqo_set)


def run_member(opts: RunOptions) -> int:
    ctx = SlurmContext.from_env()
    out = Progress(node=ctx.node_name, rank=ctx.rank if ctx.in_slurm else None,
                   verbose=opts.verbose)
    opts = check_inputs(opts)
    shutdown = Shutdown().install()
    try:
        return Member(opts, ctx, shutdown, out).run()
    finally:
        shutdown.uninstall()


class Member:
    """One ksi task: its own cluster and its part in the job's rendezvous."""

    def __init__(self, opts: RunOptions, ctx: SlurmContext, shutdown: Shutdown,
                 out: Progress) -> None:
        self.opts = opts
        self.ctx = ctx
        self.shutdown = shutdown
        self.out = out
        self.runner = Runner(shutdown, grace=3.0, log=out.debug)
        self.kind = Kind(self.runner)
        self.liqo = Liqoctl(self.runner)
        self.claims: PortClaims | None = None
        self.loader: images.Loader | None = None
        self.plan: RunPlan | None = None
        self.job: JobDir | None = None
        self.record: MemberRecord | None = None
        self.registered = False
        self.phase_name: str | None = None
        self.started = time.monotonic()
        self.job_end = job_end_time(ctx)

    @property
    def federate(self) -> bool:
        return self.opts.federation and self.ctx.members > 1

    def remaining(self) -> float:
        """Seconds left of the bring-up timeout (at least one, so a step can say it timed out),
        never reaching past the point where teardown must start before the job's end."""
        left = self.opts.timeout - (time.monotonic() - self.started)
        deadline = self._workload_deadline()
        if deadline is not None:
            left = min(left, deadline - time.monotonic())
        return max(1.0, left)

    def phase(self, name: str):  # type: ignore[no-untyped-def]
        self.phase_name = name
        return self.out.phase(name)

    # --- the run -------------------------------------------------------------------------------
    def run(self) -> int:
        error: KsiError | None = None
        code = C.EXIT_OK
        try:
            code = self._run()
        except UsageError as exc:  # bad input: the user's to fix, not a place in the run
            error = exc
            self._publish_failure(error)
        except KsiError as exc:
            error = exc.located(node=self.ctx.node_name, rank=self.ctx.rank,
                                phase=self.phase_name)
            self._publish_failure(error)
        finally:
            teardown_error = self._teardown(failed=error is not None or code != C.EXIT_OK,
                                            interrupted=self.shutdown.is_set())
        if error is not None:
            if teardown_error is not None:
                self.out.say(teardown_error.one_line())
            raise error
        if teardown_error is not None:
            if code == C.EXIT_OK:
                raise teardown_error
            self.out.say(teardown_error.one_line())
        if not self.opts.dry_run:
            self.out.summary(f"finished with exit code {code}")
        return code

    def _run(self) -> int:
        root = runtime_root()
        self.claims = PortClaims(root)
        self.plan = self._choose_plan(root)
        if self.opts.dry_run:
            self._print_dry_run()
            return C.EXIT_OK
        self._require_tools()
        with self.phase("rendezvous"):
            leader = self._join()
        self._reap_stale()
        self._prepare_tools_env()
        self._node_image_from_cache()
        self._create_cluster()
        self._wait_ready()
        self.loader = images.Loader(self.kind.env, self.plan.cluster_name,
                                    list(self.opts.load_images), log=self.out.debug).start()
        if self.federate:
            self._install_liqo()
        elif not leader:
            self._join_loader()
        return self._lead() if leader else self._follow()

    # --- steps ---------------------------------------------------------------------------------
    def _choose_plan(self, root: Path) -> RunPlan:
        assert self.claims is not None
        address = node_address(self.ctx, self.opts.api_address)
        if self.opts.port is not None:
            k8s_port = self.claims.require(self.opts.port, "tcp", "0.0.0.0", "--port/K8S_PORT")
        else:
            k8s_port = self.claims.pick("tcp", "0.0.0.0", C.NODEPORT_MIN, C.NODEPORT_MAX)
        gateway = self.claims.pick("udp", "0.0.0.0") if self.federate else None
        return make_plan(self.opts, self.ctx, pid=os.getpid(), nonce=secrets.token_hex(3),
                         api_address=address, api_port=self.claims.pick("tcp", address),
                         k8s_port=k8s_port, run_root=root, gateway_host_port=gateway)

    def _repick_ports(self) -> None:
        assert self.claims is not None and self.plan is not None
        address = self.plan.api_address
        k8s_port = self.plan.k8s_port if self.opts.port is not None else self.claims.pick(
            "tcp", "0.0.0.0", C.NODEPORT_MIN, C.NODEPORT_MAX)
        gateway = self.plan.gateway
        if gateway is not None:
            gateway = replace(gateway, host_port=self.claims.pick("udp", "0.0.0.0"))
        self.plan = replace(self.plan, api_port=self.claims.pick("tcp", address),
                            k8s_port=k8s_port, gateway=gateway)

    def _print_dry_run(self) -> None:
        plan = self.plan
        assert plan is not None
        lines = [
            "# ksi run --dry-run: nothing was created",
            f"# cluster:    {plan.cluster_name} (rank {plan.rank} of {plan.members})",
            f"# api server: {plan.api_url}",
            f"# K8S_PORT:   {plan.k8s_port}",
            f"# workload:   bash {self.opts.workload} {' '.join(self.opts.args)}".rstrip(),
            f"# /app:       {plan.workdir}",
            f"# federation: {'Liqo ' + C.LIQO_VERSION if self.federate else 'none'}",
            f"# files:      {plan.run_dir}",
        ]
        print("\n".join(lines))
        print(cluster.render_config(plan), end="")

    def _require_tools(self) -> None:
        """`ksi doctor`'s fast checks, same messages: the tools on PATH, the shared directory.
        (cgroup v2 is left to kind, whose own error names the fix; `ksi doctor` checks it.)"""
        from ksi import doctor

        checks = doctor.fast_checks(self.opts.shared_dir, multi_node=self.federate)
        doctor.raise_on_failure([c for c in checks if "cgroup" not in c.name])

    def _join(self) -> bool:
        assert self.plan is not None
        run_id = self.ctx.run_id if self.ctx.in_slurm else self.plan.cluster_name
        self.job = JobDir(self.opts.shared_dir, run_id, rank=self.ctx.rank,
                          members=self.ctx.members, warn=self.out.say)
        self.out.events_path = self.job.path / "events.jsonl"
        if self.job.outcome() is not None:
            raise RendezvousError(f"this job step already ended ({self.job.path}/outcome.json)",
                                  hint="this member started too late; see the leader's output")
        leader = self.job.elect(self.ctx.node_name)
        self.record = MemberRecord(rank=self.ctx.rank, node=self.ctx.node_name,
                                   address=self.plan.api_address, cluster=self.plan.cluster_name,
                                   pid=os.getpid(), api_port=self.plan.api_port,
                                   gateway_port=self.plan.gateway.host_port
                                   if self.plan.gateway else 0)
        self.job.publish(self.record)
        role = "leader" if leader else "follower"
        self.out.say(f"{role} of {self.ctx.members} member(s); cluster {self.plan.cluster_name}; "
                     f"job directory {self.job.path}")
        return leader

    def _status(self, status: str) -> None:
        if self.job is not None and self.record is not None:
            self.record.status = status
            self.record.phase = self.phase_name or ""
            self.job.publish(self.record)

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

    def _create_cluster(self) -> None:
        assert self.plan is not None
        with self.phase("create cluster"):
            for attempt in (1, 2):
                plan = self.plan
                private_dir(plan.run_dir.parent, what="runs directory")
                private_dir(plan.run_dir, what="run directory")
                registry.save(registry.new_record(
                    plan.cluster_name, self.ctx.job_id, self.ctx.step_id, plan.rank,
                    plan.run_dir, job_dir=self.job.path if self.job else None,
                    leader=bool(self.job and self.job.is_leader)))
                self.registered = True
                if attempt == 1:
                    self._start_guardian(plan)
                try:
                    cluster.create(self.kind, plan, timeout=self.remaining())
                    return
                except CommandError as exc:
                    if attempt == 2 or not cluster.is_port_clash(exc.stderr):
                        raise
                    self.out.say("a chosen port was taken meanwhile; retrying with new ports")
                    cluster.delete(self.kind, plan, timeout=C.TEARDOWN_TIMEOUT)
                    self._repick_ports()

    def _prepare_tools_env(self) -> None:
        """Proxies and the bypass4netns shim for the tools (see ``environment``)."""
        plan = self.plan
        assert plan is not None
        base = environment.with_no_proxy(
            os.environ, environment.federation_no_proxy(
                plan.api_address, self.ctx.members, federation.liqo_ranges(self.opts.liqo_set)))
        kind_env = dict(base)
        if self.opts.bypass4netns:
            private_dir(plan.run_dir.parent, what="runs directory")
            private_dir(plan.run_dir, what="run directory")
            shim_dir = plan.run_dir / "shim"
            environment.write_nerdctl_shim(shim_dir, base,
                                           [plan.pod_subnet, plan.service_subnet])
            kind_env = environment.with_shim(base, shim_dir)
        self.kind.env.update(kind_env)
        self.liqo.env.update(base)

    def _node_image_from_cache(self) -> None:
        plan = self.plan
        assert plan is not None
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

    def _join_loader(self) -> None:
        if self.loader is None or not self.opts.load_images:
            return
        with self.phase("load images"):
            self.loader.wait(timeout=self.remaining())

    def _start_guardian(self, plan: RunPlan) -> None:
        why = guardian.start(self.runner, plan.cluster_name, dict(os.environ))
        if why:
            self.out.say(f"warning: no guardian outside the job ({why}); if ksi is killed, "
                         f"the next `ksi run` or `ksi delete --stale` on {self.ctx.node_name} "
                         "deletes the cluster")

    def _kube(self) -> Kube:
        assert self.plan is not None
        return Kube(self.plan.kind_kubeconfig, context=f"kind-{self.plan.cluster_name}")

    def _wait_ready(self) -> None:
        with self.phase("wait for nodes"):
            kube = self._kube()
            try:
                kube.wait_ready(timeout=self.remaining(), shutdown=self.shutdown,
                                budget=self.opts.timeout)
            finally:
                kube.close()
        self._status("cluster-ready")
        if self.job is not None and self.ctx.members > 1 and not self.job.is_leader:
            assert self.plan is not None
            # The leader peers with us through our admin kubeconfig (0600, removed at teardown).
            self.job.put_secret(self.ctx.rank, self.plan.kind_kubeconfig.read_text())

    def _install_liqo(self) -> None:
        assert self.plan is not None
        with self.phase("install Liqo"):
            federation.install(self.liqo, self.plan, timeout=self.remaining(),
                               local_chart=self.opts.liqo_chart, values=self.opts.liqo_set)
        self._join_loader()
        self._status("liqo-ready")

    def _lead(self) -> int:
        assert self.plan is not None and self.job is not None
        plan = self.plan
        if self.ctx.members > 1:
            with self.phase("wait for members"):
                status = "liqo-ready" if self.federate else "cluster-ready"
                records = self.job.wait_all(status, timeout=self.remaining(),
                                            shutdown=self.shutdown)
        kube = self._kube()
        try:
            if self.ctx.members > 1:  # liqoctl peer calls every follower's API server
                member_addresses = [r.address for r in records.values()]
                self.liqo.env = environment.with_no_proxy(self.liqo.env, member_addresses)
                self.kind.env = environment.with_no_proxy(self.kind.env, member_addresses)
            if self.federate:
                providers = [federation.Provider(rank=r.rank, node=r.node, address=r.address,
                                                 gateway_port=r.gateway_port,
                                                 kubeconfig=self.job.secret_path(r.rank))
                             for r in records.values() if r.rank != self.ctx.rank]
                with self.phase("peer"):
                    federation.peer_all(self.liqo, plan, providers, timeout=self.remaining())
                with self.phase("virtual nodes"):
                    kube.wait_ready(timeout=self.remaining(), shutdown=self.shutdown,
                                    expect=self.ctx.members, what="the virtual nodes")
            with self.phase("credentials"):
                env = self._credentials(kube)
            if self.federate:
                with self.phase("offload namespace"):
                    federation.offload(self.liqo, plan, C.WORKLOAD_NAMESPACE,
                                       timeout=self.remaining())
        finally:
            kube.close()
        if not self.federate:
            self._join_loader()
        if self.ctx.members > 1:  # no proxy between the members
            env = environment.with_no_proxy(env, [r.address for r in records.values()])
        self._status("federated")
        with self.phase("workload"):
            code = workload_mod.run(self.opts.workload, self.opts.args, env=env,
                                    cwd=Path.cwd(), shutdown=self.shutdown,
                                    grace=self.opts.grace, deadline=self._workload_deadline())
        self.job.publish_outcome(Outcome("finished", code))
        self._status("done")
        return code

    def _follow(self) -> int:
        assert self.job is not None
        with self.phase("wait for leader"):
            outcome = self.job.wait_outcome(shutdown=self.shutdown,
                                            deadline=self._workload_deadline())
        if outcome.status != "finished":
            error = RendezvousError(f"the run failed: {outcome.error}")
            error.about_member = True
            raise error
        self._status("done")
        return outcome.exit_code

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

    def _credentials(self, kube: Kube) -> dict[str, str]:
        assert self.plan is not None
        plan = self.plan
        creds = kube.admin_token(self._token_ttl())
        self.out.secrets = (creds.token,)
        kube.ensure_namespace(C.WORKLOAD_NAMESPACE)
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
        return env

    # --- failure and teardown ------------------------------------------------------------------
    def _publish_failure(self, error: KsiError) -> None:
        if self.job is None or self.record is None:
            return
        try:
            self.record.status = "failed"
            self.record.phase = error.phase or ""
            self.record.error = error.message
            self.job.publish(self.record)
            if self.job.is_leader and self.job.outcome() is None:
                self.job.publish_outcome(Outcome("failed", error.exit_code, describe(error)))
        except (OSError, KsiError):
            pass  # the shared filesystem failing must not stop teardown

    def _teardown(self, *, failed: bool = False, interrupted: bool = False
                  ) -> TeardownError | None:
        problem: TeardownError | None = None
        plan = self.plan
        if self.loader is not None:
            self.loader.stop()  # a `kind load` still running must not outlive the run
        try:
            if plan is not None and self.registered:
                if (failed or self.opts.collect_logs) and self.job is not None:
                    self._collect_diagnostics(plan, quick=interrupted and not
                                              self.opts.collect_logs)
                if self.opts.keep:
                    self._keep(plan)
                else:
                    try:
                        with self.phase("delete cluster"):
                            cluster.delete(self.kind, plan, timeout=C.TEARDOWN_TIMEOUT)
                    except KsiError as exc:
                        problem = TeardownError(
                            f"could not delete cluster {plan.cluster_name}: {exc.message}",
                            hint=f"run `ksi delete {plan.cluster_name}`")
                    else:
                        guardian.stop(plan.run_dir)
                        shutil.rmtree(plan.run_dir, ignore_errors=True)
                        registry.remove(plan.cluster_name)
            if self.job is not None:
                self.job.drop_secret(self.ctx.rank)
                if self.job.is_leader:
                    self.job.cleanup()
        finally:
            if self.claims is not None:
                self.claims.release()
        return problem

    def _collect_diagnostics(self, plan: RunPlan, quick: bool) -> None:
        assert self.job is not None
        try:
            with self.phase("collect diagnostics"):
                where = diagnostics.collect(self.kind, plan, self.job.path,
                                            node=self.ctx.node_name, rank=self.ctx.rank,
                                            quick=quick)
            self.out.say(f"diagnostics saved in {where}")
        except KsiError as exc:
            self.out.say(f"warning: could not save diagnostics: {exc.message}")

    def _keep(self, plan: RunPlan) -> None:
        record = registry.load(plan.cluster_name)
        if record is not None:
            record.kept = True
            registry.save(record)
        guardian.stop(plan.run_dir)
        self.out.say(f"kept cluster {plan.cluster_name} (--keep); "
                     f"KUBECONFIG={plan.kubeconfig if plan.kubeconfig.exists() else plan.kind_kubeconfig}; "
                     f"delete it with: ksi delete {plan.cluster_name}")
