"""Running ksi as Slurm job steps on the harness nodes, inside a fake world (tests/conftest.py)."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

from tests.conftest import WORKLOADS, wait_for

ONNODE = str(Path(__file__).with_name("onnode.sh"))
PROBE = str(WORKLOADS / "probe.sh")
SLEEPER = str(WORKLOADS / "sleeper.sh")
NODES = "node[1-3]"


class SlurmWorld:
    """A fake world whose ksi runs as Slurm job steps on the harness nodes."""

    def __init__(self, world, cluster) -> None:
        self.world = world
        self.cluster = cluster
        self.base: Path = world.base
        self.env = cluster.client_env(world.env)
        self.env["KSI_TEST_XDG_BASE"] = str(world.base / "xdg")
        self.jobs: list[str] = []

    def node(self, i: int) -> str:
        """The name of node ``i`` (``node2``; another instance's prefix when it has one)."""
        return f"{getattr(self.cluster, 'node_prefix', 'node')}{i}"

    def nodes_expr(self, nodes: int = 3) -> str:
        """``node[1-3]``: the first ``nodes`` nodes (of a harness instance with another node
        prefix, its own names)."""
        prefix = getattr(self.cluster, "node_prefix", "node")
        return f"{prefix}[1-{nodes}]" if nodes > 1 else f"{prefix}1"

    def srun_argv(self, *ksi_args: str, nodes: int = 3, name: str | None = None,
                  srun_opts: tuple[str, ...] = ()) -> list[str]:
        # srun talks to the slurmd: it must resolve host-name NodeAddrs (client_prefix)
        prefix = self.cluster.client_prefix() if hasattr(self.cluster, "client_prefix") else []
        return [*prefix, "srun", *srun_opts, f"-N{nodes}", "--ntasks-per-node=1", "-w",
                self.nodes_expr(nodes), "-J", name or f"t-{uuid.uuid4().hex[:8]}", ONNODE, "ksi",
                *ksi_args]

    def srun(self, *ksi_args: str, nodes: int = 3, timeout: float = 120,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(check=False, args=self.srun_argv(*ksi_args, nodes=nodes), cwd=self.base / "work",
                              env={**self.env, **(env or {})}, text=True, capture_output=True,
                              timeout=timeout)

    def srun_bg(self, *ksi_args: str, env: dict[str, str] | None = None,
                srun_opts: tuple[str, ...] = ()) -> tuple[subprocess.Popen[str], str]:
        name = f"t-{uuid.uuid4().hex[:8]}"
        proc = subprocess.Popen(self.srun_argv(*ksi_args, name=name, srun_opts=srun_opts), cwd=self.base / "work",
                                env={**self.env, **(env or {})}, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        job = wait_for(lambda: self.job_id(name), 30, f"job {name} to start")
        self.jobs.append(job)
        return proc, job

    def job_id(self, name: str) -> str | None:
        out = subprocess.run(check=False, args=["squeue", "-h", "-n", name, "-o", "%i"], env=self.env, text=True,
                             capture_output=True, timeout=10).stdout.strip()
        return out or None

    def job_dir(self, job: str) -> Path:
        return self.base / "shared" / "jobs" / f"{job}.0"

    def members(self, job: str) -> dict[int, dict]:
        found = {}
        for path in (self.job_dir(job) / "members").glob("*.json"):
            try:
                record = json.loads(path.read_text())
            except ValueError:
                continue
            found[record["rank"]] = record
        return found

    def on_node(self, node: str, *argv: str) -> subprocess.CompletedProcess[str]:
        return self.cluster.run_on_node(node, [ONNODE, *argv], env=self.env, timeout=60)

    def wait_gone(self, job: str) -> None:
        self.cluster.wait_job_gone(job, timeout=90)
