"""A real multi-node Slurm on one machine, for ksi's multi-node tests.

Every Slurm node is a network namespace (``node1``..``nodeN``, one veth each on the
bridge ``ksibr0``, addresses 10.200.0.11.., no default route: nothing leaves the machine)
plus a UTS namespace carrying its host name, with its own ``slurmd``.  ``slurmctld`` and a
private ``munged`` (own socket, passed to Slurm with ``AuthInfo=socket=``) run on the host;
slurmctld is reached at the bridge address 10.200.0.1.  All namespaces share the host
filesystem, so job scripts and output files are visible everywhere at the same path.

The slurmd are started through ``nsenter --net`` + ``unshare --uts --mount`` because
``ip netns exec`` remounts /sys, hides /sys/fs/cgroup, and slurmd dies
(/work/shared/TECH-NOTES.md section 7).  ProctrackType is proctrack/cgroup (cgroup v1,
per-node ``/sys/fs/cgroup/<ctrl>/slurm_<node>/`` trees: Debian builds Slurm with multiple-slurmd
support) and falls back to proctrack/linuxproc when that cannot work.

Python use (run from the repository root, or with it on sys.path)::

    cluster = SlurmCluster()          # base dir /tmp/ksi-slurm-harness, 4 nodes
    cluster.up()                      # idempotent: reuses a healthy running cluster
    subprocess.run(["srun", "-N3", "true"], env={**os.environ, **cluster.env})
    # or env=cluster.client_env(): os.environ without inherited SLURM_* + cluster.env
    cluster.down()                    # idempotent

CLI::

    python -m tests.slurm.harness up|down|status|env|bench [--base-dir DIR] [--nodes N] ...

Timing facts worth knowing in tests: ``srun`` starts at once after up(); slurmctld does
not start *batch* jobs until ~3 s after it started, and afterwards sbatch submit->RUNNING
takes 0.3-1 s (whole-second scheduling granularity).  With proctrack/cgroup a step's end is
noticed ~1 s after its last process is gone.

Needs root and the Debian packages slurmctld slurmd slurm-client munge iproute2
(tests/slurm/install.sh installs them).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

DEFAULT_BASE_DIR = "/tmp/ksi-slurm-harness"

#: programs the harness runs (the packages that provide them are in install.sh)
REQUIRED_PROGRAMS = (
    "munged", "slurmctld", "slurmd", "slurmstepd",
    "srun", "sbatch", "scancel", "squeue", "scontrol", "sinfo",
    "ip", "nsenter", "unshare", "hostname",
)

#: sinfo compact states of a node that answers and can take work (no "*": responding)
_HEALTHY_STATES = {"idle", "mix", "alloc", "comp"}

#: job states after which nothing of the job is left on the nodes
TERMINAL_JOB_STATES = {
    "COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "PREEMPTED",
    "BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY", "REVOKED", "SPECIAL_EXIT",
}

_LOCKS: dict[str, object] = {}
_LOCKS_GUARD = threading.Lock()


class HarnessError(RuntimeError):
    """The test cluster could not be brought up (message carries the log tails)."""


def missing_programs() -> list[str]:
    """Programs the harness needs that are not on PATH (sbin included)."""
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/bin:/bin"
    return [p for p in REQUIRED_PROGRAMS if shutil.which(p, path=path) is None]


def _which(prog: str) -> str:
    """Absolute path of ``prog`` (PATH, then the sbin/bin directories)."""
    search = os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/bin:/bin"
    found = shutil.which(prog, path=search)
    if found is None:
        raise HarnessError(f"{prog} not found: run tests/slurm/install.sh")
    return found


def _tail(path: Path, lines: int = 25) -> str:
    try:
        data = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"  ({path}: {exc.strerror})"
    return "\n".join("  " + line for line in data[-lines:]) or f"  ({path} is empty)"


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _cgroup_v1_freezer() -> bool:
    """True when a cgroup v1 freezer hierarchy is mounted (what proctrack/cgroup needs)."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return False
    for line in mounts:
        parts = line.split()
        if len(parts) >= 4 and parts[2] == "cgroup" and "freezer" in parts[3].split(","):
            return True
    return False


def _cgroup2_only() -> bool:
    """True when /sys/fs/cgroup itself is a cgroup2 mount (unified hierarchy only)."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return False
    return any(line.split()[1:3] == ["/sys/fs/cgroup", "cgroup2"] for line in mounts)


class SlurmCluster:
    """A Slurm cluster of ``nodes`` namespaced nodes, all state under ``base_dir``."""

    def __init__(
        self,
        base_dir: str | os.PathLike = DEFAULT_BASE_DIR,
        nodes: int = 4,
        cpus_per_node: int = 4,
        kill_wait: int = 30,
        min_job_age: int = 60,
        proctrack: str = "auto",
        bridge: str = "ksibr0",
        subnet: str = "10.200.0",
        netns_prefix: str = "",
        ctld_port: int = 6817,
        slurmd_port: int = 6818,
        partition: str = "debug",
        extra_conf: Sequence[str] = (),
        node_prefix: str = "node",
        hostname_addrs: bool = False,
    ) -> None:
        if not 1 <= nodes <= 200:
            raise ValueError("nodes must be in 1..200")
        if proctrack not in ("auto", "cgroup", "linuxproc"):
            raise ValueError("proctrack must be auto, cgroup or linuxproc")
        self.base_dir = Path(base_dir).resolve()
        self.n_nodes = nodes
        self.cpus_per_node = cpus_per_node
        self.kill_wait = kill_wait
        self.min_job_age = min_job_age
        self.requested_proctrack = proctrack
        self.bridge = bridge
        self.subnet = subnet
        self.netns_prefix = netns_prefix
        self.ctld_port = ctld_port
        self.slurmd_port = slurmd_port
        self.partition = partition
        self.extra_conf = list(extra_conf)
        #: node names are <node_prefix>1..N; a second instance on the same host needs its own
        #: (slurmd's per-node cgroup trees are named slurm_<node>, shared by all instances)
        self.node_prefix = node_prefix
        #: NodeAddr=<node>-ib (a host name, as slurm.conf(5) allows) instead of an IP; the names
        #: resolve through hosts files the harness bind-mounts on /etc/hosts in slurmctld's and
        #: each node's mount namespace (see ``hosts_file``); each node also maps its own name to
        #: 127.0.1.1, as Debian's installer does
        self.hostname_addrs = hostname_addrs
        self.hostname = socket.gethostname().split(".")[0]

    # ------------------------------------------------------------------ layout
    @property
    def node_names(self) -> list[str]:
        return [f"{self.node_prefix}{i}" for i in range(1, self.n_nodes + 1)]

    @property
    def controller_address(self) -> str:
        return f"{self.subnet}.1"

    def node_address(self, name: str) -> str:
        """The IPv4 address of node ``name`` (node1 -> 10.200.0.11)."""
        return f"{self.subnet}.{10 + self._index(name)}"

    def node_addr(self, name: str) -> str:
        """What slurm.conf says for NodeAddr: the IP, or with ``hostname_addrs`` a host name."""
        return f"{name}-ib" if self.hostname_addrs else self.node_address(name)

    def hosts_file(self, name: str | None = None) -> Path:
        """The /etc/hosts of node ``name`` (None: of slurmctld and client commands)."""
        return self.conf_dir / (f"hosts.{name}" if name else "hosts")

    def render_hosts(self, name: str | None = None) -> str:
        lines = ["# generated by tests/slurm/harness.py -- do not edit",
                 "127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
        if name is not None:
            lines.append(f"127.0.1.1\t{name}")  # Debian's installer maps the host name so
        lines += [f"{self.node_address(n)}\t{n}-ib" for n in self.node_names]
        return "\n".join(lines) + "\n"

    def _bind_hosts(self, name: str | None = None) -> str:
        """Shell words that bind-mount the hosts file over /etc/hosts (hostname_addrs only)."""
        if not self.hostname_addrs:
            return ""
        return f"{_which('mount')} --bind {self.hosts_file(name)} /etc/hosts && "

    def client_prefix(self) -> list[str]:
        """argv prefix for client commands that talk to slurmd (srun): with ``hostname_addrs``
        they must resolve the NodeAddr names too, so they run in a mount namespace of their
        own with the harness's hosts file (the host's /etc/hosts is left alone)."""
        if not self.hostname_addrs:
            return []
        return [_which("unshare"), "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
                f'{self._bind_hosts()}exec "$@"', "sh"]

    def netns(self, name: str) -> str:
        return f"{self.netns_prefix}{name}"

    def _index(self, name: str) -> int:
        if name not in self.node_names:
            raise KeyError(f"no node {name!r} (nodes: {', '.join(self.node_names)})")
        return int(name[len(self.node_prefix):])

    def _veth(self, name: str) -> str:
        return f"{self.bridge[:8]}v{int(name[len(self.node_prefix):])}"[:15]

    @property
    def conf_dir(self) -> Path:
        return self.base_dir / "etc"

    @property
    def slurm_conf(self) -> Path:
        return self.conf_dir / "slurm.conf"

    @property
    def log_dir(self) -> Path:
        return self.base_dir / "log"

    @property
    def run_dir(self) -> Path:
        return self.base_dir / "run"

    @property
    def munge_socket(self) -> Path:
        return self.base_dir / "munge" / "run" / "munge.socket.2"

    @property
    def shared_dir(self) -> Path:
        """A directory every node sees at the same path (for job scripts and output)."""
        return self.base_dir / "shared"

    @property
    def lock_path(self) -> Path:
        return self.base_dir.with_name(self.base_dir.name + ".lock")

    @property
    def lock(self):
        """An inter-process lock (one reentrant object per path in this process)."""
        from filelock import FileLock

        key = str(self.lock_path)
        with _LOCKS_GUARD:
            if key not in _LOCKS:
                _LOCKS[key] = FileLock(key)
            return _LOCKS[key]

    @property
    def _state_file(self) -> Path:
        return self.base_dir / "harness.json"

    def slurmd_log(self, name: str) -> Path:
        return self.log_dir / f"slurmd-{name}.log"

    def _slurmd_pidfile(self, name: str) -> Path:
        return self.run_dir / f"slurmd-{name}.pid"

    def slurmd_pid(self, name: str) -> int | None:
        pid = _read_pid(self._slurmd_pidfile(name))
        return pid if _pid_alive(pid) else None

    # --------------------------------------------------------------- env/conf
    @property
    def env(self) -> dict[str, str]:
        """Environment for Slurm client commands (srun, sbatch, scancel, squeue, scontrol)."""
        return {"SLURM_CONF": str(self.slurm_conf)}

    def client_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """``base`` (default os.environ) without inherited SLURM_* job variables, plus env."""
        src = os.environ if base is None else base
        env = {k: v for k, v in src.items() if not k.startswith(("SLURM_", "SLURMD_"))}
        env.update(self.env)
        return env

    @property
    def proctrack(self) -> str:
        """The proctrack plugin in effect (``cgroup`` or ``linuxproc``)."""
        state = self._load_state()
        if state.get("proctrack"):
            return state["proctrack"]
        return self._choose_proctrack()

    def _choose_proctrack(self) -> str:
        if self.requested_proctrack != "auto":
            return self.requested_proctrack
        return "cgroup" if _cgroup_v1_freezer() else "linuxproc"

    def render_slurm_conf(self, proctrack: str) -> str:
        b = self.base_dir
        first, last = 1, self.n_nodes
        nodes = "\n".join(
            f"NodeName={n} NodeHostname={n} NodeAddr={self.node_addr(n)} "
            f"CPUs={self.cpus_per_node} State=UNKNOWN"
            for n in self.node_names
        )
        nodelist = (f"{self.node_prefix}[{first}-{last}]" if last > first
                    else f"{self.node_prefix}1")
        lines = [
            "# generated by tests/slurm/harness.py -- do not edit",
            "ClusterName=ksitest",
            f"SlurmctldHost={self.hostname}({self.controller_address})",
            f"SlurmctldPort={self.ctld_port}",
            f"SlurmdPort={self.slurmd_port}",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.munge_socket}",
            "SlurmUser=root",
            "SlurmdUser=root",
            f"StateSaveLocation={b}/state",
            f"SlurmdSpoolDir={b}/spool/%n",
            f"SlurmctldPidFile={self.run_dir}/slurmctld.pid",
            f"SlurmdPidFile={self.run_dir}/slurmd-%n.pid",
            f"SlurmctldLogFile={self.log_dir}/slurmctld.log",
            f"SlurmdLogFile={self.log_dir}/slurmd-%n.log",
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            f"ProctrackType=proctrack/{proctrack}",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "SlurmdParameters=config_overrides",
            "SchedulerType=sched/backfill",
            "SchedulerParameters=batch_sched_delay=0",
            "EnforcePartLimits=ALL",
            "MailProg=/bin/true",
            f"KillWait={self.kill_wait}",
            f"MinJobAge={self.min_job_age}",
            "ReturnToService=2",
            "InactiveLimit=0",
            "SlurmdTimeout=300",
            "MpiDefault=none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/none",
            *self.extra_conf,
            nodes,
            (f"PartitionName={self.partition} Nodes={nodelist} Default=YES "
             "MaxTime=INFINITE State=UP"),
        ]
        return "\n".join(lines) + "\n"

    def render_cgroup_conf(self, proctrack: str) -> str:
        """cgroup.conf: slurmd reads it (and loads a cgroup plugin) even with linuxproc."""
        if _cgroup_v1_freezer() or not _cgroup2_only():
            plugin = "CgroupPlugin=cgroup/v1\n"
        else:
            # pure cgroup v2 without systemd: untested here; only the plugin must load
            plugin = "CgroupPlugin=cgroup/v2\nIgnoreSystemd=yes\n"
        return (
            "# generated by tests/slurm/harness.py -- do not edit\n"
            f"# for ProctrackType=proctrack/{proctrack}\n"
            f"{plugin}"
            "CgroupMountpoint=/sys/fs/cgroup\n"
            "ConstrainCores=no\n"
            "ConstrainDevices=no\n"
            "ConstrainRAMSpace=no\n"
            "ConstrainSwapSpace=no\n"
        )

    def _fingerprint(self, proctrack: str) -> str:
        net = f"{self.bridge}|{self.subnet}|{self.netns_prefix}|{self.n_nodes}"
        if self.node_prefix != "node":  # (the default instance's fingerprint is unchanged)
            net += f"|{self.node_prefix}"
        blob = self.render_slurm_conf(proctrack) + self.render_cgroup_conf(proctrack) + net
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def _load_state(self) -> dict:
        try:
            return json.loads(self._state_file.read_text())
        except (OSError, ValueError):
            return {}

    # --------------------------------------------------------------- commands
    def _run(self, argv: Sequence[str], check: bool = True, timeout: float = 30,
             **kw) -> subprocess.CompletedProcess:
        argv = list(argv)
        if "/" not in argv[0]:
            argv[0] = _which(argv[0])
        proc = subprocess.run(argv, check=False, capture_output=True, text=True,
                              timeout=timeout, **kw)
        if check and proc.returncode != 0:
            raise HarnessError(
                f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}"
            )
        return proc

    def slurm(self, *argv: str, check: bool = True, timeout: float = 30
              ) -> subprocess.CompletedProcess:
        """Run a Slurm client command against this cluster, capture its output."""
        return self._run(argv, check=check, timeout=timeout, env=self.client_env())

    def node_states(self) -> dict[str, str]:
        """{node: compact sinfo state} (e.g. idle, mix, alloc, down*, unk*)."""
        if not self.slurm_conf.exists():
            return {}   # sinfo would look for a configless server (DNS) and hang
        try:
            proc = self.slurm("sinfo", "-h", "-N", "-o", "%N %t", check=False, timeout=10)
        except subprocess.TimeoutExpired:
            return {}
        if proc.returncode != 0:
            return {}
        states = {}
        for line in proc.stdout.splitlines():
            parts = line.split()
            if len(parts) == 2:
                states[parts[0]] = parts[1]
        return states

    def job_info(self, jobid: str | int) -> dict[str, str] | None:
        """``scontrol show job -o`` as a dict; None once Slurm no longer knows the job."""
        if not self.slurm_conf.exists():
            return None
        proc = self.slurm("scontrol", "show", "job", "-o", str(jobid), check=False, timeout=10)
        if proc.returncode != 0 or not proc.stdout.strip():
            return None
        info: dict[str, str] = {}
        for tok in proc.stdout.split():
            key, sep, val = tok.partition("=")
            if sep and key not in info:
                info[key] = val
        return info

    def wait_job_gone(self, jobid: str | int, timeout: float = 60) -> str:
        """Wait until the job has ended on every node (terminal state, not completing).

        Returns the final JobState ("GONE" when Slurm already forgot the job).
        """
        deadline = time.monotonic() + timeout
        last = None
        while True:
            info = self.job_info(jobid)
            if info is None:
                return "GONE"
            last = info.get("JobState", "")
            if last in TERMINAL_JOB_STATES:
                return last
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {jobid} still {last} after {timeout}s")
            time.sleep(0.05)

    def wait_job_state(self, jobid: str | int, states: Iterable[str] = ("RUNNING",),
                       timeout: float = 30) -> str:
        wanted = set(states)
        deadline = time.monotonic() + timeout
        while True:
            info = self.job_info(jobid)
            state = info.get("JobState", "") if info else "GONE"
            if state in wanted:
                return state
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {jobid} is {state}, not {sorted(wanted)}, "
                                   f"after {timeout}s")
            time.sleep(0.02)

    def run_on_node(self, name: str, argv: Sequence[str], check: bool = False,
                    timeout: float = 30, **kw) -> subprocess.CompletedProcess:
        """Run ``argv`` inside node ``name``'s network and UTS namespaces (captured, text)."""
        prefix = self.enter_argv(name)
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        return subprocess.run([*prefix, *argv], check=check, timeout=timeout, **kw)

    def enter_argv(self, name: str) -> list[str]:
        """argv prefix that enters node ``name`` (net + uts namespaces)."""
        pid = self.slurmd_pid(name)
        prefix = [_which("nsenter"), f"--net=/run/netns/{self.netns(name)}"]
        if pid:
            prefix.append(f"--uts=/proc/{pid}/ns/uts")
        return [*prefix, "--"]

    def node_pids(self, name: str) -> list[int]:
        """Every process in node ``name``'s network namespace (slurmd included)."""
        self._index(name)
        return self._netns_pids(name)

    # ----------------------------------------------------------------- health
    def daemons(self) -> dict[str, int | None]:
        """{daemon: live pid or None}."""
        result: dict[str, int | None] = {}
        munge_pid = _read_pid(self.base_dir / "munge" / "run" / "munged.pid")
        result["munged"] = munge_pid if _pid_alive(munge_pid) else None
        ctld = _read_pid(self.run_dir / "slurmctld.pid")
        result["slurmctld"] = ctld if _pid_alive(ctld) else None
        for n in self.node_names:
            result[f"slurmd@{n}"] = self.slurmd_pid(n)
        return result

    def is_healthy(self) -> bool:
        """All daemons alive, config unchanged and every node responding."""
        state = self._load_state()
        if not state or state.get("fingerprint") != self._fingerprint(
                state.get("proctrack", "")):
            return False
        if self.requested_proctrack not in ("auto", state.get("proctrack")):
            return False
        if not all(self.daemons().values()):
            return False
        if not all(Path(f"/run/netns/{self.netns(n)}").exists() for n in self.node_names):
            return False
        states = self.node_states()
        return (set(states) == set(self.node_names)
                and all(s in _HEALTHY_STATES for s in states.values()))

    def status(self) -> dict:
        return {
            "base_dir": str(self.base_dir),
            "healthy": self.is_healthy(),
            "proctrack": self._load_state().get("proctrack"),
            "started_by": self._load_state().get("started_by"),
            "daemons": self.daemons(),
            "nodes": self.node_states(),
            "env": self.env,
        }

    def started_by(self) -> str | None:
        return self._load_state().get("started_by")

    # --------------------------------------------------------------------- up
    def up(self, timeout: float = 60, started_by: str = "api") -> bool:
        """Bring the cluster up; reuse a healthy one. Returns True on a cold start."""
        if os.geteuid() != 0:
            raise HarnessError("the Slurm test cluster needs root (netns, slurmd)")
        missing = missing_programs()
        if missing:
            raise HarnessError(f"missing programs {missing}: run tests/slurm/install.sh")
        with self.lock:
            if self.is_healthy():
                return False
            self._teardown()
            proctrack = self._choose_proctrack()
            try:
                self._cold_start(proctrack, timeout, started_by)
            except HarnessError as first:
                if self.requested_proctrack != "auto" or proctrack == "linuxproc":
                    self._teardown(keep_logs_on_error=True)
                    raise
                # proctrack/cgroup did not work on this host: fall back once.
                saved = self._save_logs()
                self._teardown()
                try:
                    self._cold_start("linuxproc", timeout, started_by,
                                     note=f"proctrack/cgroup failed:\n{first}\n(logs: {saved})")
                except HarnessError as second:
                    self._teardown(keep_logs_on_error=True)
                    raise HarnessError(f"{second}\n(the first attempt, with proctrack/cgroup, "
                                       f"failed too:\n{first})") from None
                except BaseException:
                    self._teardown(keep_logs_on_error=True)
                    raise
            except BaseException:
                self._teardown(keep_logs_on_error=True)
                raise
                warnings.warn(f"Slurm test cluster fell back to proctrack/linuxproc "
                              f"(proctrack/cgroup failed, logs in {saved})", stacklevel=2)
            return True

    def _cold_start(self, proctrack: str, timeout: float, started_by: str,
                    note: str | None = None) -> None:
        deadline = time.monotonic() + timeout
        self._make_dirs()
        self._write_munge_key()
        self.slurm_conf.write_text(self.render_slurm_conf(proctrack))
        if self.hostname_addrs:
            self.hosts_file().write_text(self.render_hosts())
            for n in self.node_names:
                self.hosts_file(n).write_text(self.render_hosts(n))
        (self.conf_dir / "cgroup.conf").write_text(self.render_cgroup_conf(proctrack))
        self._state_file.write_text(json.dumps({
            "fingerprint": self._fingerprint(proctrack),
            "proctrack": proctrack,
            "nodes": self.n_nodes,
            "started_by": started_by,
            "started_at": time.time(),
            "fallback_note": note,
        }, indent=1))
        self._setup_network()
        self._start_munged(deadline)
        self._start_slurmctld(deadline)
        self._start_slurmds(deadline)
        self._wait_nodes_idle(deadline, timeout)

    def _make_dirs(self) -> None:
        b = self.base_dir
        b.mkdir(parents=True, exist_ok=True)
        b.chmod(0o755)
        for d in (self.conf_dir, self.log_dir, self.run_dir, b / "state", b / "spool",
                  self.shared_dir, b / "munge"):
            d.mkdir(exist_ok=True)
            d.chmod(0o755)
        self.shared_dir.chmod(0o1777)
        for n in self.node_names:
            (b / "spool" / n).mkdir(exist_ok=True)
            (b / "spool" / n).chmod(0o755)
        (b / "munge" / "etc").mkdir(mode=0o700, exist_ok=True)
        (b / "munge" / "etc").chmod(0o700)
        for sub in ("run", "lib", "log"):
            (b / "munge" / sub).mkdir(exist_ok=True)
            (b / "munge" / sub).chmod(0o755)
        (b / "munge" / "lib").chmod(0o700)

    def _write_munge_key(self) -> None:
        key = self.base_dir / "munge" / "etc" / "munge.key"
        if key.exists():
            return
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        with os.fdopen(fd, "wb") as fh:
            fh.write(os.urandom(1024))
        key.chmod(0o400)

    # ---------------------------------------------------------------- network
    def _ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self._run(["ip", *args], check=check)

    def _setup_network(self) -> None:
        br, cidr = self.bridge, f"{self.controller_address}/24"
        self._ip("link", "add", br, "type", "bridge")
        self._ip("addr", "add", cidr, "dev", br)
        self._ip("link", "set", br, "up")
        for n in self.node_names:
            ns, veth = self.netns(n), self._veth(n)
            self._ip("netns", "add", ns)
            self._ip("link", "add", veth, "type", "veth", "peer", "name", "eth0",
                     "netns", ns)
            self._ip("link", "set", veth, "master", br, "up")
            self._run(["ip", "-n", ns, "-batch", "-"], input=(
                "link set lo up\n"
                f"addr add {self.node_address(n)}/24 dev eth0\n"
                "link set eth0 up\n"
            ))
        self._bridge_firewall(add=True)

    def _bridge_firewall(self, add: bool) -> None:
        """With br_netfilter active, let node-to-node traffic through a DROP FORWARD policy."""
        try:
            active = Path("/proc/sys/net/bridge/bridge-nf-call-iptables").read_text().strip()
        except OSError:
            return
        iptables = shutil.which("iptables", path="/usr/sbin:/sbin:/usr/bin:/bin")
        if active != "1" or iptables is None:
            return
        rule = ["FORWARD", "-i", self.bridge, "-o", self.bridge, "-j", "ACCEPT"]
        present = self._run([iptables, "-C", *rule], check=False).returncode == 0
        if add and not present:
            self._run([iptables, "-I", *rule], check=False)
        elif not add:
            while present:
                self._run([iptables, "-D", *rule], check=False)
                present = self._run([iptables, "-C", *rule], check=False).returncode == 0

    # ---------------------------------------------------------------- daemons
    def _daemon_env(self) -> dict[str, str]:
        env = self.client_env()
        env["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin"
        return env

    def _spawn(self, argv: Sequence[str], logname: str) -> subprocess.Popen:
        with open(self.log_dir / logname, "ab") as log:
            return subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=log, start_new_session=True,
                                    env=self._daemon_env(), cwd=self.base_dir)

    def _error(self, what: str, logs: Iterable[Path]) -> HarnessError:
        parts = [f"Slurm test cluster: {what}"]
        for log in logs:
            parts.append(f"--- tail of {log}:\n{_tail(log)}")
        return HarnessError("\n".join(parts))

    def _start_munged(self, deadline: float) -> None:
        m = self.base_dir / "munge"
        proc = self._spawn([
            _which("munged"),
            f"--socket={self.munge_socket}",
            f"--key-file={m / 'etc' / 'munge.key'}",
            f"--pid-file={m / 'run' / 'munged.pid'}",
            f"--log-file={m / 'log' / 'munged.log'}",
            f"--seed-file={m / 'lib' / 'munged.seed'}",
            "--num-threads=4",
        ], "munged.stderr")
        logs = [m / "log" / "munged.log", self.log_dir / "munged.stderr"]
        self._wait_spawned(proc, "munged", logs, deadline)
        while not self.munge_socket.exists():
            if time.monotonic() > deadline:
                raise self._error("munged did not create its socket", logs)
            time.sleep(0.01)

    def _start_slurmctld(self, deadline: float) -> None:
        argv = [_which("slurmctld"), "-f", str(self.slurm_conf)]
        if self.hostname_addrs:  # it resolves NodeAddr names through the harness's hosts file
            argv = [*self.client_prefix(), *argv]
        proc = self._spawn(argv, "slurmctld.stderr")
        logs = [self.log_dir / "slurmctld.log", self.log_dir / "slurmctld.stderr"]
        self._wait_spawned(proc, "slurmctld", logs, deadline)
        pidfile = self.run_dir / "slurmctld.pid"
        while True:
            if _pid_alive(_read_pid(pidfile)) and self._port_open(self.controller_address,
                                                                   self.ctld_port):
                return
            if time.monotonic() > deadline:
                raise self._error("slurmctld did not start listening", logs)
            if pidfile.exists() and not _pid_alive(_read_pid(pidfile)):
                raise self._error("slurmctld died", logs)
            time.sleep(0.01)

    @staticmethod
    def _port_open(host: str, port: int) -> bool:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            return False

    def _start_slurmds(self, deadline: float) -> None:
        slurmd = _which("slurmd")
        procs = []
        for n in self.node_names:
            script = (f"{_which('hostname')} {n} && {self._bind_hosts(n)}"
                      f"exec {slurmd} -f {self.slurm_conf} -N {n}")
            procs.append((n, self._spawn([
                _which("nsenter"), f"--net=/run/netns/{self.netns(n)}", "--",
                _which("unshare"), "--uts", "--mount", "--propagation", "slave", "--",
                "/bin/sh", "-c", script,
            ], f"slurmd-{n}.stderr")))
        for n, proc in procs:
            logs = [self.slurmd_log(n), self.log_dir / f"slurmd-{n}.stderr"]
            self._wait_spawned(proc, f"slurmd -N {n}", logs, deadline)

    def _wait_spawned(self, proc: subprocess.Popen, what: str, logs: list[Path],
                      deadline: float) -> None:
        """Wait for a self-daemonizing program's foreground process to exit 0."""
        try:
            rc = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise self._error(f"{what} did not daemonize in time", logs) from None
        if rc != 0:
            raise self._error(f"{what} exited with {rc}", logs)

    def _wait_nodes_idle(self, deadline: float, timeout: float) -> None:
        states: dict[str, str] = {}
        while True:
            states = self.node_states()
            if set(states) == set(self.node_names) and all(
                    s == "idle" for s in states.values()):
                return
            dead = [n for n in self.node_names if self.slurmd_pid(n) is None]
            if dead or time.monotonic() > deadline:
                bad = dead or [n for n in self.node_names if states.get(n) != "idle"]
                logs = [self.log_dir / "slurmctld.log"]
                for n in bad[:2]:
                    logs += [self.slurmd_log(n), self.log_dir / f"slurmd-{n}.stderr"]
                what = (f"slurmd died on {dead}" if dead else
                        f"nodes not idle after {timeout}s: {states or 'sinfo failed'}")
                raise self._error(what, logs)
            time.sleep(0.02)

    # ------------------------------------------------------------------- down
    def down(self) -> None:
        """Kill every daemon and job process, delete namespaces, bridge and base dir."""
        with self.lock:
            self._teardown()

    def _save_logs(self) -> Path | None:
        if not self.log_dir.exists():
            return None
        dest = self.base_dir.with_name(self.base_dir.name + ".failed-logs")
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(self.log_dir, dest, dirs_exist_ok=True)
        munge_log = self.base_dir / "munge" / "log" / "munged.log"
        if munge_log.exists():
            shutil.copy(munge_log, dest / "munged.log")
        return dest

    def _ours(self, pid: int) -> bool:
        """A process in the host namespace that the harness started (by its command line)."""
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            return False
        return str(self.base_dir).encode() in cmd and _comm(pid) in (
            "munged", "slurmctld", "slurmscriptd", "slurmd", "slurmstepd")

    def _kill(self, pids: Iterable[int]) -> set[int]:
        me = os.getpid()
        killed = set()
        for pid in pids:
            if pid in (0, 1, me):
                continue
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except ProcessLookupError:
                pass
        return killed

    def _cgroup_procs(self) -> list[int]:
        """Processes left in the per-node Slurm cgroups (slurm_nodeK, any v1 hierarchy)."""
        pids: list[int] = []
        for d in self._slurm_cgroup_dirs():
            for procs in d.rglob("cgroup.procs"):
                try:
                    pids += [int(p) for p in procs.read_text().split()]
                except (OSError, ValueError):
                    pass
        return pids

    def _slurm_cgroup_dirs(self) -> list[Path]:
        root = Path("/sys/fs/cgroup")
        names = {f"slurm_{n}" for n in self._teardown_names()}
        found = []
        try:
            hierarchies = [h for h in root.iterdir() if h.is_dir()]
        except OSError:
            return []
        for h in hierarchies:
            for name in names:
                if (h / name).is_dir():
                    found.append(h / name)
        return found

    def _teardown_names(self) -> list[str]:
        """Node names to clean up: this config's, and a previous config's if it had more."""
        recorded = self._load_state().get("nodes", 0)
        count = max(self.n_nodes, recorded if isinstance(recorded, int) else 0)
        return [f"{self.node_prefix}{i}" for i in range(1, count + 1)]

    def _netns_pids(self, name: str) -> list[int]:
        proc = self._run(["ip", "netns", "pids", self.netns(name)], check=False)
        return [int(p) for p in proc.stdout.split() if p.isdigit()]

    def _teardown(self, keep_logs_on_error: bool = False) -> None:
        if keep_logs_on_error:
            self._save_logs()
        names = self._teardown_names()
        pids: set[int] = set()
        for pid in self.daemons().values():
            if pid:
                pids.add(pid)
        # Processes inside the nodes (slurmd, slurmstepd, tasks, escaped job processes),
        # and leftovers found by cgroup or command line when pid files are gone.
        # A killed process leaves its namespaces early in exit, so keep waiting on the
        # pids already killed until they are really gone (or zombies).
        killed: set[int] = set()
        for attempt in range(100):
            victims = set(pids) | killed
            for n in names:
                if Path(f"/run/netns/{self.netns(n)}").exists():
                    victims.update(self._netns_pids(n))
            victims.update(self._cgroup_procs())
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit() and self._ours(int(entry.name)):
                    victims.add(int(entry.name))
            victims = {p for p in victims if _pid_alive(p)}
            if not victims:
                break
            killed |= self._kill(victims)
            pids = set()
            time.sleep(0.02 if attempt < 10 else 0.1)
        # cgroup directories left by slurmd (deepest first)
        for d in self._slurm_cgroup_dirs():
            for sub in sorted((p for p in d.rglob("*") if p.is_dir()),
                              key=lambda p: len(p.parts), reverse=True):
                try:
                    sub.rmdir()
                except OSError:
                    pass
            try:
                d.rmdir()
            except OSError:
                pass
        for n in names:
            if Path(f"/run/netns/{self.netns(n)}").exists():
                self._ip("netns", "del", self.netns(n), check=False)
            if Path(f"/sys/class/net/{self._veth(n)}").exists():
                self._ip("link", "del", self._veth(n), check=False)
        self._bridge_firewall(add=False)
        if Path(f"/sys/class/net/{self.bridge}").exists():
            self._ip("link", "del", self.bridge, check=False)
        shutil.rmtree(self.base_dir, ignore_errors=True)

    # ------------------------------------------------------------------ bench
    def bench(self, rounds: int = 5) -> dict[str, list[float]]:
        """Timings in seconds: ``srun -N3 true`` and sbatch submit -> RUNNING, per round."""
        env = self.client_env()
        n = min(3, self.n_nodes)
        srun_t, sbatch_t = [], []
        for _ in range(rounds):
            t0 = time.monotonic()
            subprocess.run(["srun", f"-N{n}", "true"], env=env, check=True)
            srun_t.append(round(time.monotonic() - t0, 4))
        for _ in range(rounds):
            t0 = time.monotonic()
            out = subprocess.run(
                ["sbatch", "--parsable", "-N1", "-o", "/dev/null", "--wrap", "sleep 30"],
                env=env, check=True, capture_output=True, text=True).stdout
            jobid = out.strip().split(";")[0]
            self.wait_job_state(jobid, ("RUNNING",), timeout=30)
            sbatch_t.append(round(time.monotonic() - t0, 4))
            subprocess.run(["scancel", jobid], env=env, check=True)
            self.wait_job_gone(jobid, timeout=60)
        return {f"srun_N{n}_true": srun_t, "sbatch_submit_to_running": sbatch_t}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.slurm.harness",
                                     description="Real multi-node Slurm test cluster")
    parser.add_argument("action", choices=["up", "down", "status", "bench", "env"])
    parser.add_argument("--base-dir", default=os.environ.get("KSI_SLURM_BASE_DIR",
                                                             DEFAULT_BASE_DIR))
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--cpus", type=int, default=4)
    parser.add_argument("--kill-wait", type=int, default=30)
    parser.add_argument("--min-job-age", type=int, default=60)
    parser.add_argument("--proctrack", choices=["auto", "cgroup", "linuxproc"], default="auto")
    parser.add_argument("--timeout", type=float, default=60)
    # a second instance next to the shared default one (bench/: 16 nodes) needs its own of each
    parser.add_argument("--bridge", default="ksibr0")
    parser.add_argument("--subnet", default="10.200.0", help="first three octets")
    parser.add_argument("--netns-prefix", default="")
    parser.add_argument("--node-prefix", default="node")
    parser.add_argument("--ctld-port", type=int, default=6817)
    parser.add_argument("--slurmd-port", type=int, default=6818)
    parser.add_argument("--hostname-addrs", action="store_true",
                        help="NodeAddr=<node>-ib host names instead of IP addresses")
    args = parser.parse_args(argv)
    cluster = SlurmCluster(args.base_dir, nodes=args.nodes, cpus_per_node=args.cpus,
                           kill_wait=args.kill_wait, min_job_age=args.min_job_age,
                           proctrack=args.proctrack, bridge=args.bridge, subnet=args.subnet,
                           netns_prefix=args.netns_prefix, node_prefix=args.node_prefix,
                           ctld_port=args.ctld_port, slurmd_port=args.slurmd_port,
                           hostname_addrs=args.hostname_addrs)
    try:
        if args.action == "up":
            t0 = time.monotonic()
            cold = cluster.up(timeout=args.timeout, started_by="cli")
            print(f"{'started' if cold else 'reused'} in {time.monotonic() - t0:.3f}s "
                  f"(proctrack/{cluster.proctrack}); use: export "
                  + " ".join(f"{k}={v}" for k, v in cluster.env.items()))
        elif args.action == "down":
            t0 = time.monotonic()
            cluster.down()
            print(f"down in {time.monotonic() - t0:.3f}s")
        elif args.action == "status":
            status = cluster.status()
            print(json.dumps(status, indent=1))
            return 0 if status["healthy"] else 1
        elif args.action == "env":
            for k, v in cluster.env.items():
                print(f"export {k}={v}")
        elif args.action == "bench":
            t0 = time.monotonic()
            cold = cluster.up(timeout=args.timeout, started_by="cli")
            up_t = time.monotonic() - t0
            t0 = time.monotonic()
            cluster.up(timeout=args.timeout, started_by="cli")
            warm_t = time.monotonic() - t0
            result = {"up_cold" if cold else "up_reused": round(up_t, 4),
                      "up_warm": round(warm_t, 4), **cluster.bench()}
            print(json.dumps(result))
    except HarnessError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
