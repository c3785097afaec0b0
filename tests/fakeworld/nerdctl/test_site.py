"""Real-site behaviour the doubles model (issue 12): a node booted with ``ipv6.disable=1`` and
nerdctl's release, hostnames where nerdctl wants an IP, multi-platform image archives."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ksi import constants as C
from tests.conftest import WORKLOADS, World

PROBE = str(WORKLOADS / "probe.sh")


def no_ipv6_proc(base: Path) -> Path:
    """A /proc/net as a node booted with ipv6.disable=1 has it: no tcp6, no udp6."""
    root = base / "proc-noipv6"
    (root / "net").mkdir(parents=True)
    for name in ("tcp", "udp"):
        shutil.copy(f"/proc/net/{name}", root / "net" / name)
    return root


@pytest.mark.parametrize("version,works", [("2.2.2", False), ("2.3.1", True)])
def test_without_ipv6_only_nerdctl_2_3_can_publish_the_api_server(world: World, version: str, works: bool) -> None:
    env = {"KSI_FAKE_PROC_ROOT": str(no_ipv6_proc(world.base)), "KSI_FAKE_NERDCTL_VERSION": version}
    res = world.ksi("run", "-v", PROBE, str(world.base / "out"), env=env)
    if works:
        assert res.returncode == 0, res.stderr
    else:
        assert res.returncode == C.EXIT_KSI_FAILED, res.stderr  # bring-up failed
        assert "open /proc/net/tcp6: no such file or directory" in res.stderr
        assert "✓ delete cluster" in res.stderr


def test_an_archive_from_images_save_loads_into_kind_even_for_a_multi_platform_image(world: World) -> None:
    # `kind load image-archive` imports with `ctr images import --all-platforms`: an archive that
    # keeps the multi-platform index but only this platform's blobs is refused
    res = world.ksi("images", "save", "busybox:1.36")
    assert res.returncode == 0, res.stderr
    archive = world.shared / "images" / "busybox_1.36.tar"
    res = world.ksi("run", "--load-image", str(archive), PROBE, str(world.base / "out"))
    assert res.returncode == 0, res.stderr
    assert "✓ load images" in res.stderr


def test_the_nerdctl_double_saves_like_containerds_exporter(world: World) -> None:
    import subprocess
    import tarfile

    def nerdctl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["nerdctl", *args], env=world.env, text=True, capture_output=True,
                              check=False)

    assert nerdctl("pull", "busybox:1.36").returncode == 0
    part = world.base / "part.tar"
    assert nerdctl("save", "-o", str(part), "busybox:1.36").returncode == 0
    with tarfile.open(part) as tar:
        names = set(tar.getnames())
    assert {"oci-layout", "index.json", "manifest.json"} <= names
    # every platform's content is needed for --all-platforms, which a plain pull did not fetch
    res = nerdctl("save", "--all-platforms", "-o", str(world.base / "all.tar"), "busybox:1.36")
    assert res.returncode == 1 and "content digest sha256:" in res.stderr and "not found" in res.stderr
    res = subprocess.run(["kind", "load", "image-archive", str(part), "--name", "nope"],
                         env={**world.env, "KIND_EXPERIMENTAL_PROVIDER": "nerdctl"}, text=True,
                         capture_output=True, check=False)
    assert res.returncode == 1  # no such cluster; the incomplete archive is tested above
