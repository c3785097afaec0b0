"""What keeps one user's cluster-admin credentials from another user on a shared cluster."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from ksi import constants as C
from tests.conftest import ROOT, WORKLOADS, alive, wait_for

PROBE = str(WORKLOADS / "probe.sh")
SLEEPER = str(WORKLOADS / "sleeper.sh")


def test_a_group_writable_shared_dir_is_refused_before_anything_is_created(world):
    shared = world.base / "open"
    shared.mkdir(mode=0o775)
    shared.chmod(0o775)
    res = world.ksi("run", "--shared-dir", str(shared), PROBE, str(world.base / "out"))
    assert res.returncode == C.EXIT_KSI_FAILED
    assert res.stderr.strip().splitlines()[0] == (
        f"ERROR: the shared directory (--shared-dir) {shared} is writable by other users "
        f"(run `chmod go-w {shared}` or choose another location)")
    assert not world.containers() and not (world.base / "out").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a directory to another user")
def test_a_shared_dir_of_another_user_is_refused(world):
    shared = world.base / "theirs"
    shared.mkdir(mode=0o700)
    os.chown(shared, 65534, 65534)
    res = world.ksi("run", "--shared-dir", str(shared), PROBE, str(world.base / "out"))
    assert res.returncode == C.EXIT_KSI_FAILED
    assert "belongs to another user (uid 65534)" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 2  # the error, and whose exit code


def test_a_symlink_planted_inside_the_shared_dir_is_not_followed(world):
    elsewhere = world.base / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (world.shared / "jobs").symlink_to(elsewhere)
    res = world.ksi("run", PROBE, str(world.base / "out"))
    assert res.returncode == C.EXIT_KSI_FAILED
    assert "is not a directory (or is a symlink)" in res.stderr
    assert list(elsewhere.iterdir()) == []


def test_a_symlinked_shared_dir_of_the_user_is_used_where_it_points(world):
    target = world.base / "scratch-ksi"
    target.mkdir(mode=0o700)
    link = world.base / "home" / ".ksi"
    link.symlink_to(target)
    res = world.ksi("run", "--shared-dir", str(link), PROBE, str(world.base / "out"))
    assert res.returncode == 0, res.stderr
    assert list((target / "jobs").iterdir())


def test_the_token_is_nowhere_but_in_the_private_kubeconfig(world):
    out = world.base / "out"
    res = world.ksi("run", "-v", "--collect-logs", PROBE, str(out))
    assert res.returncode == 0, res.stderr
    token = (out / "token").read_text()
    assert len(token) > 20
    assert token not in res.stdout + res.stderr
    for path in world.shared.rglob("*"):
        if path.is_file():
            assert token not in path.read_text(errors="replace"), path
    job = next(world.shared.glob("jobs/*"))
    for path in [job, *job.rglob("*")]:
        if not path.is_symlink():
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("ERROR")]


# --- issue 9.1: the token never appears in any process's argv ---------------------------------

TOKEN_EXAMPLES = sorted(p for p in (ROOT / "workloads").glob("*/*.sh")
                        if "K8S_CLUSTER_API_TOKEN" in p.read_text())


class CmdlineWatch:
    """Records the argv of every process on the machine, polling /proc, while it runs."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for proc in Path("/proc").iterdir():
                if proc.name.isdigit():
                    try:
                        self.seen.add((proc / "cmdline").read_bytes().decode(errors="replace"))
                    except OSError:
                        pass
            time.sleep(0.005)

    def __enter__(self) -> "CmdlineWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def slow_tools(directory: Path) -> Path:
    """curl/wget/kubectl that wait 0.3 s (argv on show) before running the real tool, so the
    /proc watcher cannot miss a short-lived process."""
    directory.mkdir()
    for tool in ("curl", "wget", "kubectl"):
        real = shutil.which(tool)
        if real:
            shim = directory / tool
            shim.write_text(f'#!/bin/sh\nsleep 0.3\nexec {real} "$@"\n')
            shim.chmod(0o755)
    return directory


def test_there_is_an_example_that_uses_the_token():
    assert TOKEN_EXAMPLES, "the token-using examples moved: update TOKEN_EXAMPLES"


@pytest.mark.parametrize("example", TOKEN_EXAMPLES, ids=lambda p: p.parent.name)
def test_no_example_puts_the_token_in_any_process_argv(world, example):
    out = world.base / "out"
    out.mkdir()
    wrapper = world.base / "work" / "wrapper.sh"
    wrapper.write_text(f'printf %s "$K8S_CLUSTER_API_TOKEN" > {out}/token\n'
                       f'exec bash {example} > {out}/stdout\n')
    shims = slow_tools(world.base / "slow")
    with CmdlineWatch() as watch:
        res = world.ksi("run", str(wrapper),
                        env={"PATH": f"{shims}{os.pathsep}{world.env['PATH']}"})
    assert res.returncode == 0, res.stderr
    token = (out / "token").read_text()
    assert len(token) > 20
    assert any("curl" in c or "kubectl" in c for c in watch.seen)  # the watcher saw the tools
    leaked = [c.replace("\0", " ") for c in watch.seen if token in c]
    assert not leaked, f"the token was in a process's argv: {leaked[0][:200]}"


# --- issue 9.4: nothing secret in argv or in -v output -----------------------------------------

def test_a_proxy_password_is_in_no_argv_and_no_output_and_the_guardian_still_works(world):
    password = "s3cret-Pw-9a8b7c"
    proxy = f"http://alice:{password}@proxy.example:3128"
    out = world.base / "out"
    out.mkdir()
    workload = world.base / "work" / "guardian-env.sh"
    # while the run is on, the guardian (a transient unit) is alive: record its environment
    workload.write_text(
        "for p in /proc/[0-9]*; do\n"
        '  if tr "\\0" " " < $p/cmdline 2>/dev/null | grep -q "ksi.guardian $K8S_CLUSTER_NAME"; then\n'
        f'    tr "\\0" "\\n" < $p/environ > {out}/guardian.environ; fi\n'
        "done\n")
    shims = slow_tools(world.base / "slow")
    shim = shims / "systemd-run"
    shim.write_text(f'#!/bin/sh\nsleep 0.3\nexec {ROOT}/tests/fakeworld/bin/systemd-run "$@"\n')
    shim.chmod(0o755)
    with CmdlineWatch() as watch:
        res = world.ksi("run", "-v", str(workload),
                        env={"PATH": f"{shims}{os.pathsep}{world.env['PATH']}",
                             "HTTPS_PROXY": proxy, "http_proxy": proxy})
    assert res.returncode == 0, res.stderr
    assert any("systemd-run" in c for c in watch.seen)
    assert not [c for c in watch.seen if password in c], "a proxy password was in an argv"
    assert password not in res.stdout + res.stderr
    assert "$ systemd-run" in res.stderr  # -v did print the command lines
    environ = (out / "guardian.environ").read_text().splitlines()
    assert f"KSI_FAKE_ROOT={world.fake_root}" in environ  # what kind and nerdctl need got there
    assert not [v for v in environ if password in v]


def test_verbose_command_lines_and_errors_redact_credentials_in_urls():
    from ksi.errors import CommandError
    from ksi.progress import redact

    err = CommandError(["liqoctl", "install", "--set", "proxy=https://bob:hunter2@p:8080"],
                       1, "", "Error: cannot reach https://bob:hunter2@p:8080/x")
    assert "hunter2" not in err.command + redact(err.detail or "") + redact(err.one_line())
    assert "https://<redacted>@p:8080" in err.command
    assert redact("http://proxy:3128 and https://x.example/") == \
        "http://proxy:3128 and https://x.example/"


# --- Slurm without Slurm: a job's environment and a scontrol that answers for it ----------------

def fake_scontrol(world, *, submit: str = "2026-11-30T10:00:00", known: bool = True,
                  where: str = "slurmbin") -> Path:
    """A ``scontrol`` on PATH for ``show job`` (one job, or "Invalid job id specified", as
    slurm's scontrol prints for an unknown id) and ``show node``."""
    bindir = world.base / where
    bindir.mkdir(exist_ok=True)
    job = (f"JobId=$3 JobName=t JobState=RUNNING SubmitTime={submit} "
           f"StartTime={submit} EndTime=Unknown") if known else ""
    script = bindir / "scontrol"
    script.write_text(
        "#!/bin/sh\n"
        'if [ "$1 $2" = "show job" ]; then\n'
        + (f'  echo "{job}"; exit 0\n' if known else
           '  echo "slurm_load_jobs error: Invalid job id specified" >&2; exit 1\n')
        + "fi\n"
        'if [ "$1 $2" = "show node" ]; then echo "NodeName=$3 NodeAddr=$3"; exit 0; fi\n'
        "exit 1\n")
    script.chmod(0o755)
    return bindir


def slurm_env(world, bindir: Path, *, job: str = "4242", step: str | None = "0") -> dict[str, str]:
    env = {"PATH": f"{bindir}{os.pathsep}{world.env['PATH']}", "SLURM_JOB_ID": job,
           "SLURMD_NODENAME": socket.gethostname().split(".")[0]}
    if step is not None:
        env.update(SLURM_STEP_ID=step, SLURM_PROCID="0", SLURM_NODEID="0", SLURM_LOCALID="0",
                   SLURM_STEP_NUM_TASKS="1", SLURM_STEP_NUM_NODES="1")
    return env


# --- issue 9.2: the shared directory cannot be swapped under a run -----------------------------

def test_a_shared_dir_under_a_group_writable_parent_without_sticky_bit_is_refused(world):
    project = world.base / "project"
    project.mkdir()
    project.chmod(0o2775)  # a group project directory: the group may rename what is inside
    shared = project / "alice" / "ksi"
    res = world.ksi("run", "--shared-dir", str(shared), PROBE, str(world.base / "out"))
    assert res.returncode == C.EXIT_KSI_FAILED, res.stderr
    assert error_lines(res.stderr) == [(
        f"ERROR: the shared directory (--shared-dir) {shared} is inside {project}, which other "
        "users can write to (they could rename it and plant their own) "
        f"(run `chmod go-w {project}` (or `chmod +t` it), or choose another location)")]
    assert list(project.iterdir()) == []  # nothing created
    assert not world.containers()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to play another user")
def test_why_the_group_writable_parent_matters_another_user_can_swap_the_dir(world):
    """The attack the check prevents, played by uid 65534 -- and that a sticky /tmp-like parent
    prevents it, which is why such a parent is accepted."""
    top = Path(tempfile.mkdtemp(prefix="ksi-sec-"))  # outside pytest's 0700 tree
    top.chmod(0o711)  # the other user may pass through, as through a home directory
    for mode, swapped in ((0o777, True), (0o1777, False)):
        parent = top / f"p{mode:o}"
        parent.mkdir()
        parent.chmod(mode)
        (parent / "ksi").mkdir(mode=0o700)
        res = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                              "mv", str(parent / "ksi"), str(parent / "moved")],
                             check=False, capture_output=True, text=True)
        assert (res.returncode == 0) is swapped, res.stderr
        shared = parent / ("moved" if swapped else "ksi")
        shared.rename(parent / "ksi") if swapped else None
        res = world.ksi("run", "--shared-dir", str(parent / "ksi"), PROBE,
                        str(world.base / f"out{mode:o}"))
        assert (res.returncode == C.EXIT_KSI_FAILED) is swapped, res.stderr
    shutil.rmtree(top)


def test_parents_that_ksi_creates_are_0700_whatever_the_umask(world):
    shared = world.base / "scratch" / "alice" / "ksi"
    res = subprocess.run(check=False, args=["ksi", "run", "--shared-dir", str(shared), PROBE,
                          str(world.base / "out")], cwd=world.base / "work", text=True,
                         capture_output=True, timeout=120, env=world.env,
                         preexec_fn=lambda: os.umask(0))
    assert res.returncode == 0, res.stderr
    for path in (world.base / "scratch", world.base / "scratch" / "alice", shared,
                 shared / "jobs"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path


def test_a_shared_dir_of_mode_0755_is_made_0700(world):
    world.shared.chmod(0o755)
    res = world.ksi("run", PROBE, str(world.base / "out"))
    assert res.returncode == 0, res.stderr
    assert stat.S_IMODE(world.shared.stat().st_mode) == 0o700
    assert stat.S_IMODE((world.shared / "jobs").stat().st_mode) == 0o700


def _job_dir_with_identity(world, job: str = "4242", submit: str = "2026-11-30T10:00:00") -> Path:
    jobdir = world.shared / "jobs" / f"{job}.0"
    (jobdir / "members").mkdir(parents=True, mode=0o700)
    (world.shared / "jobs").chmod(0o700)
    jobdir.chmod(0o700)
    (jobdir / "job.json").write_text(json.dumps(
        {"identity": f"{job} submitted {submit} started {submit}"}))
    (jobdir / "job.json").chmod(0o600)
    return jobdir


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another user")
def test_a_file_in_the_job_dir_owned_by_another_user_is_refused_naming_it(world):
    bindir = fake_scontrol(world)
    jobdir = _job_dir_with_identity(world)
    planted = jobdir / "outcome.json"
    planted.write_text(json.dumps({"status": "finished", "exit_code": 0}))
    os.chown(planted, 65534, 65534)
    res = world.ksi("run", PROBE, str(world.base / "out"), env=slurm_env(world, bindir))
    assert res.returncode == C.EXIT_KSI_FAILED, res.stderr
    errors = error_lines(res.stderr)
    assert len(errors) == 1
    assert f"refusing {planted} belongs to another user (uid 65534)" in errors[0]
    assert not (world.base / "out").exists()


def test_a_symlink_planted_as_a_record_is_not_followed(world):
    bindir = fake_scontrol(world)
    jobdir = _job_dir_with_identity(world)
    target = world.base / "theirs.json"
    target.write_text(json.dumps({"status": "finished", "exit_code": 0}))
    (jobdir / "outcome.json").symlink_to(target)
    res = world.ksi("run", PROBE, str(world.base / "out"), env=slurm_env(world, bindir))
    assert res.returncode == C.EXIT_KSI_FAILED, res.stderr
    assert f"refusing {jobdir / 'outcome.json'} cannot be opened without following links" \
        in res.stderr


def test_a_cached_node_image_with_another_digest_is_refused(world):
    other = "kindest/node:v1.33.1@sha256:" + "ab" * 32
    res = world.ksi("images", "save", other)
    assert res.returncode == 0, res.stderr
    for image in world.fake_root.glob("hosts/*/*/images/*.json"):
        image.unlink()  # this node has no image and cannot pull
    res = world.ksi("run", PROBE, str(world.base / "out"),
                    env={"KSI_FAKE_MISSING_IMAGES": C.DEFAULT_NODE_IMAGE})
    assert res.returncode == C.EXIT_KSI_FAILED, res.stderr
    archive = world.shared / "images" / "kindest_node_v1.33.1.tar"
    errors = error_lines(res.stderr)
    assert errors == [f"ERROR: the cached image {archive} is not {C.DEFAULT_NODE_IMAGE} (its "
                      "digest differs) (refill the cache with `ksi images save` on a node with "
                      "internet, or remove the archive)"]
    assert "loaded" not in res.stderr
    assert not world.containers()


# --- issue 9.3: one run, one name, one job directory -- also without a job step -----------------

def test_runs_in_a_row_in_the_batch_step_each_get_their_own_name_and_job_dir(world):
    env = slurm_env(world, fake_scontrol(world), step=None)  # the batch script: no step id
    first = world.ksi("run", PROBE, str(world.base / "out1"), env=env)
    second = world.ksi("run", PROBE, str(world.base / "out2"), env=env)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    names = [re.search(r"cluster (ksi-4242-batchp\d+[0-9a-f]{6}-0);", r.stderr)[1]
             for r in (first, second)]
    assert names[0] != names[1]
    assert len(list((world.shared / "jobs").iterdir())) == 2


def test_two_runs_at_once_in_one_interactive_step_do_not_touch_each_other(world):
    # `srun --pty bash`: a real step whose one task is the shell, not ksi
    env = {**slurm_env(world, fake_scontrol(world)), "SLURM_TASK_PID": "1"}
    out1, out2 = world.base / "out1", world.base / "out2"
    first = world.popen("run", SLEEPER, str(out1), env=env)
    wait_for(lambda: (out1 / "started").exists(), 60, "the first workload")
    second = world.ksi("run", PROBE, str(out2), env=env)
    assert second.returncode == 0, second.stderr
    # the first run's cluster, files and record are untouched by the second one's teardown
    name = (out1 / "cluster").read_text().strip()
    assert [c["name"] for c in world.containers()] == [f"{name}-control-plane"]
    assert (world.runtime / "clusters" / f"{name}.json").exists()
    os.kill(first.pid, signal.SIGTERM)
    first.communicate(timeout=60)
    assert first.returncode == 143


def test_a_cluster_that_ksi_did_not_create_is_never_deleted(world):
    env = slurm_env(world, fake_scontrol(world))
    kindenv = {**world.env, "KIND_EXPERIMENTAL_PROVIDER": "nerdctl"}
    theirs = subprocess.run(check=False, args=["kind", "create", "cluster", "--name", "ksi-4242-0-0"],
                            env=kindenv, capture_output=True, text=True, timeout=60)
    assert theirs.returncode == 0, theirs.stderr
    try:
        res = world.ksi("run", PROBE, str(world.base / "out"), env=env)
        assert res.returncode == C.EXIT_KSI_FAILED, res.stderr
        assert 'already exist for a cluster with the name "ksi-4242-0-0"' in res.stderr
        assert "delete cluster" not in res.stderr
        assert [c["name"] for c in world.containers()] == ["ksi-4242-0-0-control-plane"]
    finally:
        subprocess.run(check=False, args=["kind", "delete", "cluster", "--name", "ksi-4242-0-0"], env=kindenv,
                       capture_output=True, timeout=60)


def test_a_job_dir_left_by_an_earlier_job_with_the_same_id_is_set_aside(world):
    bindir = fake_scontrol(world, submit="2026-11-30T11:00:00")
    old = _job_dir_with_identity(world, submit="2026-01-01T00:00:00")  # job 4242, long ago
    (old / "outcome.json").write_text(json.dumps({"status": "finished", "exit_code": 0}))
    (old / "members" / "0.json").write_text("{}")
    res = world.ksi("run", PROBE, str(world.base / "out"), env=slurm_env(world, bindir))
    assert res.returncode == 0, res.stderr
    aside = [p for p in (world.shared / "jobs").iterdir() if ".stale-" in p.name]
    assert len(aside) == 1 and (aside[0] / "outcome.json").exists()
    assert (f"warning: {old} was left by another job (4242 submitted 2026-01-01T00:00:00 "
            f"started 2026-01-01T00:00:00); set aside as {aside[0].name}, not used") in res.stderr
    assert json.loads((old / "job.json").read_text())["identity"] == \
        "4242 submitted 2026-11-30T11:00:00 started 2026-11-30T11:00:00"


# --- issue 9.5: smaller holes ------------------------------------------------------------------

def test_the_reaper_keeps_a_cluster_whose_owner_runs_whatever_slurm_says(world):
    out = world.base / "out"
    run = world.popen("run", SLEEPER, str(out), env=slurm_env(world, fake_scontrol(world)))
    wait_for(lambda: (out / "started").exists(), 60, "the workload")
    liar = fake_scontrol(world, known=False, where="liar")  # "Invalid job id specified"
    res = world.ksi("delete", "--stale", env={"PATH": f"{liar}{os.pathsep}{world.env['PATH']}"})
    assert res.returncode == 0, res.stderr
    assert "deleted" not in res.stdout
    assert len(world.containers()) == 1
    os.kill(run.pid, signal.SIGTERM)
    run.communicate(timeout=60)


def test_the_guardian_ends_the_workload_and_its_daemons_after_a_sigkill(world):
    out = world.base / "out"
    out.mkdir()
    workload = world.base / "work" / "daemon.sh"
    workload.write_text(f"setsid sleep 1000 & echo $! > {out}/daemon.pid\n"
                        f"echo $$ > {out}/pid; touch {out}/started; sleep 1000\n")
    run = world.popen("run", str(workload))
    wait_for(lambda: (out / "started").exists(), 60, "the workload")
    daemon, shell = int((out / "daemon.pid").read_text()), int((out / "pid").read_text())
    os.kill(run.pid, signal.SIGKILL)  # ksi alone: its workload and the daemon stay
    run.wait()
    wait_for(lambda: not world.containers(), 20, "the guardian to delete the cluster")
    wait_for(lambda: not alive(daemon) and not alive(shell), 10, "the workload to be ended")


def test_delete_stale_sweeps_what_ksi_kept_for_clusters_kind_no_longer_lists(world):
    dead = subprocess.Popen(["true"])
    dead.wait()
    runs, records = world.runtime / "runs", world.runtime / "clusters"
    for d in (world.runtime, runs, records):
        d.mkdir(mode=0o700, exist_ok=True)
    (runs / "ksi-p1-abcdef").mkdir(mode=0o700)
    (runs / "ksi-p1-abcdef" / "kubeconfig").write_text("x")
    (records / "ksi-p1-abcdef.json").write_text(json.dumps({
        "name": "ksi-p1-abcdef", "host": socket.gethostname().split(".")[0], "pid": dead.pid,
        "pid_start": "1", "job_id": None, "step_id": None, "rank": 0, "created": time.time(),
        "run_dir": str(runs / "ksi-p1-abcdef")}))
    res = world.ksi("delete", "--stale")
    assert res.returncode == 0, res.stderr
    assert "removed the leftovers of ksi-p1-abcdef (kind no longer lists it)" in res.stdout
    assert not list(runs.iterdir()) and not list(records.iterdir())


def test_tools_get_the_real_dev_null_on_stdin():
    from ksi.exec import Runner

    res = Runner().run(["sh", "-c", "readlink /proc/self/fd/0; cat"], timeout=10)
    assert res.stdout == "/dev/null\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to plant a directory as another user")
def test_a_runtime_dir_planted_in_tmp_by_another_user_does_not_block_ksi(world):
    top = Path(tempfile.mkdtemp(prefix="ksi-sec-"))  # outside pytest's 0700 tree
    top.chmod(0o711)
    tmp = top / "tmp"
    tmp.mkdir()
    tmp.chmod(0o1777)
    planted = tmp / f"ksi-{os.getuid()}"
    subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                    "mkdir", "-m", "777", str(planted)], check=True)
    # XDG_RUNTIME_DIR is somebody else's (`su` keeps the caller's): ksi's files go to TMPDIR
    foreign_xdg = top / "run-user-65534"
    foreign_xdg.mkdir(mode=0o700)
    os.chown(foreign_xdg, 65534, 65534)
    res = world.ksi("run", PROBE, str(world.base / "out"),
                    env={"XDG_RUNTIME_DIR": str(foreign_xdg), "TMPDIR": str(tmp)})
    assert res.returncode == 0, res.stderr
    assert list(planted.iterdir()) == []  # never used
    private = [p for p in tmp.iterdir() if p != planted]
    assert len(private) == 1 and stat.S_IMODE(private[0].stat().st_mode) == 0o700
    leftovers = [p.name for sub in ("runs", "clusters", "ports")
                 for p in (private[0] / sub).glob("*")]
    assert not leftovers
    shutil.rmtree(top)


# --- issue 12 item 4: locks that are missing or only node-local ---------------------------------

def test_a_filesystem_without_flock_is_one_line_never_a_silent_soft_lock(world):
    from tests import flockshim

    lib = flockshim.build(world.base)
    res = world.ksi("run", PROBE, str(world.base / "out"),
                    env={"LD_PRELOAD": str(lib), "KSI_TEST_FLOCK": "enosys",
                         "KSI_TEST_FLOCK_PREFIX": str(world.shared)})
    assert res.returncode == C.EXIT_KSI_FAILED, res.stderr
    lock = next(world.shared.glob("jobs/*")) / "leader.lock"
    assert error_lines(res.stderr) == [
        f"ERROR: cannot lock {lock}: Function not implemented (--shared-dir must be on a "
        "filesystem with working file locks (NFS with lockd, Lustre mounted with flock))"]
    assert not (world.base / "out").exists()
