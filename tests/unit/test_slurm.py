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


# --- issue 12: the job's end, job states, the node's address ------------------------------------

def test_the_jobs_end_comes_from_slurm_job_end_time_without_asking_scontrol(monkeypatch):
    import ksi.slurm as slurm

    monkeypatch.setattr(slurm, "scontrol_fields", lambda *a, **k: pytest.fail("scontrol asked"))
    c = SlurmContext.from_env({**STEP, "SLURM_JOB_END_TIME": "1900000000"})
    assert slurm.job_end_time(c) == 1900000000.0
    assert SlurmContext.from_env({**STEP, "SLURM_JOB_END_TIME": "0"}).end_time is None
    with pytest.raises(UsageError, match="SLURM_JOB_END_TIME"):
        SlurmContext.from_env({**STEP, "SLURM_JOB_END_TIME": "soon"})


def test_scontrol_is_asked_for_times_in_the_format_ksi_parses(monkeypatch):
    from ksi.tools.scontrol import scontrol_env

    monkeypatch.setenv("SLURM_TIME_FORMAT", "relative")
    assert scontrol_env()["SLURM_TIME_FORMAT"] == "standard"


@pytest.mark.parametrize("state", ["STOPPED", "SUSPENDED", "RUNNING"])
def test_a_stopped_or_suspended_jobs_cluster_is_alive_for_the_reaper(state):
    from ksi.registry import liveness

    assert liveness("ksi-77-0-1", None, lambda job: state) == "alive"


def test_an_api_address_that_does_not_resolve_is_bad_input():
    from ksi.slurm import node_address

    with pytest.raises(UsageError, match="does not resolve"):
        node_address(SlurmContext.from_env({}), "no-such-node.invalid")


def test_an_api_address_not_on_this_node_is_bad_input():
    from ksi.slurm import node_address

    with pytest.raises(UsageError, match="not an address of this node"):
        node_address(SlurmContext.from_env({}), "192.0.2.7")


def test_loopback_is_fine_alone_but_never_advertised_to_other_members(monkeypatch):
    import ksi.slurm as slurm

    assert slurm.node_address(SlurmContext.from_env({}), "localhost") == "127.0.0.1"
    with pytest.raises(UsageError, match="non-loopback"):
        slurm.node_address(SlurmContext.from_env(STEP), "127.0.0.1")


def test_a_nodeaddr_name_mapped_to_debians_127_0_1_1_falls_back_to_slurms_route(monkeypatch):
    import ksi.slurm as slurm

    monkeypatch.setattr(slurm, "scontrol_fields", lambda *a, **k: {"NodeAddr": "node2"})
    monkeypatch.setattr(slurm, "_resolve", lambda host, what: ["127.0.1.1"])
    monkeypatch.setattr(slurm, "route_source", lambda peer: "10.200.0.12")
    assert slurm.node_address(SlurmContext.from_env(STEP)) == "10.200.0.12"
    monkeypatch.setattr(slurm, "route_source", lambda peer: None)
    with pytest.raises(UsageError, match="only to loopback"):
        slurm.node_address(SlurmContext.from_env(STEP))
