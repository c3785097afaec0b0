"""The same scenarios against the real toolchain (opt-in: ``pytest -m e2e``).

Needs a host prepared as in setup/README.md: rootless containerd for this user, ``nerdctl``,
``kind``, ``kubectl`` (and ``liqoctl`` plus a Slurm allocation of three nodes for the multi-node
case), and the images reachable (or in the cache, ``ksi images save``).  Everywhere else each
test skips and says which prerequisite is missing.  Nothing here uses the doubles.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DOUBLES = ROOT / "tests" / "fakeworld" / "bin"
PROBE = ROOT / "tests" / "workloads" / "probe.sh"


def real_tool(name: str) -> str | None:
    path = shutil.which(name)
    if path is None or Path(path).resolve().parent == DOUBLES.resolve():
        return None
    return path


def missing(*tools: str) -> str | None:
    absent = [t for t in tools if real_tool(t) is None]
    if absent:
        return f"the real {', '.join(absent)} not on PATH (see setup/README.md)"
    xdg = os.environ.get("XDG_RUNTIME_DIR", "")
    if not (Path(xdg) / "containerd-rootless").exists():
        return "no rootless containerd for this user ($XDG_RUNTIME_DIR/containerd-rootless)"
    return None


def ksi(*args: str, cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KSI_FAKE")}
    return subprocess.run(["ksi", *args], cwd=cwd, env=env, text=True, capture_output=True,
                          timeout=timeout, check=False)


def no_ksi_clusters() -> bool:
    out = subprocess.run(["kind", "get", "clusters"], text=True, capture_output=True,
                         env={**os.environ, "KIND_EXPERIMENTAL_PROVIDER": "nerdctl"},
                         check=False).stdout
    return not [n for n in out.split() if n.startswith("ksi-p")]


def test_hello_on_one_node(tmp_path):
    reason = missing("nerdctl", "kind", "kubectl")
    if reason:
        pytest.skip(reason)
    res = ksi("run", str(ROOT / "workloads" / "hello" / "hello.sh"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "Hello from Kubernetes" in res.stdout
    assert no_ksi_clusters()


def test_probe_on_one_node_verifies_tls_and_token(tmp_path):
    reason = missing("nerdctl", "kind", "kubectl")
    if reason:
        pytest.skip(reason)
    out = tmp_path / "out"
    res = ksi("run", str(PROBE), str(out), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert (out / "curl.rc").read_text().strip() == "0"
    assert (out / "anonymous.code").read_text().strip() in ("401", "403")


def test_spread_over_three_nodes_of_an_allocation(tmp_path):
    reason = missing("nerdctl", "kind", "kubectl", "liqoctl")
    if reason:
        pytest.skip(reason)
    if int(os.environ.get("SLURM_NNODES", "0") or 0) < 3:
        pytest.skip("needs a Slurm allocation of at least three nodes (salloc -N3)")
    res = subprocess.run(["srun", "-N3", "--ntasks-per-node=1", "ksi", "run",
                          str(ROOT / "workloads" / "spread" / "spread.sh")], cwd=tmp_path,
                         text=True, capture_output=True, timeout=1800, check=False)
    assert res.returncode == 0, res.stderr
    assert res.stderr.count("✓ delete cluster") == 3
