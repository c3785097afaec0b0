"""``srun -N3 ksi run`` on the real Slurm harness, with the kind/nerdctl/liqoctl doubles.

Every test runs in a fresh fake world (``world`` fixture of tests/conftest.py), which fails the
test if anything is left behind on any node afterwards: a container record, a container daemon, a
run directory, a cluster record, a port claim, a leader lock or a credential file.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import pytest

from ksi import constants as C
from tests.conftest import alive, wait_for
from tests.slurm.kit import ONNODE, PROBE, SLEEPER


def cluster_names(stderr: str) -> set[str]:
    return set(re.findall(r"cluster (ksi-\d+-\d+-\d+);", stderr))


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("ERROR:")]


# --- the happy path ------------------------------------------------------------------------------

def test_srun_three_nodes_give_the_workload_one_cluster_over_all_of_them(sw):
    out = sw.base / "out"
    res = sw.srun("run", PROBE, str(out))
    assert res.returncode == 0, res.stderr
    names = cluster_names(res.stderr)
    assert len(names) == 3, res.stderr
    env = dict(line.split("=", 1) for line in (out / "env").read_text().splitlines())
    assert env["KSI_MEMBERS"] == "3"
    assert env["K8S_CLUSTER_NAME"] in names
    leader = env["K8S_CLUSTER_NAME"]
    # the leader's control plane and one Liqo virtual node per follower, all Ready
    nodes = sorted((out / "nodes").read_text().split())
    assert nodes == sorted([f"node/{leader}-control-plane"]
                           + [f"node/{n}" for n in names - {leader}]), nodes
    assert (out / "curl.rc").read_text().strip() == "0"
    assert res.stderr.count("✓ delete cluster") == 3
    assert res.stderr.count("✓ workload") == 1  # run once, by the leader


def test_no_federation_still_runs_the_workload_once_on_the_leader(sw):
    out = sw.base / "out"
    res = sw.srun("run", "--no-federation", PROBE, str(out))
    assert res.returncode == 0, res.stderr
    env = dict(line.split("=", 1) for line in (out / "env").read_text().splitlines())
    assert env["KSI_MEMBERS"] == "3"
    assert (out / "nodes").read_text().split() == [f"node/{env['K8S_CLUSTER_NAME']}-control-plane"]
    assert res.stderr.count("✓ workload") == 1
    assert "install liqo" not in res.stderr


def test_sbatch_script_runs_the_workload_and_reports_its_exit_code(sw):
    out = sw.base / "out"
    script = sw.base / "work" / "job.sbatch"
    script.write_text(f"""#!/bin/bash
#SBATCH -N3 --ntasks-per-node=1 -w {sw.nodes_expr()}
#SBATCH -o {sw.base}/work/slurm-%j.out
srun {ONNODE} ksi run {PROBE} {out} 3
""")
    res = subprocess.run(check=False, args=["sbatch", "--parsable", "--wait", str(script)], cwd=sw.base / "work",
                         env=sw.env, text=True, capture_output=True, timeout=120)
    job = res.stdout.strip().split(";")[0]
    assert res.returncode == 3, res.stderr  # sbatch --wait exits with the job's exit code
    log = (sw.base / "work" / f"slurm-{job}.out").read_text()
    assert log.count("finished with exit code 3") == 3, log
    assert (out / "nodes").read_text().count("node/") == 3
    sw.wait_gone(job)


def test_a_failing_workload_is_the_exit_code_of_srun(sw):
    res = sw.srun("run", PROBE, str(sw.base / "out"), "7")
    assert res.returncode == 7, res.stderr
    assert res.stderr.count("finished with exit code 7") == 3


def test_two_jobs_at_once_on_the_same_nodes_do_not_collide(sw):
    procs = [subprocess.Popen(sw.srun_argv("run", PROBE, str(sw.base / f"out{i}")),
                              cwd=sw.base / "work", env=sw.env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in (1, 2)]
    results = [p.communicate(timeout=180) for p in procs]
    for proc, (_, err) in zip(procs, results):
        assert proc.returncode == 0, err
    first, second = (cluster_names(err) for _, err in results)
    assert len(first) == len(second) == 3 and not first & second
    envs = [dict(line.split("=", 1) for line in (sw.base / f"out{i}" / "env").read_text()
                 .splitlines()) for i in (1, 2)]
    for key in ("K8S_CLUSTER_API", "K8S_PORT", "KUBECONFIG"):
        assert envs[0][key] != envs[1][key], key


# --- failures and signals --------------------------------------------------------------------------

def test_a_member_failing_during_bring_up_stops_every_member_fast(sw):
    t0 = time.monotonic()
    res = sw.srun("run", PROBE, str(sw.base / "out"),
                  env={"KSI_FAKE_FAIL": f"kind-create@{sw.node(2)}",
                       "KSI_FAKE_KIND_CREATE_SECONDS": "1"})
    assert time.monotonic() - t0 < 40
    # every member exits 125 (ksi failed: bring-up on node2, "member" on the others)
    assert res.returncode == C.EXIT_KSI_FAILED, res.stderr
    assert f"{sw.node(2)}: task 1: Exited with exit code 125" in res.stderr
    assert "ksi: exit 125: ksi failed (bring-up), not the workload" in res.stderr
    assert "ksi: exit 125: ksi failed (member), not the workload" in res.stderr
    errors = error_lines(res.stderr)
    assert len(errors) == 3, res.stderr
    assert all(sw.node(2) in line and "create cluster" in line for line in errors), errors
    assert not (sw.base / "out").exists()


@pytest.mark.parametrize("phase", ["bring-up", "workload"])
def test_scancel_tears_down_every_member(sw, phase):
    env = {"KSI_FAKE_KIND_CREATE_SECONDS": "30"} if phase == "bring-up" else {}
    out = sw.base / "sleeper"
    proc, job = sw.srun_bg("run", "--grace", "2", SLEEPER, str(out), env=env)
    if phase == "bring-up":
        wait_for(lambda: len(sw.world.containers()) == 3, 60, "three node containers")
    else:
        wait_for(lambda: (out / "started").exists(), 60, "the workload to start")
    t0 = time.monotonic()
    subprocess.run(["scancel", job], env=sw.env, check=True, timeout=10)
    _, err = proc.communicate(timeout=60)
    assert time.monotonic() - t0 < 25, err  # well inside KillWait (30 s)
    assert err.count("stopped by SIGTERM") == 3 or "SIGTERM" in err, err
    sw.wait_gone(job)
    if phase == "workload":
        assert "TERM" in (out / "signals").read_text()
        assert not alive(int((out / "child.pid").read_text()))


NO_USER_SYSTEMD = {"KSI_FAKE_FAIL": "systemd-run"}


def test_a_sigkilled_leader_is_noticed_and_its_guardian_deletes_its_cluster(sw):
    out = sw.base / "sleeper"
    proc, job = sw.srun_bg("run", SLEEPER, str(out))
    wait_for(lambda: (out / "started").exists(), 60, "the workload to start")
    leader = sw.members(job)[json.loads((sw.job_dir(job) / "leader.json").read_text())["rank"]]
    os.kill(int(leader["pid"]), signal.SIGKILL)
    t0 = time.monotonic()
    _, err = proc.communicate(timeout=90)
    assert time.monotonic() - t0 < 60, err
    # the followers learn it from the free lock, or from the leader's guardian, whichever is first
    errors = [line for line in err.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 2 and all("the leader" in line for line in errors), err
    wait_for(lambda: not sw.world.containers(), 20, "the guardian to delete the leader's cluster")
    sw.wait_gone(job)


def test_without_user_systemd_a_sigkilled_followers_cluster_is_reaped_by_delete_stale(sw):
    out = sw.base / "sleeper"
    proc, job = sw.srun_bg("run", SLEEPER, str(out), env=NO_USER_SYSTEMD)
    wait_for(lambda: (out / "started").exists(), 60, "the workload to start")
    leader = json.loads((sw.job_dir(job) / "leader.json").read_text())
    victim = next(r for r in sw.members(job).values() if r["rank"] != leader["rank"])
    os.kill(int(victim["pid"]), signal.SIGKILL)
    time.sleep(1)
    subprocess.run(["scancel", job], env=sw.env, check=True, timeout=10)
    _, err = proc.communicate(timeout=60)
    assert err.count("✓ delete cluster") == 2, err
    sw.wait_gone(job)
    assert [c["name"] for c in sw.world.containers()] == [f"{victim['cluster']}-control-plane"]
    listing = sw.on_node(victim["node"], "ksi", "list")
    assert victim["cluster"] in listing.stdout and "stale" in listing.stdout, listing
    res = sw.on_node(victim["node"], "ksi", "delete", "--stale")
    assert res.returncode == 0 and victim["cluster"] in res.stdout, res.stderr


def test_list_all_nodes_shows_every_member_of_a_live_job_from_the_shared_dir(sw):
    out = sw.base / "sleeper"
    proc, job = sw.srun_bg("run", SLEEPER, str(out))
    wait_for(lambda: (out / "started").exists(), 60, "the workload to start")
    res = subprocess.run(["ksi", "list", "--all-nodes"], env=sw.env, text=True,
                         capture_output=True, timeout=30, check=False)
    rows = [line.split() for line in res.stdout.splitlines()[1:]]
    assert sorted((r[0], r[2], r[3]) for r in rows) == [
        (f"{job}.0", sw.node(i + 1), f"ksi-{job}-0-{i}") for i in range(3)], res.stdout
    subprocess.run(["scancel", job], env=sw.env, check=True, timeout=10)
    proc.communicate(timeout=60)
    sw.wait_gone(job)
    res = subprocess.run(["ksi", "list", "--all-nodes"], env=sw.env, text=True,
                         capture_output=True, timeout=30, check=False)
    assert res.stdout == "" and "no ksi clusters of live jobs" in res.stderr
