"""``ksi doctor``: fake system states (tests/cli/doctor/states/), fake tools on PATH, the real shared
directory and port probes, and three doctor processes meeting as Slurm ranks."""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import ksi
from click.testing import CliRunner

from ksi import doctor as D
from ksi.cli import cli
from ksi.errors import EnvironmentProblem

STATES = Path(__file__).resolve().parent / "states"
KSI = Path(sys.executable).parent / "ksi"
UID = os.getuid()
USER = D.SystemView.from_env().user
SYSTEM_CHECKS = ("cgroup v2", "cgroup delegation", "kernel modules", "wireguard", "inotify",
                 "rootless containerd", "linger", "subordinate ids", "kernel for Liqo",
                 "Liqo modules", "/dev/fuse", "IPv6", "user session")

KUBECTL_JSON = json.dumps({"clientVersion": {"major": "1", "minor": "33",
                                             "gitVersion": "v1.33.1", "platform": "linux/amd64"},
                           "kustomizeVersion": "v5.6.0"})
#: what each tool prints for its version, as the real one does
GOOD = {"kind": "kind v0.29.0 go1.24.2 linux/amd64", "nerdctl": "nerdctl version 2.1.2",
        "kubectl": KUBECTL_JSON, "liqoctl": "Client version: v1.0.0"}


def fill(text: str) -> str:
    return text.replace("{uid}", str(UID)).replace("{user}", USER)


def materialize(state: str, dest: Path) -> Path:
    """Copy healthy/, lay ``state``'s overlay over it, delete its ``_removed.txt`` paths."""
    root = dest / state
    for layer in dict.fromkeys(["healthy", state]):
        for src in sorted((STATES / layer).rglob("*")):
            rel = src.relative_to(STATES / layer)
            if src.is_dir() or (len(rel.parts) == 1 and rel.name.startswith("_")):
                continue
            target = root / fill(str(rel))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(fill(src.read_text()))
    removed = STATES / state / "_removed.txt"
    for line in removed.read_text().split() if removed.exists() else []:
        path = root / fill(line)
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return root


def expected(state: str) -> list[str]:
    return fill((STATES / state / "_expected.txt").read_text()).splitlines()


def fake_tools(bindir: Path, out: dict[str, str] | None = None, *, missing: tuple[str, ...] = (),
               hang: tuple[str, ...] = ()) -> Path:
    """Tiny scripts printing ``out[tool]`` whatever their arguments; ``hang`` ones sleep."""
    bindir.mkdir(parents=True, exist_ok=True)
    for tool, text in {**GOOD, **(out or {})}.items():
        if tool in missing:
            continue
        body = "exec /bin/sleep 30" if tool in hang else f"/bin/cat <<'EOF'\n{text}\nEOF"
        script = bindir / tool
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(0o755)
    return bindir


def base_env(tmp_path: Path, root: Path, bindir: Path) -> dict[str, str | None]:
    env: dict[str, str | None] = {k: None for k in os.environ
                                  if k.startswith(("SLURM", "KSI_", "ROOTLESSKIT", "DBUS_"))}
    env.update({"KSI_DOCTOR_ROOT": str(root), "PATH": str(bindir),
                "XDG_RUNTIME_DIR": f"/run/user/{UID}", "KSI_SHARED_DIR": str(tmp_path / "shared"),
                "KSI_API_ADDRESS": "127.0.0.1"})
    return env


def invoke(env: dict[str, str | None], *args: str):
    return CliRunner().invoke(cli, ["doctor", *args], env=env, catch_exceptions=False)


def system_lines(stdout: str) -> list[str]:
    """The lines of the system checks (and their fix lines) from doctor's output."""
    out, keep = [], False
    for line in stdout.splitlines():
        if not line.startswith(" "):
            keep = line[6:].split(":")[0] in SYSTEM_CHECKS
        if keep:
            out.append(line)
    return out


# --- the states, through click ------------------------------------------------------------------
@pytest.mark.parametrize("state", sorted(p.name for p in STATES.iterdir() if p.is_dir()))
def test_each_state_gives_its_lines_and_exit_code(tmp_path, state):
    root = materialize(state, tmp_path)
    res = invoke(base_env(tmp_path, root, fake_tools(tmp_path / "bin")))
    assert system_lines(res.stdout) == expected(state)
    rest = [line for line in res.stdout.splitlines() if line not in expected(state)]
    assert [line[:6] + line[6:].split(":")[0] for line in rest] == [
        "PASS  python", "PASS  kind", "PASS  nerdctl", "PASS  kubectl", "PASS  liqoctl",
        "PASS  shared directory", "PASS  free ports"]
    failed = any(line.startswith("FAIL") for line in expected(state))
    assert res.exit_code == (3 if failed else 0)
    assert res.stderr.startswith("ksi doctor: ")


def test_healthy_output_names_what_it_found(tmp_path):
    root = materialize("healthy", tmp_path)
    res = invoke(base_env(tmp_path, root, fake_tools(tmp_path / "bin")))
    shared = (tmp_path / "shared").resolve()
    lines = res.stdout.splitlines()
    assert (f"PASS  python: Python {'.'.join(map(str, sys.version_info[:3]))} at "
            f"{sys.executable} (ksi {ksi.__version__})") == lines[0]
    assert f"PASS  kind: v0.29.0 at {tmp_path}/bin/kind" in lines
    assert f"PASS  nerdctl: 2.1.2 at {tmp_path}/bin/nerdctl" in lines
    assert f"PASS  kubectl: v1.33.1 at {tmp_path}/bin/kubectl" in lines
    assert f"PASS  liqoctl: v1.0.0 at {tmp_path}/bin/liqoctl" in lines
    assert any(line.startswith(f"PASS  shared directory: {shared}: created, private, writable, "
                               "lockable") for line in lines)
    assert any(line.startswith("PASS  free ports: TCP and UDP ports in 30000-32767 can be bound "
                               "on 127.0.0.1 (e.g. ") for line in lines)
    host = socket.gethostname().split(".")[0]
    assert res.stderr == f"ksi doctor: {host}: 0 FAIL, 0 WARN, 20 PASS\n"
    assert oct(shared.stat().st_mode & 0o777) == "0o700"
    assert os.listdir(shared) == []  # the probes leave nothing behind


def test_an_old_python_is_a_failure_with_the_fix():
    check = D.check_python((3, 10, 12), "/usr/bin/python3")
    assert (check.status, check.finding) == (D.FAIL, "Python 3.10.12 at /usr/bin/python3 (ksi "
                                             f"{ksi.__version__}): ksi needs Python 3.11 or newer")
    assert "setup/README.md" in (check.fix or "")


def test_json_is_a_list_of_findings(tmp_path):
    root = materialize("no_delegation", tmp_path)
    res = invoke(base_env(tmp_path, root, fake_tools(tmp_path / "bin")), "--json")
    assert res.exit_code == 3
    found = json.loads(res.stdout)
    assert all(set(item) == {"check", "status", "finding", "fix", "node"} for item in found)
    by_name = {item["check"]: item for item in found}
    assert by_name["cgroup delegation"]["status"] == "FAIL"
    assert by_name["cgroup delegation"]["fix"].startswith("as root: /etc/systemd/system/user@")
    assert by_name["kind"] == {"check": "kind", "status": "PASS",
                               "finding": f"v0.29.0 at {tmp_path}/bin/kind", "fix": "",
                               "node": socket.gethostname().split(".")[0]}


def test_json_from_the_environment(tmp_path):
    root = materialize("healthy", tmp_path)
    env = {**base_env(tmp_path, root, fake_tools(tmp_path / "bin")), "KSI_DOCTOR_JSON": "1"}
    res = invoke(env)
    assert res.exit_code == 0
    assert {item["status"] for item in json.loads(res.stdout)} == {"PASS"}


# --- through the real entry point ---------------------------------------------------------------
def run_ksi(env: dict[str, str | None], *args: str,
            timeout: float = 30) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
    return subprocess.run([str(KSI), "doctor", *args], env=full, capture_output=True, text=True,
                          check=False, timeout=timeout)


@pytest.mark.parametrize("state", ["healthy", "missing_modules", "low_inotify"])
def test_real_entry_point(tmp_path, state):
    root = materialize(state, tmp_path)
    res = run_ksi(base_env(tmp_path, root, fake_tools(tmp_path / "bin")))
    assert system_lines(res.stdout) == expected(state)
    assert res.returncode == {"healthy": 0, "missing_modules": 3, "low_inotify": 0}[state]


# --- the tools -----------------------------------------------------------------------------------
def tool_check(tmp_path: Path, tool: str, timeout: float = 5, **kw: object) -> D.Check:
    bindir = fake_tools(tmp_path / "bin", **kw)  # type: ignore[arg-type]
    view = D.SystemView(root=tmp_path, env={"PATH": str(bindir)}, uid=UID, user=USER)
    return D.check_tool(tool, view, timeout=timeout)


@pytest.mark.parametrize("tool, printed, status, finding", [
    ("kind", "kind v0.31.0 go1.25.0 linux/amd64", "WARN", ("v0.31.0 at {bin}/kind: not tested "
     "with ksi (tested: >=0.27,<0.30)")),
    ("kind", "kind v0.26.1 go1.23.4 linux/amd64", "WARN", ("v0.26.1 at {bin}/kind: not tested "
     "with ksi (tested: >=0.27,<0.30)")),
    ("nerdctl", "nerdctl version 1.7.7", "WARN", ("1.7.7 at {bin}/nerdctl: not tested with ksi "
     "(tested: >=2.0)")),
    ("nerdctl", "nerdctl version 1.6.2", "FAIL", "1.6.2 at {bin}/nerdctl: ksi needs >=1.7"),
    ("kubectl", KUBECTL_JSON.replace("v1.33.1", "v1.29.3"), "WARN", ("v1.29.3 at {bin}/kubectl: "
     "not tested with ksi (tested: >=1.31)")),
    ("kubectl", "not json", "FAIL", ("cannot read a version from `kubectl version --client -o "
     "json` ({bin}/kubectl)")),
    ("liqoctl", "Client version: v1.0.3", "PASS", "v1.0.3 at {bin}/liqoctl"),
    ("liqoctl", "Client version: v1.1.0", "WARN", ("v1.1.0 at {bin}/liqoctl: not tested with ksi "
     "(tested: ==1.0.x)")),
    ("liqoctl", "Client version: v0.10.3", "WARN", "v0.10.3 at {bin}/liqoctl: ksi needs >=1.0"),
])
def test_tool_versions_against_the_matrix(tmp_path, tool, printed, status, finding):
    check = tool_check(tmp_path, tool, out={tool: printed})
    assert (check.status, check.finding) == (status, finding.format(bin=tmp_path / "bin"))
    if status != "PASS":
        assert check.fix


def test_missing_tools(tmp_path):
    kind = tool_check(tmp_path, "kind", missing=("kind", "liqoctl"))
    assert (kind.status, kind.finding) == ("FAIL", "not found on PATH")
    liqoctl = tool_check(tmp_path, "liqoctl", missing=("kind", "liqoctl"))
    assert (liqoctl.status, liqoctl.finding) == ("WARN", ("not found on PATH (only multi-node "
                                                 "runs need it)"))


def test_a_hanging_tool_is_cut_short(tmp_path):
    check = tool_check(tmp_path, "nerdctl", timeout=0.5, hang=("nerdctl",))
    assert (check.status, check.finding) == ("FAIL", ("`nerdctl --version` did not answer within "
                                             "0.5s"))


def test_a_failing_tool_says_why(tmp_path):
    bindir = fake_tools(tmp_path / "bin")
    (bindir / "kind").write_text("#!/bin/sh\necho 'ERROR: unknown command' >&2\nexit 1\n")
    view = D.SystemView(root=tmp_path, env={"PATH": str(bindir)}, uid=UID, user=USER)
    check = D.check_tool("kind", view)
    assert (check.status, check.finding) == ("FAIL", ("`kind version` failed with exit code 1: "
                                             "ERROR: unknown command"))


@pytest.mark.parametrize("version, spec, ok", [
    ("0.29.0", ">=0.27,<0.30", True), ("v0.30.0", ">=0.27,<0.30", False),
    ("0.27", ">=0.27,<0.30", True), ("2.1.2", ">=2.0", True), ("1.99.0", ">=2.0", False),
    ("v1.32.4-dispatcher", ">=1.31", True), ("v1.0.9", "==1.0.x", True),
    ("v1.1.0", "==1.0.x", False), ("1", ">=1.0", True),
])
def test_satisfies(version, spec, ok):
    assert D.satisfies(version, spec) is ok


# --- the shared directory, ports, modules --------------------------------------------------------
def view_of(tmp_path: Path) -> D.SystemView:
    return D.SystemView(root=materialize("healthy", tmp_path), env={}, uid=UID, user=USER)


def test_shared_dir_open_to_others_fails(tmp_path):
    shared = tmp_path / "open"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    check = D.check_shared_dir(shared, view_of(tmp_path))
    assert (check.status, check.finding) == ("FAIL", ("the shared directory (--shared-dir) "
                                             f"{shared} is writable by other users"))
    assert check.fix == f"run `chmod go-w {shared}` or choose another location"


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to give a directory away")
def test_shared_dir_of_another_user_fails(tmp_path):
    shared = tmp_path / "theirs"
    shared.mkdir(mode=0o700)
    os.chown(shared, 54321, 54321)
    check = D.check_shared_dir(shared, view_of(tmp_path))
    assert (check.status, check.finding) == ("FAIL", ("the shared directory (--shared-dir) "
                                             f"{shared} belongs to another user (uid 54321)"))


def test_shared_dir_without_flock_fails(tmp_path, monkeypatch):
    import fcntl

    def no_flock(fd: int, op: int) -> None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", no_flock)
    check = D.check_shared_dir(tmp_path / "nfs", view_of(tmp_path))
    assert check.status == "FAIL"
    assert check.finding == (f"cannot lock files in {tmp_path / 'nfs'}: flock(2) failed: "
                             "No locks available")
    assert "Lustre mounted with -o flock" in check.fix


def test_filesystem_type_is_the_longest_mount():
    mounts = ("/dev/sda1 / ext4 rw 0 0\nserver:/home /home nfs4 rw 0 0\n"
              "lustre@tcp:/fs /home/lus\\040tre lustre rw,flock 0 0\n")
    assert D.filesystem_type(Path("/home/alice/.ksi"), mounts) == "nfs4"
    assert D.filesystem_type(Path("/home/lus tre/x"), mounts) == "lustre"
    assert D.filesystem_type(Path("/homework"), mounts) == "ext4"
    assert D.filesystem_type(Path("/x"), None) == ""


def test_ports_on_an_address_that_is_not_ours():
    check = D.check_ports("192.0.2.1", tries=3)  # TEST-NET-1: never a local address
    assert check.status == "FAIL"
    assert check.finding == ("no port in 30000-32767 could be bound on 192.0.2.1 (3 tried: "
                             "Cannot assign requested address)")


def test_modules_unreadable_is_a_warning(tmp_path):
    view = D.SystemView(root=tmp_path, env={}, uid=UID, user=USER)
    assert [(c.name, c.status) for c in D.check_modules(view)] == [("kernel modules", "WARN"),
                                                                  ("wireguard", "WARN")]


# --- what ksi run uses -----------------------------------------------------------------------
def test_fast_checks_and_the_error_ksi_run_raises(tmp_path):
    view = D.SystemView(root=materialize("healthy", tmp_path),
                        env={"PATH": str(fake_tools(tmp_path / "bin", missing=("liqoctl",))),
                             "XDG_RUNTIME_DIR": f"/run/user/{UID}"},
                        uid=UID, user=USER)
    checks = D.fast_checks(tmp_path / "shared", view=view)
    assert [(c.name, c.status) for c in checks] == [
        ("nerdctl", "PASS"), ("kind", "PASS"), ("kubectl", "PASS"), ("cgroup v2", "PASS"),
        ("user session", "PASS"), ("shared directory", "PASS")]
    D.raise_on_failure(checks)  # nothing failed: no error
    checks = D.fast_checks(tmp_path / "shared", view=view, multi_node=True)
    with pytest.raises(EnvironmentProblem) as caught:
        D.raise_on_failure(checks)
    assert caught.value.exit_code == 3
    assert caught.value.one_line() == (
        "ERROR: liqoctl: not found on PATH (multi-node runs need it) (install it "
        "(setup/node-*.sh puts nerdctl, kind, kubectl and liqoctl in /usr/local/bin) or add its "
        "directory to PATH)")


@pytest.mark.parametrize("env,finding", [
    ({}, "XDG_RUNTIME_DIR is not set"),
    ({"XDG_RUNTIME_DIR": "/run/user/4711"}, "XDG_RUNTIME_DIR /run/user/4711 does not exist"),
    ({"XDG_RUNTIME_DIR": f"/run/user/{UID}", "DBUS_SESSION_BUS_ADDRESS": "unix:path=/nope/bus"},
     "no D-Bus session bus at /nope/bus"),
])
def test_ksi_runs_fast_checks_refuse_a_missing_session_before_anything_is_created(
        tmp_path, env, finding):
    view = D.SystemView(root=materialize("healthy", tmp_path),
                        env={"PATH": str(fake_tools(tmp_path / "bin")), **env}, uid=UID, user=USER)
    with pytest.raises(EnvironmentProblem) as caught:
        D.raise_on_failure(D.fast_checks(tmp_path / "shared", view=view))
    assert caught.value.one_line().startswith(f"ERROR: user session: {finding}")
    assert "enable-linger" in caught.value.one_line()


def test_several_failures_name_the_others(tmp_path):
    checks = [D.Check("kind", "FAIL", "not found on PATH", "install kind"),
              D.Check("cgroup v2", "FAIL", "cgroup v1", "boot with v2"),
              D.Check("inotify", "WARN", "low", "raise it")]
    problem = D.environment_problem(checks)
    assert problem is not None
    assert problem.one_line() == ("ERROR: kind: not found on PATH (and cgroup v2: see "
                                  "`ksi doctor`) (install kind)")
    assert problem.detail == ("FAIL  kind: not found on PATH\n      fix: install kind\n"
                              "FAIL  cgroup v2: cgroup v1\n      fix: boot with v2")


def test_lines_group_equal_results_of_several_nodes():
    checks = [D.Check("inotify", "PASS", "ok", node=n) for n in ("n1", "n2", "n3")]
    checks += [D.Check("linger", "PASS", "on", node="n1"),
               D.Check("linger", "PASS", "on", node="n2"),
               D.Check("linger", "WARN", "off", "enable it", node="n3"),
               D.Check(D.SHARED_BETWEEN_NODES, "PASS", "all 3 ranks met", node="n1")]
    assert D.lines_of(checks, ["n1", "n2", "n3"]) == [
        "PASS  inotify [all 3 nodes]: ok", "PASS  linger [n1, n2]: on",
        "WARN  linger [n3]: off", "      fix: enable it",
        "PASS  shared between nodes: all 3 ranks met"]


# --- several ranks -------------------------------------------------------------------------------
def start_ranks(tmp_path: Path, roots: list[Path], shared: list[Path], wait: float,
                job: str = "4711") -> list[subprocess.CompletedProcess[str]]:
    bindir = fake_tools(tmp_path / "bin")
    procs = []
    for rank, (root, where) in enumerate(zip(roots, shared)):
        env = base_env(tmp_path, root, bindir)
        env.update({"KSI_SHARED_DIR": str(where), "KSI_DOCTOR_WAIT": str(wait),
                    "SLURM_JOB_ID": job, "SLURM_STEP_ID": "0", "SLURM_PROCID": str(rank),
                    "SLURM_NODEID": str(rank), "SLURM_LOCALID": "0", "SLURMD_NODENAME":
                    f"node{rank + 1}", "SLURM_NTASKS": str(len(roots)),
                    "SLURM_NNODES": str(len(roots)), "SLURM_STEP_NUM_TASKS": str(len(roots)),
                    "SLURM_STEP_NUM_NODES": str(len(roots))})
        full = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
        procs.append(subprocess.Popen([str(KSI), "doctor"], env=full, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=30)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


def test_three_ranks_one_table(tmp_path):
    healthy = materialize("healthy", tmp_path / "a")
    broken = materialize("no_delegation", tmp_path / "b")
    shared = tmp_path / "shared"
    rank0, rank1, rank2 = start_ranks(tmp_path, [healthy, healthy, broken], [shared] * 3, wait=10)
    assert rank1.stdout == rank2.stdout == ""
    assert rank1.stderr == "ksi doctor: rank 1 on node2: 0 FAIL, 0 WARN, 20 PASS (rank 0 prints " \
        "the table)\n"
    assert rank2.stderr.startswith("ksi doctor: rank 2 on node3: 1 FAIL, 0 WARN, 19 PASS")
    lines = rank0.stdout.splitlines()
    assert "PASS  cgroup v2 [all 3 nodes]: unified hierarchy mounted at /sys/fs/cgroup" in lines
    assert ("PASS  cgroup delegation [node1, node2]: cpu cpuset io memory pids delegated to "
            f"user@{UID}.service") in lines
    assert ("FAIL  cgroup delegation [node3]: cpuset, io not delegated to "
            f"user@{UID}.service (it has: cpu memory pids)") in lines
    assert f"PASS  shared between nodes: all 3 ranks met in {shared.resolve()}/doctor/4711.0" \
        in lines
    assert len([line for line in lines if line.startswith("PASS  linger")]) == 1
    assert rank0.stderr == "ksi doctor: 3 nodes: 1 FAIL, 0 WARN, 60 PASS\n"
    assert (rank0.returncode, rank1.returncode, rank2.returncode) == (3, 0, 3)
    assert os.listdir(shared) == []  # the doctor directory is gone


def test_ranks_that_do_not_share_the_directory(tmp_path):
    root = materialize("healthy", tmp_path)
    shared = [tmp_path / f"shared{rank}" for rank in range(3)]
    rank0, rank1, rank2 = start_ranks(tmp_path, [root] * 3, shared, wait=1)
    job = shared[0].resolve() / "doctor" / "4711.0"
    assert rank0.stdout.splitlines()[-2:] == [
        ("FAIL  shared between nodes: the shared directory is not shared between nodes (ranks 1, "
        f"2 not seen in {job} after 1s)"),
        ("      fix: put --shared-dir (KSI_SHARED_DIR) on a filesystem every node mounts at the "
        "same path (NFS, Lustre, GPFS; your home directory)")]
    assert rank0.returncode == 3
    assert rank0.stderr == "ksi doctor: rank 0 on node1: 1 FAIL, 0 WARN, 20 PASS\n"
    for rank, res in ((1, rank1), (2, rank2)):
        assert res.stdout == "" and res.returncode == 3
        assert (f"FAIL  shared between nodes: rank 0 did not take rank {rank}'s results from "
                f"{shared[rank].resolve()}/doctor/4711.0") in res.stderr
    for where in shared:
        assert os.listdir(where) == []  # every rank cleaned up after itself


def test_a_rank_that_arrived_but_sent_nothing(tmp_path):
    jobdir = tmp_path / "shared" / "doctor" / "7.0"
    jobdir.mkdir(parents=True, mode=0o700)
    (tmp_path / "shared").chmod(0o700)
    (tmp_path / "shared" / "doctor").chmod(0o700)
    (jobdir / "1.arrived").write_text('{"node": "n2"}')
    mine = [D.Check("inotify", "PASS", "ok")]
    got = D.across_nodes(0, 3, "n1", "7.0", tmp_path / "shared", lambda: mine, wait=0.3)
    assert got.leader and got.nodes == ["n1"]
    assert [(c.status, c.finding) for c in got.checks[1:]] == [
        ("FAIL", ("the shared directory is not shared between nodes (rank 2 not seen in "
                 f"{jobdir.resolve()} after 0.3s)")),
        ("FAIL", "rank 1 arrived but sent no results within 0.3s")]
    assert got.checks[0] == D.Check("inotify", "PASS", "ok", node="n1")
    assert os.listdir(tmp_path / "shared") == []



def _doctor_step(tmp_path: Path) -> Path:
    """``<shared>/doctor/7.0`` as the ranks make it: private all the way."""
    jobdir = tmp_path / "shared" / "doctor" / "7.0"
    jobdir.mkdir(parents=True, mode=0o700)
    (tmp_path / "shared").chmod(0o700)
    (tmp_path / "shared" / "doctor").chmod(0o700)
    return jobdir


@pytest.mark.parametrize("plant", ["symlink", "group-writable"])
def test_results_another_user_could_have_planted_are_refused_not_shown(tmp_path, plant):
    # rank 0 reads back what the other ranks wrote as the rendezvous does: no link followed,
    # ours, writable by nobody else; a planted "all PASS" must not reach the table
    jobdir = _doctor_step(tmp_path)
    body = json.dumps({"node": "n2", "checks": [{"check": "inotify", "status": "PASS",
                                                 "finding": "planted", "fix": "", "node": "n2"}]})
    (jobdir / "1.arrived").write_text('{"node": "n2"}')
    if plant == "symlink":
        (tmp_path / "elsewhere.json").write_text(body)
        (jobdir / "1.json").symlink_to(tmp_path / "elsewhere.json")
    else:
        (jobdir / "1.json").write_text(body)
        (jobdir / "1.json").chmod(0o660)
    mine = [D.Check("inotify", "PASS", "ok")]
    got = D.across_nodes(0, 2, "n1", "7.0", tmp_path / "shared", lambda: mine, wait=0.3)
    assert [c.finding for c in got.checks].count("planted") == 0
    assert got.nodes == ["n1"]
    [cross] = got.checks[1:]
    assert cross.status == "FAIL" and cross.name == "shared between nodes"
    assert cross.finding.startswith(f"rank 1's results refused: {jobdir.resolve()}/1.json ")
    assert os.listdir(tmp_path / "shared") == []


def test_a_rank_that_arrived_twice_does_not_overwrite_the_first(tmp_path):
    # the arrival is created exclusively: a second rank 1 (or a leftover) is told, not merged
    jobdir = _doctor_step(tmp_path)
    (jobdir / "1.arrived").write_text('{"node": "n2"}')
    mine = [D.Check("inotify", "PASS", "ok")]
    got = D.across_nodes(1, 2, "n3", "7.0", tmp_path / "shared", lambda: mine, wait=0.3)
    assert not got.collected
    assert got.checks[-1].finding == (
        f"rank 1 cannot take part: rank 1 already arrived in {jobdir.resolve()} (another "
        "`ksi doctor` of this job step, or a leftover: remove that directory)")
    assert (jobdir / "1.arrived").read_text() == '{"node": "n2"}'


# --- issue 12: IPv6 off at boot is fine with nerdctl >= 2.3 only -----------------------------------
@pytest.mark.parametrize("printed,line", [
    ("nerdctl version 2.2.2", "FAIL  IPv6: disabled at boot (no /proc/net/tcp6), and nerdctl 2.2.2"),
    ("nerdctl version 2.3.1", "PASS  IPv6: disabled at boot; nerdctl 2.3.1 copes with that"),
])
def test_ipv6_disabled_is_a_failure_with_nerdctl_before_2_3(tmp_path, printed, line):
    root = materialize("ipv6_off", tmp_path)
    res = invoke(base_env(tmp_path, root, fake_tools(tmp_path / "bin", {"nerdctl": printed})))
    assert any(out.startswith(line) for out in res.stdout.splitlines()), res.stdout
