"""Proof that the Slurm test harness is a real multi-node Slurm (fast: ~seconds)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slurm, pytest.mark.xdist_group("slurm")]

PY = sys.executable


def run(cluster, argv, timeout=60, check=True):
    proc = subprocess.run(argv, check=False, env=cluster.client_env(), capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{argv} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def by_task(stdout: str) -> dict[int, str]:
    """`srun -l` output -> {task id: line}."""
    out = {}
    for line in stdout.splitlines():
        task, _, rest = line.partition(": ")
        out[int(task)] = rest.strip()
    return out


def wait_for(predicate, timeout=20, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def test_srun_hostnames(slurm_cluster):
    proc = run(slurm_cluster, ["srun", "-N3", "-w", "node[1-3]", "-l", "hostname"])
    assert by_task(proc.stdout) == {0: "node1", 1: "node2", 2: "node3"}


def test_each_task_has_its_node_address(slurm_cluster):
    proc = run(slurm_cluster, ["srun", "-N3", "-l", "sh", "-c",
                               'echo "$(hostname) $SLURMD_NODENAME $(hostname -I)"'])
    tasks = by_task(proc.stdout)
    assert len(tasks) == 3
    seen = set()
    for line in tasks.values():
        host, nodename, *addrs = line.split()
        assert host == nodename
        assert addrs == [slurm_cluster.node_address(host)]
        seen.add(host)
    assert len(seen) == 3


def test_step_environment(slurm_cluster):
    wanted = ["SLURM_JOB_ID", "SLURM_STEP_ID", "SLURM_PROCID", "SLURM_NODEID",
              "SLURM_NNODES", "SLURM_NTASKS", "SLURMD_NODENAME", "SLURM_LAUNCH_NODE_IPADDR",
              "SLURM_JOB_NODELIST", "SLURM_LOCALID"]
    script = "; ".join(f'echo "{v}=${{{v}-UNSET}}"' for v in wanted)
    proc = run(slurm_cluster, ["srun", "-N3", "-n3", "-l", "sh", "-c", script])
    envs: dict[int, dict[str, str]] = {}
    for line in proc.stdout.splitlines():
        task, _, kv = line.partition(": ")
        key, _, val = kv.partition("=")
        envs.setdefault(int(task), {})[key] = val
    assert sorted(envs) == [0, 1, 2]
    for task, env in envs.items():
        assert "UNSET" not in env.values(), env
        assert env["SLURM_PROCID"] == str(task)
        assert env["SLURM_NNODES"] == "3" and env["SLURM_NTASKS"] == "3"
        assert env["SLURM_STEP_ID"] == "0"
        assert env["SLURM_LAUNCH_NODE_IPADDR"] == slurm_cluster.controller_address
        assert env["SLURMD_NODENAME"] in slurm_cluster.node_names
    assert len({e["SLURM_JOB_ID"] for e in envs.values()}) == 1
    assert sorted(e["SLURM_NODEID"] for e in envs.values()) == ["0", "1", "2"]


def test_sbatch_writes_output_and_completes(slurm_cluster, tmp_path):
    out = tmp_path / "out-%j.txt"
    proc = run(slurm_cluster, [
        "sbatch", "--parsable", "-N2", "-o", str(out), "--chdir", str(tmp_path),
        "--wrap", 'echo "batch on $(hostname)"; srun -l hostname',
    ])
    jobid = proc.stdout.strip().split(";")[0]
    assert slurm_cluster.wait_job_gone(jobid, timeout=60) == "COMPLETED"
    info = slurm_cluster.job_info(jobid)
    assert info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0"
    text = (tmp_path / f"out-{jobid}.txt").read_text()
    lines = text.splitlines()
    assert lines[0].startswith("batch on node"), text
    assert len([ln for ln in lines if ln[:3] in ("0: ", "1: ")]) == 2, text


def test_sbatch_failure_exit_code(slurm_cluster, tmp_path):
    proc = run(slurm_cluster, ["sbatch", "--parsable", "-N1", "-o", str(tmp_path / "o"),
                               "--wrap", "exit 3"])
    jobid = proc.stdout.strip().split(";")[0]
    assert slurm_cluster.wait_job_gone(jobid, timeout=60) == "FAILED"
    assert slurm_cluster.job_info(jobid)["ExitCode"] == "3:0"


# A task that records the signals it gets, and starts a child that does the same.
RECORDER = textwrap.dedent("""
    import os, signal, subprocess, sys, time
    out, role = sys.argv[1], sys.argv[2]
    log = open(out, "a", buffering=1)
    def handler(sig, frame):
        log.write(f"{signal.Signals(sig).name}\\n")
        if sig == signal.SIGTERM:
            sys.exit(0)          # well-behaved: end on SIGTERM
    for s in (signal.SIGTERM, signal.SIGCONT, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
        signal.signal(s, handler)
    if role == "task":
        child = subprocess.Popen([sys.executable, __file__, out + ".child", "child"],
                                 stdin=subprocess.DEVNULL)
        open(out + ".childpid", "w").write(str(child.pid))
        open(out + ".jobid", "w").write(os.environ["SLURM_JOB_ID"])
    log.write(f"START {os.getpid()}\\n")
    while True:
        time.sleep(0.05)
""")


def _start_recorder(cluster, tmp_path):
    script = tmp_path / "recorder.py"
    script.write_text(RECORDER)
    task_log = tmp_path / "task"
    srun = subprocess.Popen(["srun", "-N1", "-w", "node1", PY, str(script), str(task_log),
                             "task"], env=cluster.client_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    child_log = Path(str(task_log) + ".child")
    try:
        wait_for(lambda: task_log.exists() and "START" in task_log.read_text()
                 and child_log.exists() and "START" in child_log.read_text(),
                 what="the task and its child to start")
    except AssertionError:
        srun.kill()
        raise
    jobid = Path(str(task_log) + ".jobid").read_text()
    child_pid = int(Path(str(task_log) + ".childpid").read_text())
    return srun, jobid, task_log, child_log, child_pid


def test_scancel_job_sends_sigterm_to_task_only(slurm_cluster, tmp_path):
    """scancel JOB: the task gets SIGCONT+SIGTERM; with proctrack/cgroup its child gets
    no signal at all, only the final SIGKILL once the task has ended (so ksi must forward
    SIGTERM to its children itself). With proctrack/linuxproc the child gets CONT+TERM too."""
    srun, jobid, task_log, child_log, child_pid = _start_recorder(slurm_cluster, tmp_path)
    t0 = time.monotonic()
    run(slurm_cluster, ["scancel", jobid])
    _, err = srun.communicate(timeout=60)
    assert slurm_cluster.wait_job_gone(jobid, timeout=60) == "CANCELLED"
    elapsed = time.monotonic() - t0
    task_signals = task_log.read_text().split()[2:]
    child_signals = child_log.read_text().split()[2:]
    assert "SIGTERM" in task_signals, (task_signals, err)
    assert task_signals[:2] == ["SIGCONT", "SIGTERM"], task_signals
    if slurm_cluster.proctrack == "cgroup":
        assert child_signals == [], child_signals    # no SIGTERM: SIGKILLed
    else:
        assert child_signals[:2] == ["SIGCONT", "SIGTERM"], child_signals
    wait_for(lambda: not alive(child_pid), timeout=5, what="the child to be gone")
    # the task ended on SIGTERM, so nobody waited for KillWait
    assert elapsed < slurm_cluster.kill_wait, elapsed


def test_scancel_step_kills_at_once(slurm_cluster, tmp_path):
    """scancel JOB.STEP (Slurm 22.05): SIGKILL to the step at once, no SIGTERM at all."""
    srun, jobid, task_log, child_log, child_pid = _start_recorder(slurm_cluster, tmp_path)
    run(slurm_cluster, ["scancel", f"{jobid}.0"])
    srun.communicate(timeout=60)
    assert srun.returncode == 137
    slurm_cluster.wait_job_gone(jobid, timeout=60)
    assert task_log.read_text().split()[2:] == []
    assert child_log.read_text().split()[2:] == []
    assert not alive(child_pid)


ESCAPE = textwrap.dedent("""
    import os, subprocess, sys
    # leave the job's cgroups (as a rootless container in the user's containerd is)
    for line in open("/proc/self/cgroup"):
        _, ctrls, path = line.rstrip("\\n").split(":", 2)
        if "slurm" in path and ctrls:
            ctrl = ctrls.split(",")[0].replace("name=", "")
            with open(f"/sys/fs/cgroup/{ctrl}/cgroup.procs", "w") as fh:
                fh.write(str(os.getpid()))
    p = subprocess.Popen(["sleep", "600"], start_new_session=True, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    open(sys.argv[1], "w").write(str(p.pid))
""")


def test_process_escaping_the_job_cgroup_survives(slurm_cluster, tmp_path):
    script = tmp_path / "escape.py"
    script.write_text(ESCAPE)
    pidfile = tmp_path / "pid"
    proc = run(slurm_cluster, ["srun", "-N1", "-w", "node2", "sh", "-c",
                               f'echo $SLURM_JOB_ID; exec {PY} {script} {pidfile}'])
    jobid = proc.stdout.split()[0]
    pid = int(pidfile.read_text())
    try:
        slurm_cluster.wait_job_gone(jobid, timeout=60)
        time.sleep(0.3)
        assert alive(pid), "the escaped process was killed with the job"
        assert "slurm" not in Path(f"/proc/{pid}/cgroup").read_text()
        assert os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(
            f"/run/netns/{slurm_cluster.netns('node2')}").st_ino
        assert pid in slurm_cluster.node_pids("node2")
    finally:
        os.kill(pid, signal.SIGKILL)


def test_no_job_process_left_on_node(slurm_cluster):
    proc = run(slurm_cluster, ["srun", "-N1", "-w", "node3", "sh", "-c",
                               "sleep 0.1 & echo $SLURM_JOB_ID"])
    jobid = proc.stdout.split()[0]
    slurm_cluster.wait_job_gone(jobid, timeout=60)

    def leftovers():
        left = []
        for pid in slurm_cluster.node_pids("node3"):
            try:
                if f"job_{jobid}/" in Path(f"/proc/{pid}/cgroup").read_text():
                    left.append(pid)
            except OSError:
                pass
        return left
    wait_for(lambda: not leftovers(), timeout=10, what=f"job {jobid} processes to go")


def test_run_on_node(slurm_cluster):
    node = "node3"
    assert slurm_cluster.run_on_node(node, ["hostname"]).stdout.strip() == node
    addr = slurm_cluster.run_on_node(node, ["ip", "-4", "-o", "addr", "show", "eth0"]).stdout
    assert f"{slurm_cluster.node_address(node)}/24" in addr
    routes = slurm_cluster.run_on_node(node, ["ip", "route"]).stdout
    assert "default" not in routes             # nothing may leave the machine
    listening = slurm_cluster.run_on_node(node, ["ss", "-Htln"]).stdout
    assert ":6818" in listening                # this node's slurmd, and only in this node


def test_nodes_reach_each_other(slurm_cluster):
    # node1 -> node2 across the bridge (Liqo peering needs node-to-node traffic)
    addr = slurm_cluster.node_address("node2")
    server = subprocess.Popen([*slurm_cluster.enter_argv("node2"), PY, "-c", textwrap.dedent(f"""
        import socket
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("{addr}", 45678))
        s.listen()
        c, _ = s.accept()
        c.sendall(b"hello from node2")
        c.close()
    """)])
    try:
        code = textwrap.dedent(f"""
            import socket, time
            for i in range(100):
                try:
                    s = socket.create_connection(("{addr}", 45678), timeout=1)
                    break
                except OSError:
                    time.sleep(0.05)
            print(s.recv(100).decode())
        """)
        out = slurm_cluster.run_on_node("node1", [PY, "-c", code], timeout=30)
        assert out.stdout.strip() == "hello from node2", out.stderr
    finally:
        server.kill()
        server.wait()


def test_up_is_idempotent_and_fast_when_warm(slurm_cluster):
    t0 = time.monotonic()
    assert slurm_cluster.up() is False     # reused, not restarted
    assert time.monotonic() - t0 < 2
    assert slurm_cluster.is_healthy()
