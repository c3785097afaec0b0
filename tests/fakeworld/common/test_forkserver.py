"""The bench's low-CPU mode (``KSI_FAKE_CHEAP=1``, forkserver.py) answers exactly as the normal
doubles do: same stdout, stderr and exit code for the same calls in two fresh worlds, signals
included, so the bench's numbers are for the same doubles the tests use."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.fakeworld.kind.core import SALUTATIONS

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
    (["systemd-run", "--user", "--unit", "eq-unit", "--collect", "--", "true"], None),
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


def _env(world, cheap: bool, fake: Path) -> dict[str, str]:
    env = {**world.env, "KSI_FAKE_ROOT": str(fake), "KIND_EXPERIMENTAL_PROVIDER": "nerdctl",
           "KUBECONFIG": str(fake / "kubeconfig")}
    if cheap:
        env["KSI_FAKE_CHEAP"] = "1"
    return env


def _stop_servers(fake: Path) -> None:
    for pidfile in (fake / "forkserver").glob("*.pid"):
        try:
            os.kill(int(pidfile.read_text()), signal.SIGTERM)
        except (OSError, ValueError):
            pass


def _session(world, cheap: bool) -> list[tuple[int, str, str]]:
    fake = world.base / ("fake-cheap" if cheap else "fake-normal")
    fake.mkdir()
    env = _env(world, cheap, fake)
    out = []
    try:
        for argv, stdin in CALLS:
            res = subprocess.run(argv, input=stdin, env=env, cwd=world.base / "work", text=True,
                                 capture_output=True, timeout=60, check=False)
            out.append((res.returncode, _normalise(res.stdout), _normalise(res.stderr)))
    finally:
        subprocess.run(["kind", "delete", "cluster", "--name", "eq"], env=env, capture_output=True,
                       timeout=60, check=False)
        _stop_servers(fake)
    return out


def test_cheap_mode_answers_as_the_normal_doubles(world) -> None:
    normal = _session(world, cheap=False)
    cheap = _session(world, cheap=True)
    assert (world.base / "fake-cheap" / "forkserver" / "cpu.jsonl").exists(), "the calls were not served"
    for (argv, _), want, got in zip(CALLS, normal, cheap):
        assert got == want, f"{' '.join(argv)}: cheap mode differs"
    assert normal[2][0] == 0 and normal[3][0] == 1 and normal[9][0] != 0  # the set covers both outcomes


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cheap_mode_forwards_signals_and_dies_of_them(world, sig: signal.Signals) -> None:
    """A hanging ``kind create`` stopped by a signal: the caller sees the same end in both modes,
    and the node container it had started is left behind in both (kind's behaviour)."""
    ends = []
    for cheap in (False, True):
        fake = world.base / f"fake-{int(cheap)}"
        fake.mkdir()
        env = {**_env(world, cheap, fake), "KSI_FAKE_HANG": "kind-create"}
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
