"""Port claims and cluster liveness in-process: what keeps two runs on one node apart, and what
decides that a cluster is stale."""

from __future__ import annotations

import os
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from ksi import registry
from ksi.errors import UsageError
from ksi.ports import PortClaims, sweep_claims

LOW = 20100


def test_concurrent_runs_never_claim_the_same_port(tmp_path):
    """Ten runs picking from a range of 30 ports at once: no port twice.  (Before claims were
    made whole with link(2), a claim file was created empty and a concurrent claimer took it
    for a dead run's and claimed the port too.)  The range is outside the NodePort and
    ephemeral ranges, where other processes on this machine bind ports."""
    claims = [PortClaims(tmp_path) for _ in range(10)]
    picked: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(claims))

    def pick(c: PortClaims) -> None:
        barrier.wait()
        for _ in range(3):
            try:
                port = c.pick("tcp", "127.0.0.1", LOW, LOW + 29)
            except UsageError:  # another process on this machine holds one of the 30
                continue
            with lock:
                picked.append(port)

    threads = [threading.Thread(target=pick, args=(c,)) for c in claims]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(picked) >= 25 and len(set(picked)) == len(picked)
    with pytest.raises(UsageError, match="found no free TCP port"):
        PortClaims(tmp_path).pick("tcp", "127.0.0.1", LOW, LOW + 29, tries=50)
    for c in claims:
        c.release()
    assert not list((tmp_path / "ports").iterdir())


def test_a_dead_runs_claims_are_swept_and_can_be_taken(tmp_path):
    claims = PortClaims(tmp_path)
    claims.require(31500, "tcp", "127.0.0.1", "--port")
    dead = tmp_path / "ports" / "tcp-31501"
    dead.write_text("999999999")  # no such process
    assert sweep_claims(tmp_path) == ["tcp-31501"]
    assert (tmp_path / "ports" / "tcp-31500").exists()  # ours: alive
    dead.write_text("999999999")
    assert PortClaims(tmp_path).claim(31501, "tcp")  # taken over from the dead owner
    with pytest.raises(UsageError, match="port 31500 is already in use"):
        PortClaims(tmp_path).require(31500, "tcp", "127.0.0.1", "--port")


def record(**kw: object) -> registry.Record:
    base = registry.new_record("ksi-42-0-1", "42", "0", 1, Path("/r"))
    return replace(base, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("name, rec, state, expected", [
    # a standalone run: its own process says
    ("ksi-p1-abcdef", dict(job_id=None), None, "alive"),
    ("ksi-p1-abcdef", dict(job_id=None, pid=999999999, pid_start="1"), None, "stale"),
    ("ksi-p1-abcdef", None, None, "unknown"),
    # a job's member: a dead owner on this host, or Slurm
    ("ksi-42-0-1", dict(pid=999999999, pid_start="1"), "RUNNING", "stale"),
    ("ksi-42-0-1", dict(host="elsewhere"), "RUNNING", "alive"),
    ("ksi-42-0-1", dict(host="elsewhere"), "COMPLETED", "stale"),
    ("ksi-42-0-1", dict(host="elsewhere"), "GONE", "stale"),
    ("ksi-42-0-1", dict(host="elsewhere"), None, "unknown"),  # Slurm did not answer
    ("ksi-42-0-1", None, "RUNNING", "alive"),
    ("ksi-42-0-1", dict(kept=True, pid=999999999), "GONE", "kept"),
    ("kind-of-foreign", None, None, "unknown"),
])
def test_liveness(name, rec, state, expected):
    rec_value = record(**rec) if rec is not None else None
    assert registry.liveness(name, rec_value, lambda job: state) == expected


def test_our_own_record_is_alive(tmp_path):
    assert registry.owner_alive(record()) is True
    assert registry.owner_alive(record(pid=os.getpid(), pid_start="0")) is False
