"""``ksi submit`` against the real Slurm test cluster: the script sbatch stores is the one
``--print`` shows, its #SBATCH lines mean what they say, and the job runs ``ksi run`` to the
workload's exit code.

The job's ``ksi run`` uses the kind/nerdctl doubles of tests/fakeworld (the ``world`` fixture's
environment, which sbatch exports to the job), with ``--no-federation``: this tests the batch
script, not the bring-up.
"""

from __future__ import annotations

import re
import subprocess
import textwrap
from pathlib import Path

import pytest

SUBMITTED = re.compile(r"^Submitted ksi job (\d+) \(output: (.+)\)$")

WORKLOAD = textwrap.dedent("""\
    #!/usr/bin/env bash
    # records what it got, then exits 3 (the job's exit code must be 3)
    printf '%s\\n' "$@" > "$(dirname "$0")/args"
    echo "workload ran on $(hostname) with cluster $K8S_CLUSTER_NAME"
    exit 3
""")


def ksi(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ksi", *args], cwd=cwd, env=env, text=True, capture_output=True,
                          timeout=120, check=False)


def batch_script(cluster, job_id: str) -> str:
    return cluster.slurm("scontrol", "write", "batch_script", job_id, "-").stdout


def submit(env, cwd, *args) -> tuple[str, Path]:
    res = ksi(env, cwd, "submit", *args)
    assert res.returncode == 0, res.stderr
    match = SUBMITTED.match(res.stdout.strip())
    assert match, res.stdout
    return match.group(1), Path(match.group(2))


def test_a_submitted_job_runs_the_workload_once_and_ends_with_its_exit_code(
        world, slurm_cluster):
    env = slurm_cluster.client_env(world.env)
    work = world.base / "work"
    workload = work / "trivial.sh"
    workload.write_text(WORKLOAD)
    args = ("-t", "5:00", "--no-federation", "--timeout", "60", "-J", "ksi test #1",
            "trivial.sh", "first arg", "it's", "--flag")
    printed = ksi(env, work, "submit", "--print", *args)
    assert printed.returncode == 0, printed.stderr
    job_id, output = submit(env, work, *args)
    try:
        # what sbatch stored is exactly what --print showed
        assert batch_script(slurm_cluster, job_id) == printed.stdout
        info = slurm_cluster.job_info(job_id)
        assert info is not None and info["JobName"] == "ksi"  # scontrol -o splits at spaces
        state = slurm_cluster.wait_job_gone(job_id, timeout=120)
    finally:
        slurm_cluster.slurm("scancel", job_id, check=False)
    info = slurm_cluster.job_info(job_id)  # finished jobs stay for MinJobAge (no accounting)
    assert output == work / f"ksi-{job_id}.out"
    text = output.read_text()
    assert state == "FAILED" and info is not None and info["ExitCode"] == "3:0", text
    assert (work / "args").read_text() == "first arg\nit's\n--flag\n"
    ran = [line for line in text.splitlines() if line.startswith("workload ran on ")]
    # on the node Slurm chose (not always node1: other jobs may hold it)
    assert info["NumNodes"] == "1" and info["StdOut"] == str(output)
    assert len(ran) == 1 and ran[0].startswith(f"workload ran on {info['NodeList']} with "
                                               f"cluster ksi-{job_id}-0-0"), text
    # and the run left its events for `ksi report`, in the job directory of step 0
    job_dir = world.shared / "jobs" / f"{job_id}.0"
    report = ksi(env, work, "report", str(job_dir))
    assert report.returncode == 0, report.stderr
    rows = [line.split()[0] for line in report.stdout.splitlines()[1:]]
    assert rows[:2] == ["rendezvous", "create"] and "total" in rows, report.stdout
    # the workload exited 3: the report says it failed, and where
    assert report.stdout.splitlines()[-1].strip() == "✗ failed: workload (node1 r0)".replace(
        "node1", info["NodeList"]), report.stdout
    assert "workload" in rows and (job_dir / "timeline.png").stat().st_size > 10_000


def test_sbatch_reads_every_directive_of_a_multi_node_script(world, slurm_cluster):
    """Held, never run: the #SBATCH lines (quoted values, passthrough) as Slurm took them."""
    env = slurm_cluster.client_env(world.env)
    work = world.base / "work"
    (work / "w.sh").write_text("#!/bin/bash\ntrue\n")
    job_id, output = submit(env, work, "-N2", "-t", "0:10:00", "-p", slurm_cluster.partition,
                            "-o", "out dir %j.txt", "--sbatch-arg=--hold",
                            "--sbatch-arg=--comment=a b # not a comment", "w.sh")
    try:
        info = slurm_cluster.job_info(job_id)
        assert info is not None
        assert info["JobState"] == "PENDING" and info["Reason"] == "JobHeldUser"
        assert info["NumNodes"] == "2-2" and info["NumTasks"] == "2"  # pending: min-max
        assert info["TimeLimit"] == "00:10:00" and info["Partition"] == slurm_cluster.partition
        shown = slurm_cluster.slurm("scontrol", "show", "job", job_id).stdout
        assert "Comment=a b # not a comment" in shown
        assert f"StdOut={work}/out dir {job_id}.txt" in shown
        assert output == work / f"out dir {job_id}.txt"
    finally:
        slurm_cluster.slurm("scancel", job_id, check=False)
        slurm_cluster.wait_job_gone(job_id, timeout=60)


def test_sbatch_refusing_the_job_is_one_error_line_exit_4(world, slurm_cluster):
    env = slurm_cluster.client_env(world.env)
    work = world.base / "work"
    (work / "w.sh").write_text("#!/bin/bash\ntrue\n")
    res = ksi(env, work, "submit", "-p", "nosuchpartition", "w.sh")
    assert res.returncode == 4, res.stderr
    assert res.stdout == ""
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("ERROR: `sbatch` failed with exit code 1: sbatch: error: ")
    assert "partition" in lines[0].lower()


SLEEPER = textwrap.dedent("""\
    #!/usr/bin/env bash
    echo "workload started"
    sleep 600
""")


@pytest.mark.slow
def test_the_signal_before_the_time_limit_reaches_ksi_which_tears_down(world, slurm_cluster):
    """--signal=TERM@N (no B:) reaches the ksi task itself: it stops the workload and deletes
    its cluster long before the limit (the world fixture checks that nothing is left).
    ksi's own --teardown-margin is set to 0 here, so only Slurm's signal can stop it."""
    env = {**slurm_cluster.client_env(world.env), "KSI_TEARDOWN_MARGIN": "0"}
    work = world.base / "work"
    (work / "sleeper.sh").write_text(SLEEPER)
    # due 10 s after the start; Slurm checks time limits about every 30 s
    job_id, output = submit(env, work, "-t", "2:00", "--signal-margin", "110",
                            "--no-federation", "sleeper.sh")
    try:
        state = slurm_cluster.wait_job_gone(job_id, timeout=100)
    finally:
        slurm_cluster.slurm("scancel", job_id, check=False)
    text = output.read_text()
    info = slurm_cluster.job_info(job_id)
    assert info is not None, text
    assert state == "FAILED" and info["ExitCode"] == "143:0", (state, info["ExitCode"], text)
    assert "workload started" in text
    assert "✓ delete cluster" in text, text
