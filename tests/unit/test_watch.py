"""The watcher and the cheap waits (issue 14), in-process: members of one job directory."""

from __future__ import annotations

import threading
import time

import pytest

from ksi.errors import RendezvousError
from ksi.rendezvous import JobDir, MemberRecord, Outcome
from ksi.signals import Shutdown
from ksi.watch import LockProbe, Watcher


def members(shared, n=3):
    return [JobDir(shared, "9.0", rank=r, members=n, warn=lambda m: None) for r in range(n)]


def record(rank, status="joined"):
    return MemberRecord(rank=rank, node=f"node{rank + 1}", address="10.0.0.1",
                        cluster=f"c{rank}", pid=1, status=status)


def test_the_probe_sees_the_leaders_lock_held_then_free(tmp_path):
    leader, follower, _ = members(tmp_path)
    assert leader.elect("node1")
    probe = LockProbe(follower.lock_path, follower)
    assert probe.held() and probe.held()
    leader.release_leadership()  # what the kernel does when the leader's process dies
    assert not probe.held()
    probe.close()


def test_a_follower_watcher_stops_its_work_when_the_leader_dies(tmp_path):
    leader, follower, _ = members(tmp_path)
    assert leader.elect("node1")
    shutdown = Shutdown()
    watcher = Watcher(follower, shutdown, every=0.05).start()
    time.sleep(0.2)
    assert not shutdown.is_set()
    leader.release_leadership()
    assert shutdown.wait(2.0)
    watcher.stop()
    with pytest.raises(RendezvousError, match="the leader's process is gone"):
        shutdown.check()


def test_the_leaders_watcher_stops_it_when_a_member_fails_during_bring_up(tmp_path):
    leader, follower, _ = members(tmp_path)
    assert leader.elect("node1")
    shutdown = Shutdown()
    watcher = Watcher(leader, shutdown, every=0.05).start()
    failed = record(1, "failed")
    failed.phase, failed.error = "create cluster", "kind create cluster failed"
    follower.publish(failed)
    assert shutdown.wait(2.0)
    watcher.stop()
    with pytest.raises(RendezvousError, match="rank 1 on node2 failed in phase create cluster"):
        shutdown.check()


def test_a_waiting_follower_learns_of_a_failed_member_without_the_leader(tmp_path):
    leader, follower, other = members(tmp_path)
    assert leader.elect("node1")
    failed = record(2, "failed")
    failed.phase, failed.error = "install Liqo", "boom"
    other.publish(failed)
    with pytest.raises(RendezvousError, match="rank 2 on node3"):
        follower.wait_outcome(shutdown=Shutdown(), leader_check_every=0.05)


def test_a_member_lost_once_the_workload_runs_does_not_stop_the_others(tmp_path):
    leader, follower, other = members(tmp_path)
    assert leader.elect("node1")
    leader.publish(record(0, "federated"))
    other.publish(record(2, "failed"))
    threading.Timer(0.3, lambda: leader.publish_outcome(Outcome("finished", 0))).start()
    assert follower.wait_outcome(shutdown=Shutdown(), leader_check_every=0.05).exit_code == 0
