"""What keeps one user's cluster-admin credentials from another user on a shared cluster."""

from __future__ import annotations

import os
import shutil
import stat
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, WORKLOADS

PROBE = str(WORKLOADS / "probe.sh")


def test_a_group_writable_shared_dir_is_refused_before_anything_is_created(world):
    shared = world.base / "open"
    shared.mkdir(mode=0o775)
    shared.chmod(0o775)
    res = world.ksi("run", "--shared-dir", str(shared), PROBE, str(world.base / "out"))
    assert res.returncode == 2
    assert res.stderr.strip() == (
        f"ERROR: the shared directory (--shared-dir) {shared} is writable by other users "
        f"(run `chmod go-w {shared}` or choose another location)")
    assert not world.containers() and not (world.base / "out").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a directory to another user")
def test_a_shared_dir_of_another_user_is_refused(world):
    shared = world.base / "theirs"
    shared.mkdir(mode=0o700)
    os.chown(shared, 65534, 65534)
    res = world.ksi("run", "--shared-dir", str(shared), PROBE, str(world.base / "out"))
    assert res.returncode == 2
    assert "belongs to another user (uid 65534)" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_a_symlink_planted_inside_the_shared_dir_is_not_followed(world):
    elsewhere = world.base / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (world.shared / "jobs").symlink_to(elsewhere)
    res = world.ksi("run", PROBE, str(world.base / "out"))
    assert res.returncode == 2
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
    shim.write_text(f'#!/bin/sh\nsleep 0.3\nexec {ROOT}/tests/doubles/bin/systemd-run "$@"\n')
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
