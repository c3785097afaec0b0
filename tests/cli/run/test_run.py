"""``ksi run`` on one node, end to end through the real entry point, against the doubles.

Every test uses the ``world`` fixture, which fails the test if ksi left a cluster, a container
daemon, a run file, a port claim, a lock or a credential behind.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

from ksi.rendezvous import event_files

from ksi import constants as C
from tests.conftest import WORKLOADS, free_port, wait_for
from tests.conftest import alive

PROBE = str(WORKLOADS / "probe.sh")
SLEEPER = str(WORKLOADS / "sleeper.sh")


def findings(out: Path) -> dict[str, str]:
    return {p.name: p.read_text().strip() for p in out.iterdir()}


def env_of(out: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in (out / "env").read_text().splitlines())


def test_run_gives_the_workload_the_ksi_contract(world):
    out = world.base / "out"
    res = world.ksi("run", PROBE, str(out), "0", "first arg", "--flag")
    assert res.returncode == 0, res.stderr
    env, seen = env_of(out), findings(out)
    assert env["K8S_CLUSTER_NAME"].startswith("ksi-p")
    assert env["K8S_CLUSTER_API"].startswith("https://")
    assert 30000 <= int(env["K8S_PORT"]) <= 32767
    assert env["KUBECONFIG"].startswith(str(world.runtime))
    assert env["KSI_NAMESPACE"] and env["KSI_MEMBERS"] == "1"
    # private credentials
    assert seen["kubeconfig.mode"] == "600" and seen["ca.mode"] == "600"
    # curl with the token, verifying TLS against the CA, as old KSI scripts do (minus --insecure)
    assert seen["curl.rc"] == "0", seen["curl.err"]
    names = {i["metadata"]["name"] for i in json.loads(seen["curl.json"])["items"]}
    assert {"default", "kube-system", env["KSI_NAMESPACE"]} <= names
    assert seen["anonymous.code"] in ("401", "403")
    # kubectl --context "$K8S_CLUSTER_NAME", unchanged
    assert seen["kubectl.rc"] == "0", seen["kubectl.err"]
    assert seen["nodes"] == f"node/{env['K8S_CLUSTER_NAME']}-control-plane"
    # arguments and working directory
    assert seen["args"].splitlines() == ["first arg", "--flag"]
    assert seen["cwd"] == str(world.base / "work")
    # the token never appears in ksi's own output
    token = seen["token"]
    assert len(token) > 20 and token not in res.stderr and token not in res.stdout
    assert "✓ create cluster" in res.stderr and "✓ delete cluster" in res.stderr


@pytest.mark.parametrize("code", [2, 7, 42])
def test_exit_code_of_the_workload_is_ksis_and_says_so(world, code):
    # 2 (a bash syntax error) and 7 (curl under set -e) were ksi's own codes once
    res = world.ksi("run", PROBE, str(world.base / "out"), str(code))
    assert res.returncode == code
    assert "finished with exit code" in res.stderr
    assert f"✗ workload (exit {code}) (" in res.stderr
    assert res.stderr.splitlines()[-1] == f"ksi: exit {code} is the workload's"
    [job] = world.shared.glob("jobs/*")
    outcome = json.loads((job / "outcome.json").read_text())
    assert (outcome["status"], outcome["exit_code"], outcome["whose"]) == ("finished", code,
                                                                          "workload")
    events = [json.loads(l) for f in event_files(job) for l in f.read_text().splitlines()]
    [workload] = [e for e in events if e["phase"] == "workload"]
    assert workload["outcome"] == "failed" and workload["exit_code"] == code


def test_a_workload_that_succeeds_ends_with_whose_code(world):
    res = world.ksi("run", PROBE, str(world.base / "out"), "0")
    assert res.returncode == 0, res.stderr
    assert "✓ workload (" in res.stderr
    assert res.stderr.splitlines()[-1] == "ksi: exit 0 is the workload's"


def test_port_from_env_and_option(world):
    port_env = 31000 + free_port() % 1000
    out = world.base / "o1"
    res = world.ksi("run", PROBE, str(out), env={"K8S_PORT": str(port_env)})
    assert res.returncode == 0, res.stderr
    assert env_of(out)["K8S_PORT"] == str(port_env)
    port_opt = port_env + 1
    out = world.base / "o2"
    res = world.ksi("run", "--port", str(port_opt), PROBE, str(out),
                    env={"K8S_PORT": str(port_env)})
    assert res.returncode == 0, res.stderr
    assert env_of(out)["K8S_PORT"] == str(port_opt)


def test_a_port_outside_the_nodeport_range_says_why(world):
    res = world.ksi("run", "--port", "8080", PROBE, "x")
    assert res.returncode == C.EXIT_KSI_FAILED
    assert res.stderr.strip().splitlines()[0] == ("ERROR: port 8080 is outside the NodePort range 30000-32767 "
                                  "(K8S_PORT is mapped to the same NodePort, so pick one in "
                                  "that range)")


def test_a_port_in_use_is_refused(world):
    for port in range(30500, 30600):
        sock = socket.socket()
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            sock.close()
            continue
        break
    with sock:
        sock.listen()
        res = world.ksi("run", "--port", str(port), PROBE, "x")
    assert res.returncode == C.EXIT_KSI_FAILED
    assert res.stderr.strip().splitlines()[0] == (f"ERROR: port {port} is already in use on this node "
                                  "(choose another with --port/K8S_PORT, or leave it unset)")


KSI_BAD_INPUT = "ksi: exit 125: ksi failed (bad input), not the workload"
LONG = "x" * 300  # longer than NAME_MAX (255): ENAMETOOLONG


@pytest.mark.parametrize("args,env,code,message", [
    (["run", "missing.sh"], {}, C.EXIT_NOT_FOUND, "ERROR: workload missing.sh does not exist"),
    (["run", "."], {}, C.EXIT_CANNOT_RUN, "ERROR: workload . is a directory"),
    (["run", LONG + ".sh"], {}, C.EXIT_CANNOT_RUN,
     f"ERROR: cannot look at workload {LONG}.sh: File name too long"),
    (["run", "--image", "Not An Image", PROBE], {}, C.EXIT_KSI_FAILED,
     "ERROR: 'Not An Image' is not a valid image"),
    (["run", "--port", "99999", PROBE], {}, C.EXIT_KSI_FAILED,
     "ERROR: port 99999 is outside the NodePort range"),
    (["run", "--workdir", "/nonexistent/dir", PROBE], {}, C.EXIT_KSI_FAILED,
     "ERROR: work directory /nonexistent/dir does not exist"),
    (["run", "--workdir", f"/tmp/{LONG}", PROBE], {}, C.EXIT_KSI_FAILED,
     f"ERROR: cannot look at the work directory (--workdir) /tmp/{LONG}: File name too long"),
    (["run", "--load-image", f"/tmp/{LONG}.tar", PROBE], {}, C.EXIT_KSI_FAILED,
     f"ERROR: cannot look at the image archive (--load-image) /tmp/{LONG}.tar: File name too long"),
    (["run", "--shared-dir", f"/tmp/{LONG}/ksi", PROBE], {}, C.EXIT_KSI_FAILED,
     f"ERROR: cannot look at the shared directory (--shared-dir) /tmp/{LONG}/ksi: File name too "
     "long"),
    (["run", "--timeout", "0", PROBE], {}, C.EXIT_KSI_FAILED,
     "ERROR: Invalid value for '--timeout'"),
    (["run", "--timeout", "nan", PROBE], {}, C.EXIT_KSI_FAILED,
     "ERROR: Invalid value for '--timeout': 'nan' is not a finite number of seconds."),
    (["run", PROBE], {"KSI_TIMEOUT": "inf"}, C.EXIT_KSI_FAILED,
     "ERROR: Invalid value for environment variable KSI_TIMEOUT='inf' ('--timeout'): 'inf' is "
     "not a finite number of seconds."),
    (["run", PROBE], {"K8S_PORT": "abc"}, C.EXIT_KSI_FAILED,
     "ERROR: Invalid value for environment variable K8S_PORT='abc' ('--port'): 'abc' is not a "
     "valid integer."),
    (["run", "--token-ttl", str(2**32 + 1), PROBE], {}, C.EXIT_KSI_FAILED,
     "ERROR: Invalid value for '--token-ttl': 4294967297 is not in the range "
     "600<=x<=4294967296."),
    (["run", "--prot", "30080", PROBE], {}, C.EXIT_KSI_FAILED,
     "ERROR: No such option '--prot'. Did you mean '--port'? (see `ksi run --help`)"),
    (["run"], {}, C.EXIT_KSI_FAILED, "ERROR: Missing argument 'WORKLOAD'."),
    # issue 12: an address that does not resolve, or is not on this node (was a gaierror / an
    # "OSError Errno 99" traceback), also under --dry-run
    (["run", "--api-address", "no-such-node.invalid", PROBE], {}, C.EXIT_KSI_FAILED,
     "ERROR: --api-address 'no-such-node.invalid' does not resolve"),
    (["run", "--dry-run", "--api-address", "no-such-node.invalid", PROBE], {}, C.EXIT_KSI_FAILED,
     "ERROR: --api-address 'no-such-node.invalid' does not resolve"),
    (["run", "--api-address", "192.0.2.7", PROBE], {}, C.EXIT_KSI_FAILED,
     "ERROR: --api-address 192.0.2.7 (192.0.2.7) is not an address of this node"),
    (["run", "--dry-run", "--api-address", "192.0.2.7", PROBE], {}, C.EXIT_KSI_FAILED,
     "ERROR: --api-address 192.0.2.7 (192.0.2.7) is not an address of this node"),
    (["run", "--liqo-set", "userspace", PROBE], {}, C.EXIT_KSI_FAILED,
     "ERROR: --liqo-set 'userspace' is not KEY=VALUE"),
    (["run", "--liqo-set", "a..b=1", PROBE], {}, C.EXIT_KSI_FAILED,
     "ERROR: --liqo-set 'a..b=1' is not KEY=VALUE"),
    (["run", "--liqo-set", "apiServer.address=https://x:1", PROBE], {}, C.EXIT_KSI_FAILED,
     "ERROR: --liqo-set apiServer.address is set by ksi itself"),
    (["run", "--dry-run", PROBE], {"KSI_LIQO_SET": "a.b=1 oops"}, C.EXIT_KSI_FAILED,
     "ERROR: --liqo-set 'oops' is not KEY=VALUE"),
    (["delete", "ksi-nope"], {}, 2, "ERROR: no ksi cluster named ksi-nope on this node"),
    (["delete"], {}, 2, "ERROR: nothing to delete"),
])
def test_bad_input_is_one_line_with_a_documented_code(world, args, env, code, message):
    res = world.ksi(*args, env=env)
    assert res.returncode == code, res.stderr
    lines = res.stderr.strip().splitlines()
    assert lines[0].startswith(message), res.stderr
    if args[0] == "run":  # the error, then whose code it is
        assert len(lines) == 2 and lines[1].startswith(f"ksi: exit {code}: "), res.stderr
        if code == C.EXIT_KSI_FAILED:
            assert lines[1] == KSI_BAD_INPUT
    else:
        assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    assert not list(world.fake_root.glob("hosts/*/*/containers/*")), "created before checking"


def test_without_the_users_d_bus_nothing_is_created(world):
    # rootless containerd and systemd-run --user need the session bus; batch jobs often lack it
    res = world.ksi("run", PROBE, "x", env={"DBUS_SESSION_BUS_ADDRESS": "unix:path=/nope/bus"})
    assert res.returncode == C.EXIT_KSI_FAILED, res.stderr
    lines = res.stderr.strip().splitlines()
    assert "] user session: no D-Bus session bus at /nope/bus" in lines[0], res.stderr
    assert len(lines) == 2 and lines[1].startswith("ksi: exit 125: ksi failed"), res.stderr
    assert not world.containers() and not (world.runtime / "runs").exists()


def test_options_after_the_workload_are_the_workloads(world):
    out = world.base / "out"
    res = world.ksi("run", PROBE, str(out), "0", "--prot", "30080")
    assert res.returncode == 0, res.stderr
    assert findings(out)["args"].splitlines() == ["--prot", "30080"]


def test_ksi_alone_prints_help_and_succeeds(world):
    res = world.ksi()
    assert res.returncode == 0 and res.stdout.startswith("Usage: ksi"), res.stderr
    summaries = [l for l in res.stdout.splitlines() if l.startswith("  ")]
    assert summaries and not any(l.rstrip().endswith("...") for l in summaries), res.stdout


def test_dry_run_into_a_closed_pipe_stops_quietly(world):
    proc = subprocess.Popen(["ksi", "run", "--dry-run", PROBE], cwd=world.base / "work",
                            env={**world.env, "PYTHONUNBUFFERED": "1"}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.read(1)
    proc.stdout.close()  # as `| head -c 1` does
    err = proc.stderr.read() if proc.stderr else ""
    assert proc.wait(timeout=30) == 128 + signal.SIGPIPE, err
    assert "Traceback" not in err and "internal error" not in err
    assert err.splitlines()[-1] == "ksi: exit 141: ksi's stdout was closed (SIGPIPE)"


def test_dry_run_warns_when_the_shared_dir_could_not_be_created(world):
    blocker = world.base / "a-file"
    blocker.write_text("")
    res = world.ksi("run", "--dry-run", "--shared-dir", str(blocker / "ksi"), PROBE)
    assert res.returncode == 0, res.stderr
    assert (f"warning: the shared directory {blocker}/ksi could not be created ({blocker} is "
            "not a directory)") in res.stderr


def test_missing_kind_or_nerdctl_is_ksi_failing(world, tmp_path):
    bin_dir = tmp_path / "bin-nerdctl-only"
    bin_dir.mkdir()
    os.symlink(Path(world.env["PATH"].split(os.pathsep)[0]) / "nerdctl", bin_dir / "nerdctl")
    path = f"{bin_dir}{os.pathsep}{os.path.dirname(os.sys.executable)}{os.pathsep}/usr/bin:/bin"
    res = world.ksi("run", PROBE, "x", env={"PATH": path})
    assert res.returncode == C.EXIT_KSI_FAILED
    assert res.stderr.strip().startswith("ERROR: [node ")
    assert res.stderr.splitlines()[-1] == ("ksi: exit 125: ksi failed (missing tool), not the "
                                           "workload")
    assert "kind: not found on PATH" in res.stderr and "setup/node-" in res.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read and write anything")
def test_unreadable_workload_and_unwritable_workdir(world):
    script = world.base / "work" / "secret.sh"
    script.write_text("true\n")
    script.chmod(0)
    res = world.ksi("run", str(script))
    assert res.returncode == C.EXIT_CANNOT_RUN and "is not readable" in res.stderr
    ro = world.base / "ro"
    ro.mkdir(mode=0o500)
    res = world.ksi("run", "--workdir", str(ro), PROBE)
    assert res.returncode == C.EXIT_KSI_FAILED and "is not writable" in res.stderr


def test_kind_create_failure_is_reported_with_its_phase(world):
    res = world.ksi("run", PROBE, "x", env={"KSI_FAKE_FAIL": "kind-create"})
    assert res.returncode == C.EXIT_KSI_FAILED
    assert res.stderr.splitlines()[-1] == ("ksi: exit 125: ksi failed (bring-up), not the "
                                           "workload")
    error = [l for l in res.stderr.splitlines() if l.startswith("ERROR:")]
    assert len(error) == 1 and "phase create cluster" in error[0] and "kind create cluster" in error[0]


def test_a_node_that_never_becomes_ready_times_out_clearly(world):
    res = world.ksi("run", "--timeout", "3", PROBE, "x", env={"KSI_FAKE_FAIL": "node-never-ready"})
    assert res.returncode == C.EXIT_TIMEOUT
    assert res.stderr.splitlines()[-1] == ("ksi: exit 124: ksi gave up on time (phase wait for "
                                           "nodes), not the workload")
    error = [l for l in res.stderr.splitlines() if l.startswith("ERROR:")][0]
    assert "phase wait for nodes" in error and "not Ready after 3s" in error
    assert "✓ delete cluster" in res.stderr


def test_dry_run_prints_the_plan_and_creates_nothing(world):
    res = world.ksi("run", "--dry-run", PROBE, "x")
    assert res.returncode == 0, res.stderr
    assert "kind: Cluster" in res.stdout and "containerPath: /app" in res.stdout
    assert "nothing was created" in res.stdout
    assert ("# steps (standalone): check tools -> rendezvous -> reap stale clusters -> "
            "register cluster") in res.stdout
    assert "create cluster -> wait for nodes" in res.stdout and "-> workload\n" in res.stdout
    assert "# teardown:   within 25s" in res.stdout
    assert not world.containers() and not (world.runtime / "runs").exists()


def test_verbose_shows_commands_but_never_the_token(world):
    out = world.base / "out"
    res = world.ksi("run", "-v", PROBE, str(out))
    assert res.returncode == 0, res.stderr
    assert "$ kind create cluster --name ksi-p" in res.stderr
    token = (out / "token").read_text()
    assert token not in res.stderr and token not in res.stdout
    events = list(world.shared.glob("jobs/*/events/0.jsonl"))
    assert events and all(token not in e.read_text() for e in events)


def test_keep_leaves_the_cluster_and_says_how_to_delete_it(world):
    res = world.ksi("run", "--keep", PROBE, str(world.base / "out"))
    assert res.returncode == 0, res.stderr
    name = env_of(world.base / "out")["K8S_CLUSTER_NAME"]
    assert f"delete it with: ksi delete {name}" in res.stderr
    assert [c["name"] for c in world.containers()] == [f"{name}-control-plane"]
    listing = world.ksi("list")
    assert name in listing.stdout and "kept" in listing.stdout
    res = world.ksi("delete", name)
    assert res.returncode == 0 and f"deleted {name}" in res.stdout


# --- signals -----------------------------------------------------------------------------------

def start_sleeper(world, *extra: str, env: dict[str, str] | None = None):
    out = world.base / "sleeper"
    proc = world.popen("run", "--grace", "2", *extra, SLEEPER, str(out), env=env)
    wait_for(lambda: (out / "started").exists() or proc.poll() is not None, 60, "workload start")
    assert proc.poll() is None, proc.communicate()
    return proc, out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_during_the_workload_stops_it_and_tears_down(world, sig):
    proc, out = start_sleeper(world)
    child = int((out / "child.pid").read_text())
    t0 = time.monotonic()
    os.kill(proc.pid, sig)  # ksi alone, as Slurm's proctrack/cgroup does
    stdout, stderr = proc.communicate(timeout=30)
    assert time.monotonic() - t0 < 15
    assert proc.returncode == 128 + sig, stderr
    assert (out / "signals").read_text().split() == [signal.Signals(sig).name[3:]]
    assert not alive(child), "the workload's background child survived"
    assert f"stopped by {signal.Signals(sig).name}" in stderr
    assert "✓ delete cluster" in stderr


def test_a_workload_ignoring_sigterm_is_killed_after_the_grace(world):
    out = world.base / "stubborn"
    proc = world.popen("run", "--grace", "1", SLEEPER, str(out), "ignore")
    wait_for(lambda: (out / "started").exists(), 60, "workload start")
    pid = int((out / "pid").read_text())
    os.kill(proc.pid, signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 143
    assert "TERM" in (out / "signals").read_text()
    assert not alive(pid)


def test_sigterm_during_kind_create_stops_it_and_deletes_the_half_made_cluster(world):
    proc = world.popen("run", PROBE, "x", env={"KSI_FAKE_KIND_CREATE_SECONDS": "30"})
    wait_for(lambda: world.containers(), 30, "kind to prepare the node container")
    os.kill(proc.pid, signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 143, stderr
    assert "phase create cluster" in stderr and "✓ delete cluster" in stderr


NO_USER_SYSTEMD = {"KSI_FAKE_FAIL": "systemd-run"}


def test_the_guardian_deletes_the_cluster_of_a_sigkilled_run(world):
    proc, out = start_sleeper(world)
    name = (out / "cluster").read_text().strip()
    os.killpg(proc.pid, signal.SIGKILL)  # ksi and its workload die; the cluster does not
    os.killpg(int((out / "pid").read_text()), signal.SIGKILL)
    proc.wait()
    wait_for(lambda: not world.containers(), 15, "the guardian to delete the cluster")
    assert world.ksi("list").stderr.strip() == "no ksi clusters on this node"
    logs = list(world.fake_root.glob("hosts/*/*/units/ksi-guard-*.log"))
    assert any(f"deleted {name}" in log.read_text() for log in logs)


def test_without_user_systemd_ksi_warns_and_still_runs(world):
    res = world.ksi("run", PROBE, str(world.base / "out"), env=NO_USER_SYSTEMD)
    assert res.returncode == 0, res.stderr
    assert "warning: no guardian outside the job" in res.stderr
    assert "Failed to connect to bus" in res.stderr


def test_sigkilled_run_is_listed_stale_and_reaped(world):
    proc, out = start_sleeper(world, env=NO_USER_SYSTEMD)
    name = (out / "cluster").read_text().strip()
    os.killpg(proc.pid, signal.SIGKILL)  # ksi and its workload die; the cluster does not
    os.killpg(int((out / "pid").read_text()), signal.SIGKILL)
    proc.wait()
    listing = world.ksi("list")
    assert listing.returncode == 0
    row = [l for l in listing.stdout.splitlines() if l.startswith(name)]
    assert row and row[0].split()[-1] == "stale", listing.stdout
    res = world.ksi("delete", "--stale")
    assert res.returncode == 0 and f"deleted {name}" in res.stdout, res.stderr
    assert world.ksi("list").stderr.strip() == "no ksi clusters on this node"


def test_the_next_run_reaps_a_stale_cluster_first(world):
    proc, out = start_sleeper(world, env=NO_USER_SYSTEMD)
    name = (out / "cluster").read_text().strip()
    os.killpg(proc.pid, signal.SIGKILL)
    os.killpg(int((out / "pid").read_text()), signal.SIGKILL)
    proc.wait()
    res = world.ksi("run", PROBE, str(world.base / "out"))
    assert res.returncode == 0, res.stderr
    assert f"deleted stale cluster {name}" in res.stderr


def test_run_files_are_private(world):
    proc, out = start_sleeper(world)
    try:
        runs = list((world.runtime / "runs").iterdir())
        assert len(runs) == 1
        assert stat.S_IMODE(runs[0].stat().st_mode) == 0o700
        for f in runs[0].iterdir():
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
        job = next(world.shared.glob("jobs/*"))
        assert stat.S_IMODE(job.stat().st_mode) == 0o700
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=30)


# --- diagnostics ---------------------------------------------------------------------------------

def _diagnostics(world) -> list[Path]:
    return list(world.shared.glob("jobs/*/diagnostics/*-r0"))


def test_a_failed_run_keeps_diagnostics_without_the_token(world):
    out = world.base / "out"
    res = world.ksi("run", PROBE, str(out), "5")
    assert res.returncode == 5, res.stderr
    [where] = _diagnostics(world)
    assert f"diagnostics saved in {where}" in res.stderr
    assert (where / "events.txt").is_file()
    assert (where / "kind-logs").is_dir() and any((where / "kind-logs").rglob("*.log"))
    token = (out / "token").read_text()
    job_dir = where.parent.parent
    for path in [*job_dir.rglob("*")]:
        if path.is_file():
            assert token not in path.read_text(errors="replace"), path
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def test_a_failed_run_keeps_the_events_and_the_workload_pods_logs(world):
    """What the API says (every Event, each container's log) is saved before the cluster goes."""
    script = world.base / "work" / "pod.sh"
    script.write_text("kubectl run hello --image=busybox:1.36 --restart=Never --command -- "
                      "sh -c 'echo hello from the pod' >/dev/null\n"
                      "kubectl wait --for=jsonpath='{.status.phase}'=Succeeded pod/hello "
                      "--timeout=30s >/dev/null\nexit 3\n")
    res = world.ksi("run", str(script))
    assert res.returncode == 3, res.stderr
    [where] = _diagnostics(world)
    assert not (where / "errors.txt").exists(), (where / "errors.txt").read_text()
    log = where / "pods" / f"{C.WORKLOAD_NAMESPACE}_hello_hello.log"
    assert log.read_text() == "hello from the pod\n"
    events = (where / "events.txt").read_text().splitlines()
    assert any(f" Normal {C.WORKLOAD_NAMESPACE}/Pod/hello Started: " in e for e in events), events


def test_a_successful_run_keeps_no_diagnostics_unless_asked(world):
    assert world.ksi("run", PROBE, str(world.base / "a")).returncode == 0
    assert not _diagnostics(world)
    res = world.ksi("run", "--collect-logs", PROBE, str(world.base / "b"))
    assert res.returncode == 0, res.stderr
    assert len(_diagnostics(world)) == 1


# --- how the workload is run -----------------------------------------------------------------------

def test_an_executable_workload_runs_by_its_shebang(world):
    script = world.base / "work" / "w.py"
    script.write_text("#!/usr/bin/env python3\nimport os, sys\n"
                      "print(sys.argv[1:], os.environ['KSI_NAMESPACE'])\nsys.exit(3)\n")
    script.chmod(0o755)
    res = world.ksi("run", str(script), "a b")
    assert res.returncode == 3, res.stderr
    assert res.stdout == "['a b'] ksi-workload\n"
    assert "syntax error" not in res.stderr


def test_a_script_that_is_not_executable_runs_with_bash(world):
    script = world.base / "work" / "w.sh"
    script.write_text("[[ -n $BASH_VERSION ]] && echo bash $1\n")  # no shebang, mode 0644
    res = world.ksi("run", str(script), "yes")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "bash yes\n"


def test_a_shebang_naming_a_missing_interpreter_is_127_before_bring_up(world):
    script = world.base / "work" / "w.py"
    script.write_text("#!/nonexistent/python9\nprint(1)\n")
    script.chmod(0o755)
    res = world.ksi("run", str(script))
    assert res.returncode == C.EXIT_NOT_FOUND, res.stderr
    assert "its shebang names /nonexistent/python9, which does not exist" in res.stderr
    assert res.stderr.splitlines()[-1] == ("ksi: exit 127: the workload was not found; it did "
                                           "not run")
    assert not world.containers()


@pytest.mark.parametrize("workload_code,code", [(0, C.EXIT_KSI_FAILED), (3, 3)])
def test_a_cluster_that_cannot_be_deleted_after_the_workload(world, workload_code, code):
    res = world.ksi("run", PROBE, str(world.base / "out"), str(workload_code),
                    env={"KSI_FAKE_FAIL": "kind-delete"})
    assert res.returncode == code, res.stderr
    assert "could not delete cluster ksi-p" in res.stderr
    last = res.stderr.splitlines()[-1]
    if workload_code == 0:  # ksi's failure, said to come after a successful workload
        assert last == "ksi: exit 125: ksi failed (could not delete) after the workload exited 0"
        [job] = world.shared.glob("jobs/*")
        outcome = json.loads((job / "outcome.json").read_text())
        assert (outcome["exit_code"], outcome["whose"], outcome["cause"]) == (
            125, "ksi", "could not delete")
    else:  # the workload's failure is the one to report
        assert last == "ksi: exit 3 is the workload's"
    cleanup = world.ksi("delete", "--stale")
    assert cleanup.returncode == 0 and "deleted ksi-p" in cleanup.stdout, cleanup.stderr
