#!/usr/bin/env python3
"""`srun -N<N> ksi run` on a Slurm harness, with doubles that sleep like the real tools scaled
down: how close does ksi get to the critical path, and where does the rest go?

The doubles sleep for ``--scale`` (default 0.1) times what the real tools take on a typical node
(``REAL``, from docs/performance.md).  For each N and mode (Liqo federation, ``--no-federation``)
the run is repeated and the median reported:

* T(N): wall time of ``srun`` (start of the step to its end);
* L(N): the critical path, the sum of the doubles' delays on it: kind create + node Ready
  (+ what of the Liqo install outlasts the Ready wait it overlaps + one peering round + offload
  with federation) + kind delete (the step ends after the slowest delete);
* T - L, and where it goes: per leader phase, its duration minus the delay it contains (from
  the job's ``events.jsonl``), and "outside phases" (interpreter start, srun, the gaps);
* ksi's own CPU time per member (``bench/ksi_cpu.py``), apart from the tools' it ran;
* teardown: step end minus the end of the slowest member's ``delete cluster``.

``--cheap`` (the default; ``--no-cheap`` for the normal doubles) runs the doubles in their low-CPU
mode (``KSI_FAKE_CHEAP=1``, tests/fakeworld/common/forkserver.py): the same code and outputs,
forked from one server (started here, for every node of the set) that imported them once,
instead of a Python start per call.  The tools' CPU then counts the served calls too (ksi's
``os.times()`` sees only the shims' clients); the server's own CPU is in the table's heading.
The API server doubles' CPU is sampled from their container records in both modes.

Used by ``python -m bench.all``; alone:

    python -m bench.multinode --nodes 1,2,4 --repeat 3 [--harness-base /tmp/ksi-bench-harness]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.slurm.harness import SlurmCluster  # noqa: E402

#: seconds the real tools take on a typical node, warm image cache (docs/performance.md says
#: where each comes from): the doubles sleep ``scale`` times these
REAL = {
    "KSI_FAKE_KIND_CREATE_SECONDS": 40.0,
    "KSI_FAKE_NODE_READY_SECONDS": 15.0,
    "KSI_FAKE_LIQO_INSTALL_SECONDS": 60.0,
    # of which Liqo's pods pulling their images and starting, which needs a Ready node
    "KSI_FAKE_LIQO_INSTALL_PODS_SECONDS": 50.0,
    "KSI_FAKE_LIQO_PEER_SECONDS": 30.0,
    "KSI_FAKE_LIQO_OFFLOAD_SECONDS": 5.0,
    "KSI_FAKE_KIND_DELETE_SECONDS": 10.0,
}
#: the delay each leader phase contains (the rest of the phase is overhead)
PHASE_DELAY = {
    "create cluster": "KSI_FAKE_KIND_CREATE_SECONDS",
    "wait for nodes": "KSI_FAKE_NODE_READY_SECONDS",
    "install Liqo": "KSI_FAKE_LIQO_INSTALL_SECONDS",
    "peer": "KSI_FAKE_LIQO_PEER_SECONDS",
    "offload namespace": "KSI_FAKE_LIQO_OFFLOAD_SECONDS",
    "delete cluster": "KSI_FAKE_KIND_DELETE_SECONDS",
}
#: the bench's own harness instance: never the shared default one (tests/slurm/harness.py)
HARNESS = dict(base_dir="/tmp/ksi-bench-harness", nodes=16, bridge="ksibench0",
               subnet="10.201.0", netns_prefix="kb", node_prefix="bn", ctld_port=6917,
               slurmd_port=6919)


def harness(base_dir: str | None = None, nodes: int = 16) -> SlurmCluster:
    knobs = {**HARNESS, "nodes": max(nodes, 1)}
    if base_dir:
        knobs["base_dir"] = base_dir
    return SlurmCluster(**knobs)  # type: ignore[arg-type]


def critical_path(delays: dict[str, float], nodes: int, federation: bool,
                  peer_rounds: int = 1) -> float:
    """L(N): the delays a run cannot avoid, one member's chain plus the leader's work."""
    total = (delays["KSI_FAKE_KIND_CREATE_SECONDS"] + delays["KSI_FAKE_NODE_READY_SECONDS"]
             + delays["KSI_FAKE_KIND_DELETE_SECONDS"])
    if federation and nodes > 1:
        # the install starts while the node becomes Ready (roles.start_liqo_install)
        total += (phase_delay("install Liqo", delays)
                  + peer_rounds * delays["KSI_FAKE_LIQO_PEER_SECONDS"]
                  + delays["KSI_FAKE_LIQO_OFFLOAD_SECONDS"])
    return total


def phase_delay(name: str, delays: dict[str, float]) -> float:
    """The doubles' delay a leader phase contains.  "install Liqo" only joins an install that
    started at the beginning of "wait for nodes": it holds what is left of the install's first
    part (the chart's objects) after the Ready wait, and all of its pods' part, which cannot
    start before Ready (tests/fakeworld/liqoctl/install.py ``_helm_wait``)."""
    if name == "install Liqo":
        pods = delays.get("KSI_FAKE_LIQO_INSTALL_PODS_SECONDS", 0.0)
        first = delays["KSI_FAKE_LIQO_INSTALL_SECONDS"] - pods
        return pods + max(0.0, first - delays["KSI_FAKE_NODE_READY_SECONDS"])
    return delays.get(PHASE_DELAY.get(name, ""), 0.0)


@dataclass
class Run:
    wall: float
    #: leader's phase -> seconds (summed when a phase repeats)
    phases: dict[str, float]
    #: ksi's own CPU seconds per member, and its tools' (``bench/ksi_cpu.py``)
    cpu_self: list[float]
    cpu_tools: list[float]
    #: step end minus the end of the slowest member's "delete cluster"
    after_delete: float
    #: step end minus the end of the leader's workload
    teardown: float
    #: the last ksi process's exit minus the end of the slowest member's "delete cluster"
    exit_after_delete: float = 0.0
    machine_cpu: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)
    #: the API server doubles' CPU seconds, all members together
    cpu_api: float = 0.0


def _proc_cpu(pid: int) -> float | None:
    """user + system seconds of a live process, None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ApiCpu(threading.Thread):
    """Samples the CPU of every node container's process (the API server doubles: their pids are
    in the container records) four times a second; they leave ksi's process tree, so nothing else
    counts them.  At most one period of an API server's CPU before its end is missed."""

    def __init__(self, fake_root: Path):
        super().__init__(daemon=True)
        self.fake_root = fake_root
        self.seen: dict[int, float] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.25):
            for record in self.fake_root.glob("hosts/*/*/containers/*.json"):
                try:
                    pid = json.loads(record.read_text()).get("pid")
                except (OSError, ValueError):
                    continue
                cpu = _proc_cpu(pid) if isinstance(pid, int) else None
                if cpu is not None:
                    self.seen[pid] = max(cpu, self.seen.get(pid, 0.0))


class ForkServer:
    """The cheap mode's fork server for every node of a set, started here and stopped after it
    (``with ForkServer() as server``); the nodes' calls join their namespaces in it."""

    def __enter__(self) -> "ForkServer":
        self.dir = Path(tempfile.mkdtemp(prefix="ksi-bench-forkserver-"))
        self.socket = self.dir / "bench.sock"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KSI_", "K8S_"))}
        env["PYTHONPATH"] = str(ROOT)
        with open(self.dir / "server.log", "ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - our own server
                [sys.executable, "-P", "-m", "tests.fakeworld.common.forkserver", str(self.socket),
                 str(os.getpid())],  # it exits when the bench is gone, however it ended
                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        from tests.fakeworld.common.forkserver import build_client

        self.client = build_client(self.dir / "forkclient")  # None: the shims' Python client
        deadline = time.monotonic() + 60
        while not self.socket.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"the fork server did not start: {self.dir / 'server.log'}")
            time.sleep(0.05)
        return self

    def cpu(self) -> float:
        """The server's own CPU seconds so far (imports, accepting, forking)."""
        return _proc_cpu(self.proc.pid) or 0.0

    def __exit__(self, *_: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def _fork_servers(fake_root: Path) -> dict[str, float]:
    """Stop the cheap mode's fork servers; CPU seconds per host of their served calls and their own."""
    per_host: dict[str, float] = {}
    directory = fake_root / "forkserver"
    for pidfile in directory.glob("*.pid"):
        host = pidfile.stem.rsplit("-", 1)[0]
        try:
            pid = int(pidfile.read_text())
        except (OSError, ValueError):
            continue
        per_host[host] = per_host.get(host, 0.0) + (_proc_cpu(pid) or 0.0)
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    log = directory / "cpu.jsonl"
    for line in (log.read_text().splitlines() if log.exists() else []):
        call = json.loads(line)
        per_host[call["host"]] = per_host.get(call["host"], 0.0) + call["cpu"]
    return per_host


def _cpu_busy() -> float:
    """Seconds of CPU the whole machine spent (all cores), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(x) for x in fields]
    busy = sum(ticks) - ticks[3] - ticks[4]  # minus idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


def one_run(cluster: SlurmCluster, nodes: int, delays: dict[str, float], federation: bool,
            extra_env: dict[str, str] | None = None,
            forkserver: ForkServer | None = None) -> Run:
    base = Path(tempfile.mkdtemp(prefix="ksi-bench-"))
    sampler = ApiCpu(base / "fake")
    try:
        for sub in ("fake", "shared", "xdg", "work", "home"):
            (base / sub).mkdir(mode=0o700)
        # the user's D-Bus session bus, which ksi run's fast checks look for (as tests/conftest.py)
        bus = socket.socket(socket.AF_UNIX)
        bus.bind(str(base / "bus"))
        bus.close()
        env = cluster.client_env({k: v for k, v in os.environ.items()
                                  if not k.startswith(("KSI_", "K8S_"))})
        env.update({k: f"{v:g}" for k, v in delays.items()})
        env.update({
            "PATH": f"{ROOT / 'tests' / 'fakeworld' / 'bin'}:{Path(sys.executable).parent}:"
                    f"{env['PATH']}",
            "KSI_FAKE_ROOT": str(base / "fake"), "KSI_SHARED_DIR": str(base / "shared"),
            "HOME": str(base / "home"), "KSI_TEST_XDG_BASE": str(base / "xdg"),
            "KSI_BENCH_CPU_LOG": str(base / "cpu.jsonl"),
            "DBUS_SESSION_BUS_ADDRESS": f"unix:path={base / 'bus'}",
        })
        if forkserver is not None:
            env.update(KSI_FAKE_CHEAP="1", KSI_FAKE_FORKSERVER=str(forkserver.socket))
            if forkserver.client is not None:
                env["KSI_FAKE_FORKCLIENT"] = str(forkserver.client)
        env.update(extra_env or {})
        work = base / "work"
        (work / "w.sh").write_text("kubectl get nodes -o name | wc -l > nodes.txt\n")
        names = cluster.node_names[:nodes]
        nodelist = names[0] if nodes == 1 else f"{cluster.node_prefix}[1-{nodes}]"
        argv = ["srun", f"-N{nodes}", "--ntasks-per-node=1", "-w", nodelist,
                str(ROOT / "tests" / "slurm" / "onnode.sh"), sys.executable,
                str(ROOT / "bench" / "ksi_cpu.py"), "run",
                *([] if federation else ["--no-federation"]), "w.sh"]
        sampler.start()
        cpu0 = _cpu_busy()
        t0 = time.time()
        res = subprocess.run(argv, cwd=work, env=env, text=True, capture_output=True,
                             timeout=900, check=False)
        t_end = time.time()
        machine = _cpu_busy() - cpu0
        sampler.done.set()
        served = _fork_servers(base / "fake")
        if res.returncode != 0:
            raise RuntimeError(f"srun -N{nodes} failed ({res.returncode}):\n{res.stderr[-3000:]}")
        seen = int((work / "nodes.txt").read_text())
        want = nodes if federation else 1
        if seen != want:
            raise RuntimeError(f"srun -N{nodes}: the workload saw {seen} nodes, not {want}")
        job_dir = next((base / "shared" / "jobs").glob("*"))
        # one events.jsonl, or one file per member (events/<rank>.jsonl) in later layouts
        files = [job_dir / "events.jsonl", *sorted((job_dir / "events").glob("*.jsonl"))]
        events = [json.loads(line) for f in files if f.exists()
                  for line in f.read_text().splitlines() if line.strip()]
        leader = next(e["rank"] for e in events if e.get("phase") == "workload")
        phases: dict[str, float] = {}
        for e in events:
            if e.get("rank") == leader and "phase" in e:
                phases[e["phase"]] = phases.get(e["phase"], 0.0) + e["duration"]
        deletes = [e["start"] + e["duration"] for e in events
                   if e.get("phase") == "delete cluster"]
        workload_end = max(e["start"] + e["duration"] for e in events
                           if e.get("phase") == "workload")
        cpu = [json.loads(line) for line in (base / "cpu.jsonl").read_text().splitlines()]
        lead_pid = next(e["pid"] for e in events if e.get("phase") == "workload")
        lead_cpu = next((c for c in cpu if c["pid"] == lead_pid), cpu[0])
        first_phase = min(e["start"] for e in events if e.get("rank") == leader)
        extra = {"srun to ksi start": min(c["start"] for c in cpu) - t0,
                 "ksi start to its first phase": first_phase - lead_cpu["start"],
                 "last ksi exit to step end": t_end - max(c["end"] for c in cpu)}
        return Run(wall=t_end - t0, phases=phases, cpu_self=[c["self"] for c in cpu],
                   cpu_tools=[c["tools"] + served.get(c["host"], 0.0) for c in cpu],
                   cpu_api=sum(sampler.seen.values()),
                   after_delete=t_end - max(deletes), teardown=t_end - workload_end,
                   exit_after_delete=max(c["end"] for c in cpu) - max(deletes),
                   machine_cpu=machine, extra=extra)
    finally:
        sampler.done.set()
        _fork_servers(base / "fake")
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class Result:
    nodes: int
    federation: bool
    runs: list[Run]
    critical: float
    #: the cheap mode's fork server's own CPU seconds over the whole set (0: normal doubles)
    server_cpu: float = 0.0

    def med(self, key: str) -> float:
        return statistics.median(getattr(r, key) for r in self.runs)

    @property
    def wall(self) -> float:
        return self.med("wall")

    def phase(self, name: str) -> float:
        return statistics.median(r.phases.get(name, 0.0) for r in self.runs)

    @property
    def cpu_self(self) -> float:
        """ksi's own CPU seconds per member (median over runs of the mean over members)."""
        return statistics.median(statistics.mean(r.cpu_self) for r in self.runs)

    @property
    def cpu_self_max(self) -> float:
        return max(max(r.cpu_self) for r in self.runs)

    @property
    def cpu_tools(self) -> float:
        return statistics.median(statistics.mean(r.cpu_tools) for r in self.runs)

    @property
    def cpu_api(self) -> float:
        """The API server doubles' CPU seconds per member (median over runs)."""
        return statistics.median(r.cpu_api / self.nodes for r in self.runs)


def run_set(cluster: SlurmCluster, nodes_list: list[int], repeat: int, scale: float,
            federation_modes: tuple[bool, ...] = (True, False),
            peer_rounds: int = 1, log=print, cheap: bool = True) -> list[Result]:
    delays = {k: v * scale for k, v in REAL.items()}
    results: list[Result] = []
    server = ForkServer().__enter__() if cheap else None
    try:
        _run_set(cluster, nodes_list, repeat, delays, federation_modes, peer_rounds, log,
                 server, results)
    finally:
        if server is not None:
            for r in results:
                r.server_cpu = server.cpu()
            server.__exit__()
    return results


def _run_set(cluster: SlurmCluster, nodes_list: list[int], repeat: int,
             delays: dict[str, float], federation_modes: tuple[bool, ...], peer_rounds: int,
             log, server: ForkServer | None, results: list[Result]) -> None:
    cheap = server is not None
    for nodes in nodes_list:
        for federation in federation_modes:
            runs = []
            for i in range(repeat):
                load = os.getloadavg()[0]
                run = one_run(cluster, nodes, delays, federation, forkserver=server)
                run.extra["load"] = load
                log(f"  N={nodes} {'federation' if federation else 'no-federation'} "
                    f"{'cheap' if cheap else 'normal'} doubles run {i + 1}/{repeat}: "
                    f"{run.wall:.1f}s (load average {load:.2f} before)")
                runs.append(run)
            results.append(Result(nodes, federation, runs,
                                  critical_path(delays, nodes, federation, peer_rounds)))


def tables(results: list[Result], scale: float, cheap: bool = True) -> str:
    """The bench's tables as Markdown (docs/performance.md takes them as they are)."""
    delays = {k: v * scale for k, v in REAL.items()}
    out = [f"Doubles sleep {scale:g} x the real tools: "
           + ", ".join(f"{k.removeprefix('KSI_FAKE_').removesuffix('_SECONDS').lower()} "
                       f"{v:g}s" for k, v in delays.items()) + "; doubles in their "
           + (f"low-CPU mode (KSI_FAKE_CHEAP=1: one fork server for all nodes, its own CPU "
              f"{max((r.server_cpu for r in results), default=0.0):.2f} s over the whole set)"
              if cheap else "normal mode (a Python start per call)"), ""]
    out += ["| N | mode | T(N) s | runs | L(N) s | T-L s | T(N)/T(1) | ksi CPU s/member "
            "(max) | tools' CPU s/member | API servers' CPU s/member | machine CPU s | "
            "load average before | last ksi exit / step end after slowest delete s |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    firsts = {r.federation: r.wall for r in results if r.nodes == min(x.nodes for x in results)}
    for r in results:
        mode = "Liqo" if r.federation else "--no-federation"
        runs = " ".join(f"{x.wall:.1f}" for x in r.runs)
        out.append(f"| {r.nodes} | {mode} | {r.wall:.1f} | {runs} | {r.critical:.1f} | "
                   f"{r.wall - r.critical:.1f} | {r.wall / firsts[r.federation]:.2f} | "
                   f"{r.cpu_self:.2f} ({r.cpu_self_max:.2f}) | {r.cpu_tools:.2f} | "
                   f"{r.cpu_api:.2f} | {r.med('machine_cpu'):.1f} | "
                   + " ".join(f"{x.extra.get('load', 0.0):.1f}" for x in r.runs) + " | "
                   f"{r.med('exit_after_delete'):.2f} / "
                   f"{r.med('after_delete'):.2f} |")
    for federation in (True, False):
        chosen = [r for r in results if r.federation == federation]
        if not chosen:
            continue
        out += ["", f"Where T - L goes, {'Liqo' if federation else '--no-federation'} "
                "(leader's phases, median s; a phase's own delay subtracted):", ""]
        names = list(dict.fromkeys(p for r in chosen for run in r.runs for p in run.phases))
        out.append("| phase | " + " | ".join(f"N={r.nodes}" for r in chosen) + " |")
        out.append("| --- |" + " --- |" * len(chosen))
        for name in names:
            delay = phase_delay(name, delays)
            cells = []
            for r in chosen:
                present = any(name in run.phases for run in r.runs)
                cells.append(f"{r.phase(name) - delay:.2f}" if present else "-")
            out.append(f"| {name}{' (-' + format(delay, 'g') + ')' if delay else ''} | "
                       + " | ".join(cells) + " |")
        outside = []
        for r in chosen:
            inside = sum(r.phase(n) for n in names)
            outside.append(f"{r.wall - inside:.2f}")
        out.append("| outside phases | " + " | ".join(outside) + " |")
        for key in ("srun to ksi start", "ksi start to its first phase",
                    "last ksi exit to step end"):
            cells = [f"{statistics.median(run.extra.get(key, 0.0) for run in r.runs):.2f}"
                     for r in chosen]
            out.append(f"| - of which {key} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def ksi_at(rev: str) -> Path:
    """ksi's package and templates as they were at ``rev`` (``git archive``), for a before/after
    comparison: the runs find it first on ``PYTHONPATH``; the doubles and the bench stay this
    checkout's, so only ksi differs."""
    dest = Path(tempfile.mkdtemp(prefix="ksi-rev-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "ksi", "templates"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def compare(cluster: SlurmCluster, rev: str, nodes_list: list[int], repeat: int, scale: float,
            log=print, slow: str = "", cheap: bool = True) -> str:
    """The leader's raw phases (no delay subtracted), ksi at ``rev`` against this checkout, with
    Liqo, runs interleaved (before, after, before, ...) so that both see the same machine.
    ``slow``: ``KSI_FAKE_SLOW_HOSTS`` (``host=factor,...``), members that come up later."""
    delays = {k: v * scale for k, v in REAL.items()}
    both = {"KSI_FAKE_SLOW_HOSTS": slow} if slow else {}
    old = ksi_at(rev)
    sets: dict[tuple[int, str], list[Run]] = {}
    try:
        with ForkServer() if cheap else contextlib.nullcontext() as server:
            for nodes in nodes_list:
                for i in range(repeat):
                    for label, env in ((rev, {"PYTHONPATH": str(old)}), ("this checkout", {})):
                        run = one_run(cluster, nodes, delays, True, {**env, **both},
                                      forkserver=server)
                        log(f"  N={nodes} {label} run {i + 1}/{repeat}: {run.wall:.1f}s")
                        sets.setdefault((nodes, label), []).append(run)
    finally:
        shutil.rmtree(old, ignore_errors=True)
    keys = list(sets)
    out = ["| leader phase, median s | " + " | ".join(f"N={n} {label}" for n, label in keys) + " |",
           "| --- |" + " --- |" * len(keys)]
    out.append("| **T(N)** (runs) | " + " | ".join(
        f"**{statistics.median(r.wall for r in sets[k]):.1f}** ("
        + " ".join(f"{r.wall:.1f}" for r in sets[k]) + ")" for k in keys) + " |")
    names = list(dict.fromkeys(p for runs in sets.values() for r in runs for p in r.phases))
    for name in names:
        out.append(f"| {name} | " + " | ".join(
            f"{statistics.median(r.phases.get(name, 0.0) for r in sets[k]):.2f}" for k in keys) + " |")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--nodes", default="1,2,4,8,16")
    parser.add_argument("--harness-base", default=None)
    parser.add_argument("--no-side-by-side", action="store_true",
                        help="federation only (no --no-federation runs)")
    parser.add_argument("--slow", default="", metavar="HOST=FACTOR,...",
                        help="with --compare: these hosts' doubles take FACTOR times longer")
    parser.add_argument("--compare", metavar="REV",
                        help="leader phases of ksi at git revision REV against this checkout "
                             "(with Liqo, runs interleaved), e.g. before an overlap")
    parser.add_argument("--cheap", action=argparse.BooleanOptionalAction, default=True,
                        help="the doubles' low-CPU mode (KSI_FAKE_CHEAP=1; default: on)")
    args = parser.parse_args()
    nodes_list = [int(n) for n in args.nodes.split(",")]
    cluster = harness(args.harness_base, max(nodes_list + [16]))
    cluster.up(timeout=120, started_by="bench")
    if args.compare:
        print(compare(cluster, args.compare, nodes_list, args.repeat, args.scale,
                      log=lambda s: print(s, file=sys.stderr, flush=True), slow=args.slow,
                      cheap=args.cheap))
        return 0
    modes = (True,) if args.no_side_by_side else (True, False)
    results = run_set(cluster, nodes_list, args.repeat, args.scale, modes,
                      log=lambda s: print(s, file=sys.stderr, flush=True), cheap=args.cheap)
    print(tables(results, args.scale, args.cheap))
    return 0


if __name__ == "__main__":
    sys.exit(main())
