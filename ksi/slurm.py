"""The Slurm environment, read once into a frozen value.  Nothing else in ksi reads ``SLURM_*``.

Outside Slurm (``ksi run`` on a workstation or a login node) the context is "standalone": one
member, rank 0, no job id.  Inside a batch script without ``srun`` (no step id, the batch step),
ksi also runs as one member, named after the job.
"""

from __future__ import annotations

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
        step_id = env.get(VARIABLES["step_id"]) or None
        if step_id is None:  # the batch script itself: one member on the first node
            return cls(job_id=job_id, step_id="batch", rank=0, ntasks=1, nnodes=1,
                       node_name=env.get(VARIABLES["node_name"]) or host)
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
        )


#: Job states in which a job's clusters are alive; any other state, or a job Slurm no longer
#: knows, means they are stale.
LIVE_JOB_STATES = frozenset({"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED",
                             "RESIZING", "REQUEUED", "SIGNALING", "STAGE_OUT"})


def scontrol_fields(kind: str, name: str, timeout: float = 10.0) -> dict[str, str]:
    """``scontrol show KIND NAME -o`` as a dict; empty when Slurm does not answer."""
    from ksi.tools.scontrol import Scontrol

    return Scontrol().show(kind, name, timeout=timeout)


def node_address(ctx: SlurmContext) -> str:
    """The address other nodes reach this one at.

    Inside Slurm this is the node's ``NodeAddr`` (what slurmctld itself uses to reach the node);
    outside, the address the host name resolves to when it is not a loopback address, else
    127.0.0.1.  ``--api-address`` overrides both.
    """
    if ctx.in_slurm:
        addr = scontrol_fields("node", ctx.node_name).get("NodeAddr")
        if addr and addr != ctx.node_name:
            return addr
    try:
        addr = socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"
    return "127.0.0.1" if addr.startswith("127.") else addr


def job_end_time(job_id: str) -> float | None:
    """The job's end (epoch seconds) from ``scontrol show job``; None when unknown/unlimited."""
    end = scontrol_fields("job", job_id).get("EndTime", "")
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
