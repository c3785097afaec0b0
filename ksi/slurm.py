"""The Slurm environment, read once into a frozen value.  Nothing else in ksi reads ``SLURM_*``.

Outside Slurm (``ksi run`` on a workstation or a login node) the context is "standalone": one
member, rank 0, no job id.  Inside a batch script without ``srun`` (no step id, the batch step),
ksi also runs as one member, named after the job.

What ksi asks Slurm, and how it copes with what real sites configure:

* **The node's address** (``node_address``): ``slurm.conf(5)`` lets ``NodeAddr`` be a host name
  (``NodeAddr=n01-ib``) and defaults it to ``NodeHostname``.  kind publishes the API server with
  ``--publish=<addr>:<port>:6443`` and nerdctl accepts only an IP there ("invalid ip address",
  nerdctl pkg/portutil/portutil.go), so a name is resolved here to an address *configured on this
  node* (one a socket can bind), preferring the one on the route to the host ``srun`` ran on
  (``SLURM_LAUNCH_NODE_IPADDR``: the network Slurm itself uses).  A loopback address (Debian maps
  the host name to 127.0.1.1 in /etc/hosts) is never advertised to other members.  A NodeAddr or
  ``--api-address`` that does not resolve, or is not an address of this node, is bad input.
* **The job's end** (``job_end_time``): ``SLURM_JOB_END_TIME`` (epoch seconds, Slurm >= 23.02)
  when set; else ``scontrol show job`` with ``SLURM_TIME_FORMAT=standard`` in scontrol's
  environment, since the user's ``SLURM_TIME_FORMAT`` (``relative``, or any strftime format;
  Slurm src/common/parse_time.c) changes how ``EndTime`` is printed.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time
from dataclasses import dataclass
from typing import Mapping

from ksi.errors import UsageError

#: The one table of variable names (srun sets the STEP_* ones; a batch script has only JOB_*).
VARIABLES = {
    "job_id": "SLURM_JOB_ID",
    "step_id": "SLURM_STEP_ID",
    "rank": "SLURM_PROCID",
    "local_id": "SLURM_LOCALID",
    "ntasks": "SLURM_STEP_NUM_TASKS",
    "nnodes": "SLURM_STEP_NUM_NODES",
    "node_name": "SLURMD_NODENAME",
    "task_pid": "SLURM_TASK_PID",
    "launch_ip": "SLURM_LAUNCH_NODE_IPADDR",  # the host srun ran on: its route is Slurm's
    "end_time": "SLURM_JOB_END_TIME",  # Slurm >= 23.02, epoch seconds
}



def _int(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(VARIABLES[key], "")
    try:
        return int(raw) if raw != "" else default
    except ValueError:
        raise UsageError(
            f"{VARIABLES[key]}={raw!r} is not a number",
            hint="unset it, or run ksi through srun/sbatch which set it",
        ) from None


@dataclass(frozen=True)
class SlurmContext:
    """Where this ksi task stands in its Slurm job (or that it is standalone)."""

    job_id: str | None
    step_id: str | None
    rank: int
    ntasks: int
    nnodes: int
    node_name: str
    #: pid of the step's task (slurmstepd's child); not ksi's own in ``srun --pty bash``
    task_pid: int | None = None
    launch_ip: str | None = None
    #: the job's end (epoch seconds) when Slurm exported it (SLURM_JOB_END_TIME); else None
    end_time: float | None = None

    def in_own_step(self, pid: int) -> bool:
        """True when this ksi *is* a task of a real job step (``srun ksi run``), so the step's
        name and job directory are its own.  False in the batch step of an sbatch script, in an
        ``salloc`` shell (no step at all) and in ``srun --pty bash`` (one task: the shell), where
        each ``ksi run`` must get a name and job directory of its own."""
        if self.job_id is None or self.step_id in (None, "batch"):
            return False
        return self.ntasks > 1 or self.task_pid is None or self.task_pid == pid

    @property
    def in_slurm(self) -> bool:
        return self.job_id is not None

    @property
    def members(self) -> int:
        return self.ntasks

    @property
    def multi_node(self) -> bool:
        return self.ntasks > 1

    @property
    def run_id(self) -> str:
        """Names the rendezvous directory: one per job step, or per process when standalone."""
        if self.job_id is None:
            return f"standalone-{self.node_name}-{os.getpid()}"
        return f"{self.job_id}.{self.step_id}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "SlurmContext":
        env = os.environ if env is None else env
        host = socket.gethostname().split(".")[0]
        job_id = env.get(VARIABLES["job_id"]) or None
        if job_id is None:
            return cls(job_id=None, step_id=None, rank=0, ntasks=1, nnodes=1, node_name=host)
        end_time = _end_time(env)
        step_id = env.get(VARIABLES["step_id"]) or None
        if step_id is None:  # the batch script itself: one member on the first node
            return cls(job_id=job_id, step_id="batch", rank=0, ntasks=1, nnodes=1,
                       node_name=env.get(VARIABLES["node_name"]) or host,
                       launch_ip=env.get(VARIABLES["launch_ip"]) or None, end_time=end_time)
        ntasks = _int(env, "ntasks", 1)
        nnodes = _int(env, "nnodes", 1)
        if ntasks != nnodes or _int(env, "local_id", 0) != 0:
            raise UsageError(
                f"Slurm started {ntasks} ksi tasks on {nnodes} node(s); ksi needs exactly one "
                "task per node",
                hint="run it as `srun --ntasks-per-node=1 ksi run ...`",
            )
        return cls(
            job_id=job_id,
            step_id=step_id.lower(),
            rank=_int(env, "rank", 0),
            ntasks=ntasks,
            nnodes=nnodes,
            node_name=env.get(VARIABLES["node_name"]) or host,
            task_pid=_int(env, "task_pid", 0) or None,
            launch_ip=env.get(VARIABLES["launch_ip"]) or None,
            end_time=end_time,
        )


def _end_time(env: Mapping[str, str]) -> float | None:
    """``SLURM_JOB_END_TIME``: epoch seconds; 0 or absent means unknown (no limit, old Slurm)."""
    raw = env.get(VARIABLES["end_time"], "").strip()
    try:
        value = float(raw) if raw else 0.0
    except ValueError:
        raise UsageError(f"{VARIABLES['end_time']}={raw!r} is not a number",
                         hint="unset it, or run ksi through srun/sbatch which set it") from None
    return value if value > 0 else None


#: Job states in which a job's clusters are alive; any other state, or a job Slurm no longer
#: knows, means they are stale.  STOPPED (SIGSTOP, `scontrol suspend` with some plugins) and
#: SUSPENDED jobs keep their allocation and come back.
LIVE_JOB_STATES = frozenset({"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED",
                             "STOPPED", "RESIZING", "REQUEUED", "SIGNALING", "STAGE_OUT"})


def scontrol_fields(kind: str, name: str, timeout: float = 10.0) -> dict[str, str]:
    """``scontrol show KIND NAME -o`` as a dict; empty when Slurm does not answer."""
    from ksi.tools.scontrol import Scontrol

    return Scontrol().show(kind, name, timeout=timeout)


def _ip_literal(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        return None


def _resolve(host: str, what: str) -> list[str]:
    """Every address ``host`` resolves to (IPv4 first), or bad input naming ``what``."""
    literal = _ip_literal(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise UsageError(
            f"{what} {host!r} does not resolve to an address ({getattr(exc, 'strerror', exc)})",
            hint="fix the name in DNS or /etc/hosts, or pass this node's IP with --api-address",
        ) from None
    found = [str(info[4][0]) for info in infos]
    found.sort(key=lambda a: ":" in a)
    return list(dict.fromkeys(found))


def is_local_address(ip: str) -> bool:
    """True when ``ip`` is configured on this node (the kernel lets a socket bind it)."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.bind((ip, 0))
    except OSError:
        return False
    return True


def route_source(peer: str | None) -> str | None:
    """The address this node sends from to reach ``peer`` (no packet is sent), or None."""
    ip = _ip_literal(peer) if peer else None
    if ip is None:
        return None
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((ip, 9))
            return str(s.getsockname()[0])
    except OSError:
        return None


def _loopback(ip: str) -> bool:
    return ipaddress.ip_address(ip).is_loopback


def pick_local(candidates: list[str], *, prefer: str | None,
               allow_loopback: bool) -> str | None:
    """The first candidate configured on this node (``prefer`` first), skipping loopback unless
    allowed; None when there is none."""
    usable = [a for a in candidates if (allow_loopback or not _loopback(a)) and is_local_address(a)]
    if prefer in usable:
        return prefer
    return usable[0] if usable else None


def node_address(ctx: SlurmContext, requested: str | None = None) -> str:
    """The IP address other members reach this node at (see the module docstring).

    ``requested`` (``--api-address``) wins, but must be (or resolve to) an address of this node.
    Inside Slurm, the node's ``NodeAddr`` (what slurmctld uses to reach the node); outside, the
    address the host name resolves to when it is on this node and not loopback, else 127.0.0.1.
    """
    prefer = route_source(ctx.launch_ip)
    allow_loopback = not ctx.multi_node
    if requested:
        candidates = _resolve(requested, "--api-address")
        found = pick_local(candidates, prefer=prefer, allow_loopback=allow_loopback)
        if found is None:
            raise UsageError(
                f"--api-address {requested} ({', '.join(candidates)}) is not "
                f"{'a non-loopback' if not allow_loopback else 'an'} address of this node "
                f"({ctx.node_name})",
                hint="give an address configured on this node (`ip -brief address`), or leave "
                "--api-address unset")
        return found
    if ctx.in_slurm:
        addr = scontrol_fields("node", ctx.node_name).get("NodeAddr")
        if addr:
            what = f"Slurm's NodeAddr of {ctx.node_name}"
            candidates = _resolve(addr, what)
            found = pick_local(candidates, prefer=prefer, allow_loopback=False)
            if found is not None:
                return found
            if not all(_loopback(a) for a in candidates):
                raise UsageError(
                    f"{what} is {addr} ({', '.join(candidates)}), which is not an address "
                    "of this node",
                    hint="pass this node's address with --api-address, or fix NodeAddr in "
                    "slurm.conf")
            # NodeAddr defaulted to the host name and /etc/hosts maps it to loopback (Debian's
            # 127.0.1.1): other members cannot use that; take the address Slurm's traffic uses
            if prefer is not None and not _loopback(prefer):
                return prefer
            if ctx.multi_node:
                raise UsageError(
                    f"{what} is {addr}, which resolves only to loopback "
                    f"({', '.join(candidates)}) on this node: other members cannot reach it",
                    hint="pass this node's address with --api-address, or set NodeAddr in "
                    "slurm.conf")
    try:
        candidates = _resolve(socket.gethostname(), "this host's name")
    except UsageError:
        return "127.0.0.1"
    found = pick_local(candidates, prefer=prefer, allow_loopback=False)
    if found is None and prefer is not None and not _loopback(prefer):
        found = prefer
    return found or "127.0.0.1"


def job_end_time(ctx: SlurmContext) -> float | None:
    """The job's end (epoch seconds); None when unknown or unlimited.

    ``SLURM_JOB_END_TIME`` when Slurm set it; else ``scontrol show job``'s ``EndTime``, printed
    in ksi's own format whatever the user's ``SLURM_TIME_FORMAT``.
    """
    if ctx.end_time is not None:
        return ctx.end_time
    if ctx.job_id is None:
        return None
    end = scontrol_fields("job", ctx.job_id).get("EndTime", "")
    if not end or end in ("Unknown", "None"):
        return None
    try:
        return time.mktime(time.strptime(end, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None


def job_identity(job_id: str, timeout: float = 10.0) -> str | None:
    """What tells this job from an earlier one with the same id (ids wrap; a controller that lost
    its state starts again at 1): id, submit and start time, in a time format ksi chooses.
    None when Slurm does not answer."""
    from ksi.tools.scontrol import Scontrol

    fields = Scontrol().job_times(job_id, timeout=timeout)
    if not fields.get("SubmitTime"):
        return None
    return f"{job_id} submitted {fields['SubmitTime']} started {fields.get('StartTime', '?')}"


def job_state(job_id: str, timeout: float = 10.0) -> str | None:
    """``PENDING``/``RUNNING``/``COMPLETED``/...; ``GONE`` when Slurm no longer knows the job;
    None when Slurm cannot be asked (then nobody may conclude the job is dead)."""
    from ksi.tools.scontrol import Scontrol

    return Scontrol().job_state(job_id, timeout=timeout)
