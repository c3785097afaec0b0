"""The rendezvous in-process (like dask-jobqueue's fake world): N members of one job directory
in threads, electing one leader, waiting for each other, passing a failure on."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from ksi.errors import PhaseTimeout, RendezvousError
from ksi.rendezvous import (JobDir, MemberRecord, Outcome, ended, event_files, forget_member,
                            job_dirs)
from ksi.signals import Shutdown

N = 4


def members(shared: Path, n: int = N) -> list[JobDir]:
    return [JobDir(shared, "77.0", rank=r, members=n, warn=lambda m: None) for r in range(n)]


def record(rank: int, status: str = "joined") -> MemberRecord:
    return MemberRecord(rank=rank, node=f"node{rank + 1}", address=f"10.0.0.{rank + 1}",
                        cluster=f"ksi-77-0-{rank}", pid=1000 + rank, status=status)


def test_exactly_one_of_n_concurrent_members_leads(tmp_path):
    dirs = members(tmp_path)
    barrier = threading.Barrier(N)
    results: dict[int, bool] = {}

    def elect(job: JobDir) -> None:
        barrier.wait()
        results[job.rank] = job.elect(f"node{job.rank + 1}")

    threads = [threading.Thread(target=elect, args=(d,)) for d in dirs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == [False] * (N - 1) + [True]
    leader = next(d for d in dirs if d.is_leader)
    follower = next(d for d in dirs if not d.is_leader)
    assert follower.leader_alive()
    leader.cleanup()  # the leader's teardown frees the lock
    assert not follower.leader_alive()


def test_the_leader_waits_until_every_member_is_ready(tmp_path):
    dirs = members(tmp_path)
    for d in dirs[1:]:
        d.publish(record(d.rank, "cluster-ready"))
    dirs[0].publish(record(0, "joined"))
    late = threading.Timer(0.3, lambda: dirs[0].publish(record(0, "cluster-ready")))
    late.start()
    got = dirs[0].wait_all("cluster-ready", timeout=5, shutdown=Shutdown())
    assert sorted(got) == list(range(N))


def test_a_member_that_never_arrives_is_named_in_the_timeout(tmp_path):
    dirs = members(tmp_path)
    for d in dirs[:-1]:
        d.publish(record(d.rank, "cluster-ready"))
    with pytest.raises(PhaseTimeout, match=rf"rank\(s\) {N - 1} never arrived"):
        dirs[0].wait_all("cluster-ready", timeout=0.5, shutdown=Shutdown())


def test_a_failed_member_stops_the_leader_and_the_followers(tmp_path):
    dirs = members(tmp_path)
    failed = record(2, "failed")
    failed.phase, failed.error = "create cluster", "kind create cluster failed"
    dirs[2].publish(failed)
    with pytest.raises(RendezvousError, match="rank 2 on node3 failed in phase create cluster"):
        dirs[0].wait_all("cluster-ready", timeout=5, shutdown=Shutdown())
    assert dirs[0].elect("node1")
    with pytest.raises(RendezvousError, match="rank 2 on node3"):
        dirs[1].wait_outcome(shutdown=Shutdown())


def test_followers_take_the_leaders_outcome(tmp_path):
    dirs = members(tmp_path)
    assert dirs[0].elect("node1")
    dirs[0].publish_outcome(Outcome("finished", 3))
    assert dirs[1].wait_outcome(shutdown=Shutdown()).exit_code == 3
    assert ended(dirs[1].path) and job_dirs(tmp_path) == [dirs[1].path]


def test_a_dead_members_files_are_forgotten_but_its_events_stay(tmp_path):
    dirs = members(tmp_path)
    assert dirs[0].elect("node1")
    dirs[1].put_secret(1, "kubeconfig")
    dirs[1].events_path(1).write_text("{}\n")
    forget_member(dirs[1].path, 1, leader=False)
    forget_member(dirs[0].path, 0, leader=True)
    assert not dirs[1].secret_path(1).exists() and not dirs[0].lock_path.exists()
    assert event_files(dirs[0].path) == [dirs[0].path / "events" / "1.jsonl"]
