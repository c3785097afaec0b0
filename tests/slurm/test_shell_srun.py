"""``srun --pty ksi shell`` on the real Slurm harness: the shell is on task 0, whatever node
the election would have picked, over a federation of every member; exit tears all down."""

from __future__ import annotations

import re
import subprocess
import time

from tests.cli.shell.test_shell import Terminal


def test_srun_pty_gives_rank_0_the_shell_over_every_member(sw):
    argv = sw.srun_argv("shell", nodes=2, srun_opts=("--pty",))
    t = Terminal(sw, argv=argv)
    try:
        m = t.expect(r"\(ksi:(ksi-\d+-\d+-(\d+))\) ", timeout=120)
        cluster, rank = m.group(1), m.group(2)
        assert rank == "0", t.seen  # the task with the terminal leads
        t.send('echo "members=$KSI_MEMBERS host=$(hostname)"; kubectl get nodes -o name | sort\n')
        t.expect(r"members=2 host=node1")
        t.expect(f"node/{cluster}-control-plane")
        t.expect(r"node/ksi-\d+-\d+-1")  # the follower's cluster, a Liqo virtual node
        t.send("sleep 60; echo after-sleep\n")
        time.sleep(1.5)
        t.send("\x03")  # through srun to the remote terminal: the sleep, not ksi
        t.expect(r"\(ksi:" + cluster + r"\) ", timeout=15)
        assert t.proc.poll() is None and not re.search(r"^after-sleep$", t.seen, re.M)
        t.send("exit 3\n")
        assert t.finish(timeout=90) == 3, t.seen
    finally:
        if t.proc.poll() is None:
            t.proc.kill()
        t.close()


SPREAD_JOB = """apiVersion: batch/v1
kind: Job
metadata: {name: spread}
spec:
  completions: 2
  parallelism: 2
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{name: where, image: busybox:1.36, command: [sh, -c, "echo on $NODE"],
                    env: [{name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}]}]
"""


def test_srun_manifests_land_on_every_member_through_liqo(sw):
    path = sw.base / "work" / "spread.yaml"
    path.write_text(SPREAD_JOB)
    res = sw.srun("run", str(path), nodes=2)
    assert res.returncode == 0, res.stderr
    leader = re.search(r"\[node\d r\d\] leader of 2 member\(s\); cluster (ksi-\d+-\d+-\d+)", res.stderr).group(1)
    follower = ({f"ksi-{m}" for m in re.findall(r"cluster ksi-(\d+-\d+-\d+);", res.stderr)} - {leader}).pop()
    assert re.search(rf"pod/spread-\w+: scheduled on node {leader}-control-plane", res.stderr), res.stderr
    assert re.search(rf"pod/spread-\w+: scheduled on member cluster {follower} \(Liqo virtual node\)", res.stderr)
    assert f"/where] on {leader}-control-plane" in res.stdout and f"/where] on {follower}" in res.stdout



def test_sbatch_runs_ksi_shell_with_a_command_instead_of_a_terminal(sw):
    from tests.slurm.kit import ONNODE

    out = sw.base / "work" / "shell.out"
    cmd = 'echo "members=$KSI_MEMBERS ns=$KSI_NAMESPACE prompt=$KSI_PROMPT"; kubectl get nodes -o name; exit 3'
    res = subprocess.run(["sbatch", "-N2", "--ntasks-per-node=1", "-w", "node[1-2]", "-t", "5:00", "-o", str(out),
                          "--wrap", f"srun {ONNODE} ksi shell -- sh -c '{cmd}'"],
                         cwd=sw.base / "work", env=sw.env, text=True, capture_output=True, timeout=30)
    assert res.returncode == 0, res.stderr
    job = res.stdout.split()[-1]
    sw.jobs.append(job)
    sw.cluster.wait_job_gone(job, timeout=150)
    text = out.read_text()
    assert re.search(r"^members=2 ns=ksi-workload prompt=\(ksi:ksi-\d+-0-0\) $", text, re.M), text
    assert len(re.findall(r"^node/", text, re.M)) == 2, text
    assert sw.cluster.job_info(job)["ExitCode"] == "3:0", text
