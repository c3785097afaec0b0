"""Housekeeping: finished job directories are pruned (``ksi run``, ``ksi clean``), and the
small commands say "none" or "missing" without needing kind."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ksi.housekeeping import JOB_DIR_MAX_AGE_DAYS
from tests.conftest import WORKLOADS

PROBE = str(WORKLOADS / "probe.sh")
DAY = 86400


def job_dir(world, name: str, *, age_days: float, files: dict[str, str]) -> Path:
    path = world.shared / "jobs" / name
    path.mkdir(parents=True, mode=0o700)
    for file, text in files.items():
        (path / file).write_text(text)
    stamp = time.time() - age_days * DAY
    for entry in [*path.iterdir(), path]:
        os.utime(entry, (stamp, stamp))
    return path


def test_ksi_run_prunes_finished_job_dirs_older_than_the_documented_age(world):
    outcome = json.dumps({"status": "finished", "exit_code": 0})
    old_done = job_dir(world, "ksi-p1-aaaaaa", age_days=JOB_DIR_MAX_AGE_DAYS + 1,
                       files={"outcome.json": outcome, "events.jsonl": ""})
    young_done = job_dir(world, "ksi-p2-bbbbbb", age_days=1, files={"outcome.json": outcome})
    old_running = job_dir(world, "ksi-p3-cccccc", age_days=JOB_DIR_MAX_AGE_DAYS + 1,
                          files={"leader.lock": ""})
    res = world.ksi("run", PROBE, str(world.base / "out"))
    assert res.returncode == 0, res.stderr
    assert not old_done.exists()
    assert young_done.exists() and old_running.exists()
    old_running.joinpath("leader.lock").unlink()  # the leader.lock is checked by leftovers()


def test_ksi_clean_removes_every_finished_job_dir_it_is_asked_to(world):
    outcome = json.dumps({"status": "failed", "exit_code": 125})
    done = job_dir(world, "ksi-p1-aaaaaa", age_days=0.5, files={"outcome.json": outcome})
    orphan = job_dir(world, "ksi-p2-bbbbbb", age_days=0.5, files={"events.jsonl": ""})
    running = job_dir(world, "ksi-p3-cccccc", age_days=0.5, files={"leader.lock": ""})
    res = world.ksi("clean")
    assert res.returncode == 0 and res.stdout == "", res.stderr
    assert "nothing to clean" in res.stderr
    res = world.ksi("clean", "--older-than", "0.25", "--dry-run")
    assert res.stdout.splitlines() == [f"would remove {done}", f"would remove {orphan}"]
    assert done.exists() and orphan.exists()
    res = world.ksi("clean", "--older-than", "0.25")
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [f"removed {done}", f"removed {orphan}"]
    assert not done.exists() and not orphan.exists() and running.exists()
    running.joinpath("leader.lock").unlink()


def test_list_and_delete_say_none_without_kind_when_nothing_of_ksi_exists(world, tmp_path):
    bare = f"{os.path.dirname(os.sys.executable)}{os.pathsep}/usr/bin:/bin"
    assert not any(Path(d, "kind").exists() for d in bare.split(os.pathsep))
    res = world.ksi("list", env={"PATH": bare})
    assert (res.returncode, res.stdout) == (0, ""), res.stderr
    assert res.stderr == "no ksi clusters on this node\n"
    res = world.ksi("delete", "--stale", env={"PATH": bare})
    assert res.returncode == 0, res.stderr
    assert res.stderr == "no stale ksi clusters on this node\n"


def test_list_all_nodes_says_the_shared_dir_is_missing(world):
    res = world.ksi("list", "--all-nodes", "--shared-dir", "/nonexistent")
    assert res.returncode == 2
    assert res.stderr == ("ERROR: the shared directory /nonexistent does not exist (pass the "
                          "--shared-dir that `ksi run` used)\n")


def test_a_slurm_job_dir_is_finished_only_when_slurm_says_the_job_is_gone(tmp_path):
    from ksi.housekeeping import prunable

    jobs = tmp_path / "jobs"
    for name in ("101.0", "102.0", "103.0"):
        (jobs / name).mkdir(parents=True)
    states = {"101": "COMPLETED", "102": "RUNNING", "103": None}  # None: Slurm did not answer
    later = time.time() + (JOB_DIR_MAX_AGE_DAYS + 1) * DAY
    found = prunable(tmp_path, JOB_DIR_MAX_AGE_DAYS, states.get, now=later)
    assert found == [jobs / "101.0"]
    assert prunable(tmp_path, JOB_DIR_MAX_AGE_DAYS, states.get) == []  # too young
