"""The ``slurm_cluster`` fixture: a real multi-node Slurm (tests/slurm/harness.py).

* Skipped with a reason when not root or the Slurm/munge packages are missing; when
  ``CI=true`` those are failures instead (CI must run the multi-node tests).
* One cluster per machine, shared by every pytest-xdist worker: bring-up runs under a
  file lock, each worker registers itself as a user, and the last user to leave tears the
  cluster down -- unless ``KSI_KEEP_SLURM=1`` or the cluster was started outside pytest
  (``python -m tests.slurm.harness up``), which is then left running.
* Tests using the fixture are marked ``slurm`` and ``xdist_group("slurm")`` automatically
  (``--dist loadgroup`` then runs them on one worker).

Knobs: ``KSI_SLURM_BASE_DIR`` (default /tmp/ksi-slurm-harness), ``KSI_SLURM_NODES`` (4),
``KSI_SLURM_KILL_WAIT`` (30), ``KSI_SLURM_PROCTRACK`` (auto: cgroup when a cgroup v1
freezer is mounted, else linuxproc; also cgroup|linuxproc), ``KSI_SLURM_UP_TIMEOUT`` (60 s).
A second instance beside the shared default one needs its own ``KSI_SLURM_BRIDGE`` (ksibr0),
``KSI_SLURM_SUBNET`` (10.200.0), ``KSI_SLURM_NETNS_PREFIX`` (none), ``KSI_SLURM_NODE_PREFIX``
(node), ``KSI_SLURM_CTLD_PORT`` (6817) and ``KSI_SLURM_SLURMD_PORT`` (6818) besides its base dir;
``KSI_SLURM_HOSTNAME_ADDRS=1`` writes ``NodeAddr=<node>-ib`` host names into slurm.conf.  E.g. the
multi-node tests with host-name NodeAddrs::

    KSI_SLURM_BASE_DIR=/tmp/ksi-slurm-hostnames KSI_SLURM_BRIDGE=ksihn0 KSI_SLURM_SUBNET=10.209.0 \
    KSI_SLURM_NETNS_PREFIX=hn- KSI_SLURM_NODE_PREFIX=hn KSI_SLURM_CTLD_PORT=6917 \
    KSI_SLURM_SLURMD_PORT=6918 KSI_SLURM_HOSTNAME_ADDRS=1 pytest tests/slurm/test_multinode.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.slurm.harness import (
    DEFAULT_BASE_DIR,
    HarnessError,
    SlurmCluster,
    missing_programs,
)

FIXTURE = "slurm_cluster"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def unavailable_reason() -> str | None:
    """Why the real Slurm cluster cannot run here, or None."""
    if os.geteuid() != 0:
        return "the real Slurm test cluster needs root (network namespaces, slurmd)"
    missing = missing_programs()
    if missing:
        return (f"Slurm test cluster: missing {', '.join(missing)} "
                "(install with tests/slurm/install.sh)")
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    # tryfirst: before xdist reads xdist_group marks (--dist loadgroup)
    for item in items:
        if FIXTURE in getattr(item, "fixturenames", ()):
            if item.get_closest_marker("slurm") is None:
                item.add_marker(pytest.mark.slurm)
            if item.get_closest_marker("xdist_group") is None:
                item.add_marker(pytest.mark.xdist_group("slurm"))


def _users_dir(cluster: SlurmCluster) -> Path:
    return cluster.base_dir.with_name(cluster.base_dir.name + ".users")


def _live_users(users: Path) -> list[int]:
    live = []
    for entry in users.glob("*"):
        try:
            pid = int(entry.name)
        except ValueError:
            continue
        if Path(f"/proc/{pid}").exists():
            live.append(pid)
        else:
            entry.unlink(missing_ok=True)   # a worker that died without teardown
    return live


@pytest.fixture(scope="session")
def slurm_cluster():
    reason = unavailable_reason()
    if reason:
        if in_ci():
            pytest.fail(f"{reason} -- CI=true, so this is an error, not a skip",
                        pytrace=False)
        pytest.skip(reason)

    cluster = SlurmCluster(
        os.environ.get("KSI_SLURM_BASE_DIR", DEFAULT_BASE_DIR),
        nodes=int(os.environ.get("KSI_SLURM_NODES", "4")),
        kill_wait=int(os.environ.get("KSI_SLURM_KILL_WAIT", "30")),
        proctrack=os.environ.get("KSI_SLURM_PROCTRACK", "auto"),
        bridge=os.environ.get("KSI_SLURM_BRIDGE", "ksibr0"),
        subnet=os.environ.get("KSI_SLURM_SUBNET", "10.200.0"),
        netns_prefix=os.environ.get("KSI_SLURM_NETNS_PREFIX", ""),
        node_prefix=os.environ.get("KSI_SLURM_NODE_PREFIX", "node"),
        ctld_port=int(os.environ.get("KSI_SLURM_CTLD_PORT", "6817")),
        slurmd_port=int(os.environ.get("KSI_SLURM_SLURMD_PORT", "6818")),
        hostname_addrs=os.environ.get("KSI_SLURM_HOSTNAME_ADDRS") == "1",
    )
    users = _users_dir(cluster)
    me = users / str(os.getpid())
    with cluster.lock:
        try:
            cluster.up(timeout=float(os.environ.get("KSI_SLURM_UP_TIMEOUT", "60")),
                       started_by="pytest")
        except HarnessError as exc:
            pytest.fail(str(exc), pytrace=False)
        users.mkdir(exist_ok=True)
        me.touch()
    try:
        yield cluster
    finally:
        with cluster.lock:
            me.unlink(missing_ok=True)
            others = [p for p in _live_users(users) if p != os.getpid()]
            keep = os.environ.get("KSI_KEEP_SLURM") == "1"
            if not others and not keep and cluster.started_by() in ("pytest", None):
                cluster.down()


@pytest.fixture
def sw(world, slurm_cluster):
    """A fake world whose ``ksi`` runs as Slurm job steps (tests/slurm/kit.py)."""
    from tests.slurm.kit import SlurmWorld

    s = SlurmWorld(world, slurm_cluster)
    yield s
    for job in s.jobs:  # never leave a job running for the next test
        subprocess.run(["scancel", job], env=s.env, capture_output=True, timeout=10, check=False)
        s.wait_gone(job)


FAULTS_DOC = _ROOT / "docs" / "faults.md"


@pytest.fixture(scope="session")
def fault_table():
    """Rows of the fault matrix; written to docs/faults.md when every case ran."""
    rows: list[dict] = []
    yield rows
    from tests.slurm import test_faults

    expected = {c.id for c in test_faults.CASES} | {"ten-standalone", "foreign-files"}
    missing = expected - {r["id"] for r in rows if r.get("left") == "nothing"}
    if rows and not missing:
        FAULTS_DOC.parent.mkdir(exist_ok=True)
        FAULTS_DOC.write_text(test_faults.render_table(rows))
    elif rows:
        sys.stderr.write(f"\n{FAULTS_DOC} not written: cases not run or failed: "
                         f"{', '.join(sorted(missing))}\n")
        for row in rows:  # what was measured, to update a row by hand from a partial run
            sys.stderr.write(f"  {row['id']}: exit {row['code']}, {row['seconds']:.1f} s "
                             f"(bound {row['bound']:.0f}; noticed {row.get('noticed', '-')}) "
                             f"{row.get('error', '')[:100]}\n")
