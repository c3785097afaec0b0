"""What keeps one user's cluster-admin credentials from another user on a shared cluster."""

from __future__ import annotations

import os
import stat

import pytest

from ksi import constants as C
from tests.conftest import WORKLOADS

PROBE = str(WORKLOADS / "probe.sh")


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
