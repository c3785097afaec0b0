"""The bench's low-CPU mode (``KSI_FAKE_CHEAP=1``, forkserver.py) answers exactly as the normal
doubles do: same stdout, stderr and exit code for the same calls in two fresh worlds, signals
included, so the bench's numbers are for the same doubles the tests use.  Both clients: the
Python one with a per-host server it starts itself, and the C one with a server started for
it as the bench does (``KSI_FAKE_FORKSERVER``, ``KSI_FAKE_FORKCLIENT``)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import shutil
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakeworld.common.forkserver import build_client
from tests.fakeworld.kind.core import SALUTATIONS

ROOT = Path(__file__).resolve().parents[3]

CONFIG = """kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
- role: control-plane
"""
#: the calls compared: argv, stdin
CALLS: list[tuple[list[str], str | None]] = [
    (["nerdctl", "ps", "-a"], None),
    (["kind", "get", "clusters"], None),
    (["kind", "create", "cluster", "--name", "eq", "--config", "-"], CONFIG),
    (["kind", "create", "cluster", "--name", "eq2", "--config", "-"], "kind: Cluster\n"),  # refused
    (["kind", "get", "clusters"], None),
    (["kind", "get", "nodes", "--name", "eq"], None),
    (["nerdctl", "ps", "-a", "--format", "{{.Names}} {{.Image}} {{.Status}}"], None),
    (["nerdctl", "inspect", "--format", "{{.State.Status}}", "eq-control-plane"], None),
    (["nerdctl", "rm", "no-such"], None),
    (["nerdctl", "bogus"], None),
    (["liqoctl", "version", "--client"], None),
    (["liqoctl", "peer", "--bogus"], None),
    (["systemd-run", "--user", "--unit", "eq-unit", "--collect", "--same-dir", "--setenv=EQ=1", "--",
      "/bin/sh", "-c", 'echo "$PWD $EQ $PATH" > unit.txt'], None),
    (["kind", "delete", "cluster", "--name", "eq"], None),
    (["kind", "get", "clusters"], None),
    (["nerdctl", "ps", "-a"], None),
]


def _normalise(text: str) -> str:
    """What differs between any two runs of the normal doubles: times, random ids, kind's farewell."""
    text = re.sub(r'time="[^"]*"', 'time="T"', text)
    text = re.sub(r"invocation ID: [0-9a-f]{32}", "invocation ID: ID", text)
    for line in SALUTATIONS:
        text = text.replace(line, "SALUTATION")
    return text


@pytest.fixture(params=["python client", "C client"])
def cheap(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment that turns the cheap mode on, with either client."""
    if request.param == "python client":
        yield {"KSI_FAKE_CHEAP": "1"}
        return
    if shutil.which("gcc") is None:
        pytest.skip("no gcc to build forkclient.c")
    client = build_client(tmp_path / "forkclient")
    assert client is not None, "forkclient.c does not build"
    sock = tmp_path / "server.sock"
    server = subprocess.Popen([sys.executable, "-P", "-m", "tests.fakeworld.common.forkserver", str(sock)],
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not sock.exists():
            assert server.poll() is None and time.monotonic() < deadline, "the fork server did not start"
            time.sleep(0.05)
        yield {"KSI_FAKE_CHEAP": "1", "KSI_FAKE_FORKSERVER": str(sock), "KSI_FAKE_FORKCLIENT": str(client)}
    finally:
        server.terminate()
        server.wait(timeout=10)


def _env(world: Any, cheap: dict[str, str] | None, fake: Path) -> dict[str, str]:
    return {**world.env, "KSI_FAKE_ROOT": str(fake), "KIND_EXPERIMENTAL_PROVIDER": "nerdctl",
            "KUBECONFIG": str(fake / "kubeconfig"), **(cheap or {})}


def _stop_servers(fake: Path) -> None:
    for pidfile in (fake / "forkserver").glob("*.pid"):
        try:
            os.kill(int(pidfile.read_text()), signal.SIGTERM)
        except (OSError, ValueError):
            pass


def _session(world: Any, cheap: dict[str, str] | None) -> list[tuple[int, str, str]]:
    fake = world.base / ("fake-cheap" if cheap else "fake-normal")
    fake.mkdir()
    env = _env(world, cheap, fake)
    out = []
    try:
        for argv, stdin in CALLS:
            res = subprocess.run(argv, input=stdin, env=env, cwd=world.base / "work", text=True,
                                 capture_output=True, timeout=60, check=False)
            out.append((res.returncode, _normalise(res.stdout), _normalise(res.stderr)))
        bare = {k: v for k, v in env.items() if k != "KSI_FAKE_ROOT"}  # the doubles refuse to run
        res = subprocess.run(["nerdctl", "ps"], env=bare, cwd=world.base / "work", text=True,
                             capture_output=True, timeout=60, check=False)
        out.append((res.returncode, res.stdout, res.stderr))
        unit = world.base / "work" / "unit.txt"  # what the unit's command saw (its supervisor's doing)
        deadline = time.monotonic() + 10
        while not unit.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        out.append((0, unit.read_text() if unit.exists() else "the unit never ran", ""))
        unit.unlink(missing_ok=True)
    finally:
        subprocess.run(["kind", "delete", "cluster", "--name", "eq"], env=env, capture_output=True,
                       timeout=60, check=False)
        _stop_servers(fake)
    return out


def test_cheap_mode_answers_as_the_normal_doubles(world: Any, cheap: dict[str, str]) -> None:
    normal = _session(world, None)
    served = _session(world, cheap)
    assert (world.base / "fake-cheap" / "forkserver" / "cpu.jsonl").exists(), "the calls were not served"
    assert len(served) == len(normal) == len(CALLS) + 2
    extra = [(["nerdctl", "ps", "without KSI_FAKE_ROOT"], None), (["the unit's command"], None)]
    for (argv, _), want, got in zip([*CALLS, *extra], normal, served):
        assert got == want, f"{' '.join(argv)}: cheap mode differs"
    assert normal[2][0] == 0 and normal[3][0] == 1 and normal[9][0] != 0  # the set covers both outcomes
    assert normal[-2][0] != 0 and "KSI_FAKE_ROOT" in normal[-2][2], normal[-2]
    assert normal[-1][1].startswith(f"{world.base / 'work'} 1 /usr/local/sbin:"), normal[-1]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cheap_mode_forwards_signals_and_dies_of_them(world: Any, cheap: dict[str, str], sig: signal.Signals) -> None:
    """A hanging ``kind create`` stopped by a signal: the caller sees the same end in both modes,
    and the node container it had started is left behind in both (kind's behaviour)."""
    ends = []
    for mode in (None, cheap):
        fake = world.base / f"fake-{'cheap' if mode else 'normal'}"
        fake.mkdir()
        env = {**_env(world, mode, fake), "KSI_FAKE_HANG": "kind-create"}
        proc = subprocess.Popen(["kind", "create", "cluster", "--name", "hang"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            while not list(fake.glob("hosts/*/*/containers/hang-control-plane.json")):
                assert time.monotonic() < deadline, "kind create never reached its node container"
                time.sleep(0.05)
            time.sleep(0.3)
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=30)
            left = sorted(p.name for p in fake.glob("hosts/*/*/containers/*.json"))
            ends.append((proc.returncode, left, _normalise(err).splitlines()[-1:]))
        finally:
            proc.kill()
            subprocess.run(["kind", "delete", "cluster", "--name", "hang"], env=env,
                           capture_output=True, timeout=60, check=False)
            _stop_servers(fake)
    assert ends[0] == ends[1]
    assert ends[0][1] == ["hang-control-plane.json"]
