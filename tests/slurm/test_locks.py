"""Shared-filesystem semantics on the real Slurm harness: locks that are only node-local, and
which credentials pass through the shared job directory (issue 9.5, issue 12 item 4)."""

from __future__ import annotations

import subprocess

from tests import flockshim
from tests.slurm.kit import NODES, ONNODE, PROBE


def test_node_local_flock_still_elects_one_leader_and_runs_the_workload_once(sw):
    """Lustre `localflock` / NFS `nolock`: flock excludes only processes of one node.  Played by
    an LD_PRELOAD shim that locks a per-hostname shadow file (every harness node has its own UTS
    name); the leader record's exclusive creation must still decide."""
    lib = flockshim.build(sw.base)
    shadow = sw.base / "flock-shadow"
    shadow.mkdir()
    out = sw.base / "out"
    argv = ["srun", "-N3", "--ntasks-per-node=1", "-w", NODES, ONNODE, "env",
            f"LD_PRELOAD={lib}", "KSI_TEST_FLOCK=nodelocal", f"KSI_TEST_FLOCK_DIR={shadow}",
            f"KSI_TEST_FLOCK_PREFIX={sw.base / 'shared'}",
            "ksi", "run", PROBE, str(out)]
    res = subprocess.run(argv, check=False, cwd=sw.base / "work", env=sw.env, text=True,
                         capture_output=True, timeout=180)
    assert res.returncode == 0, res.stderr
    assert res.stderr.count("✓ workload") == 1, res.stderr
    assert res.stderr.count("] leader of 3 member(s)") == 1, res.stderr
    # the shim really made the lock node-local: each follower took it, and said what it means
    assert res.stderr.count("do not exclude other nodes") == 2, res.stderr
    assert len(list(shadow.iterdir())) == 3  # one shadow directory per node
    assert (out / "nodes").read_text().count("node/") == 3


def _secrets_seen_by_workload(sw, *ksi_args: str) -> str:
    script = sw.base / "work" / "secrets.sh"
    out = sw.base / "secrets.txt"
    script.write_text(f'ls -A "$KSI_SHARED_DIR/jobs/$SLURM_JOB_ID.$SLURM_STEP_ID/secrets" '
                      f'> {out}\n')
    res = sw.srun("run", *ksi_args, str(script))
    assert res.returncode == 0, res.stderr
    return out.read_text()


def test_without_federation_no_follower_kubeconfig_is_written(sw):
    assert _secrets_seen_by_workload(sw, "--no-federation") == ""


def test_follower_kubeconfigs_are_gone_once_the_leader_has_peered(sw):
    assert _secrets_seen_by_workload(sw) == ""
