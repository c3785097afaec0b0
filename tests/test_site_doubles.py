"""Real-site behaviour the doubles model (issue 12): a node booted with ``ipv6.disable=1`` and
nerdctl's release, hostnames where nerdctl wants an IP, multi-platform image archives."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import WORKLOADS

PROBE = str(WORKLOADS / "probe.sh")


def no_ipv6_proc(base: Path) -> Path:
    """A /proc/net as a node booted with ipv6.disable=1 has it: no tcp6, no udp6."""
    root = base / "proc-noipv6"
    (root / "net").mkdir(parents=True)
    for name in ("tcp", "udp"):
        shutil.copy(f"/proc/net/{name}", root / "net" / name)
    return root


@pytest.mark.parametrize("version,works", [("2.2.2", False), ("2.3.1", True)])
def test_without_ipv6_only_nerdctl_2_3_can_publish_the_api_server(world, version, works):
    env = {"KSI_FAKE_PROC_ROOT": str(no_ipv6_proc(world.base)), "KSI_FAKE_NERDCTL_VERSION": version}
    res = world.ksi("run", "-v", PROBE, str(world.base / "out"), env=env)
    if works:
        assert res.returncode == 0, res.stderr
    else:
        assert res.returncode == 4, res.stderr
        assert "open /proc/net/tcp6: no such file or directory" in res.stderr
        assert "✓ delete cluster" in res.stderr
