"""The Slurm context is read once from the environment, and rejects what ksi cannot do."""

from __future__ import annotations

import pytest

from ksi.errors import UsageError
from ksi.slurm import SlurmContext

STEP = {"SLURM_JOB_ID": "77", "SLURM_STEP_ID": "2", "SLURM_PROCID": "1", "SLURM_NODEID": "1",
        "SLURM_LOCALID": "0", "SLURM_STEP_NUM_TASKS": "3", "SLURM_STEP_NUM_NODES": "3",
        "SLURMD_NODENAME": "node2", "SLURM_STEP_NODELIST": "node[1-3]",
        "SLURM_LAUNCH_NODE_IPADDR": "10.200.0.1"}


def test_standalone_without_slurm():
    c = SlurmContext.from_env({})
    assert not c.in_slurm and c.rank == 0 and c.members == 1 and not c.multi_node


def test_step_task():
    c = SlurmContext.from_env(STEP)
    assert (c.job_id, c.step_id, c.rank, c.members, c.node_name) == ("77", "2", 1, 3, "node2")
    assert c.run_id == "77.2" and c.multi_node


def test_batch_script_is_one_member_named_after_the_job():
    c = SlurmContext.from_env({"SLURM_JOB_ID": "77", "SLURMD_NODENAME": "node1"})
    assert (c.step_id, c.rank, c.members) == ("batch", 0, 1)


@pytest.mark.parametrize("extra", [{"SLURM_STEP_NUM_TASKS": "6"}, {"SLURM_LOCALID": "1"}])
def test_several_tasks_per_node_are_refused_with_the_fix(extra):
    with pytest.raises(UsageError, match="one task per node") as err:
        SlurmContext.from_env({**STEP, **extra})
    assert "--ntasks-per-node=1" in err.value.one_line()


def test_garbage_numbers_name_the_variable():
    with pytest.raises(UsageError, match="SLURM_PROCID"):
        SlurmContext.from_env({**STEP, "SLURM_PROCID": "x"})
