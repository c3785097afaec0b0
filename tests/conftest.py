"""Fixtures shared by the process-level tests: a fake world (doubles of kind, nerdctl and liqoctl
on PATH, a private state root) and a way to run the real ``ksi`` entry point inside it.

After every test that uses ``world``, the fixture asserts that nothing was left behind: no
container record, no container daemon, no run directory, cluster record, port claim, lock or
credential file -- the promise ``ksi run`` makes on every way out.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOUBLES = ROOT / "tests" / "fakeworld" / "bin"
WORKLOADS = ROOT / "tests" / "workloads"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purposes
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@dataclass
class World:
    base: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def fake_root(self) -> Path:
        return self.base / "fake"

    @property
    def shared(self) -> Path:
        return self.base / "shared"

    @property
    def runtime(self) -> Path:
        return self.base / "xdg" / "ksi"

    def ksi(self, *args: str, cwd: Path | None = None, timeout: float = 120,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ksi", *args], cwd=cwd or self.base / "work", text=True,
                              capture_output=True, timeout=timeout,
                              env={**self.env, **(env or {})})

    def popen(self, *args: str, cwd: Path | None = None,
              env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(["ksi", *args], cwd=cwd or self.base / "work", text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={**self.env, **(env or {})}, start_new_session=True)

    def containers(self) -> list[dict]:
        found = []
        for path in self.fake_root.glob("hosts/*/*/containers/*.json"):
            try:
                found.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                pass
        return found

    def live_daemons(self) -> list[int]:
        pids = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                environ = (proc / "environ").read_bytes()
            except OSError:
                continue
            ours = str(self.fake_root).encode() in environ or str(self.base) in cmdline
            # the doubles' daemons: a node container (the API server), a unit's supervisor
            if ("-m tests.fakeworld.kubeapi " in cmdline or "ksi.guardian" in cmdline
                    or "-m tests.fakeworld.systemd_run --supervise" in cmdline) and ours:
                if alive(int(proc.name)):
                    pids.append(int(proc.name))
        return pids

    def leftovers(self) -> list[str]:
        found = [f"container {c.get('name')}" for c in self.containers()]
        # a guardian stopped at teardown may need a moment to exit
        deadline = time.monotonic() + 3
        while self.live_daemons() and time.monotonic() < deadline:
            time.sleep(0.1)
        found += [f"daemon pid {p}" for p in self.live_daemons()]
        for runtime in (self.runtime, *self.base.glob("xdg/*/ksi")):  # per-node ones under Slurm
            for sub in ("runs", "clusters", "ports"):
                d = runtime / sub
                if d.is_dir():
                    found += [f"{d.relative_to(self.base)}/{e.name}" for e in d.iterdir()]
        for pattern in ("jobs/*/secrets/*", "jobs/*/leader.lock"):
            found += [str(p.relative_to(self.shared)) for p in self.shared.glob(pattern)]
        return found

    def kill_everything(self) -> None:
        for pid in self.live_daemons():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def free_port(proto: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, proto) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def world(tmp_path: Path):
    """A private fake world; fails the test if ksi left anything behind."""
    base = tmp_path
    for sub in ("fake", "shared", "xdg", "work", "home"):
        (base / sub).mkdir(mode=0o700)
    # the user's D-Bus session bus (ksi run's fast checks look for it; every node sees this one)
    bus = socket.socket(socket.AF_UNIX)
    bus.bind(str(base / "bus"))
    bus.close()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLURM_", "KSI_", "K8S_")) and k != "KUBECONFIG"}
    env.update({
        "PATH": f"{DOUBLES}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}"
                f"{env.get('PATH', os.defpath)}",
        "KSI_FAKE_ROOT": str(base / "fake"),
        "KSI_SHARED_DIR": str(base / "shared"),
        "XDG_RUNTIME_DIR": str(base / "xdg"),
        "HOME": str(base / "home"),
        "DBUS_SESSION_BUS_ADDRESS": f"unix:path={base / 'bus'}",
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    w = World(base=base, env=env)
    yield w
    left = w.leftovers()
    w.kill_everything()
    assert not left, f"ksi left things behind: {left}"


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
