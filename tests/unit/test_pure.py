"""Pure helpers: what a user reads in an error, and what a tool gets in its environment."""

from __future__ import annotations

import json

from ksi import constants as C

from ksi.environment import with_no_proxy
from ksi.errors import CommandError
from ksi.images import archive_name
from ksi.rendezvous import mark_dead

KIND_FAILURE = """Creating cluster "x" ...
 ✗ Ensuring node image (kindest/node:v1.33.1) 🖼
ERROR: failed to create cluster: failed to pull image "kindest/node:v1.33.1": command "nerdctl pull kindest/node:v1.33.1" failed with error: exit status 1
Command Output: time="2026-01-01T00:00:00Z" level=fatal msg="failed to resolve reference"
"""


def test_a_command_error_names_the_subcommand_and_kinds_own_error_line():
    err = CommandError(["/usr/bin/kind", "create", "cluster", "--name", "x", "--config", "c.yaml"],
                       1, "", KIND_FAILURE)
    assert err.message == ("`kind create cluster` failed with exit code 1: ERROR: failed to "
                           "create cluster: failed to pull image \"kindest/node:v1.33.1\": command "
                           "\"nerdctl pull kindest/node:v1.33.1\" failed with error: exit status 1")
    assert "kind create cluster --name x --config c.yaml" in (err.detail or "")


def test_a_command_error_without_an_error_line_shows_the_last_line():
    err = CommandError(["liqoctl", "peer", "--timeout", "5s"], 1, "", "INFO starting\nboom\n")
    assert err.message == "`liqoctl peer` failed with exit code 1: boom"


def test_a_timed_out_command_is_ksi_run_exit_124():
    err = CommandError(["kind", "create", "cluster"], -15, "", "", timed_out=True)
    assert err.run_code == C.EXIT_TIMEOUT == 124 and err.cause == "time"
    assert err.exit_code == C.CMD_TIMEOUT and err.message == "`kind create cluster` did not finish in time"


def test_no_proxy_is_extended_only_when_a_proxy_is_set():
    assert with_no_proxy({"PATH": "/bin"}, ["10.0.0.1"]) == {"PATH": "/bin"}
    env = with_no_proxy({"https_proxy": "http://p:3128", "no_proxy": "a.org"},
                        ["10.0.0.1", "100.64.0.0/16", "a.org"])
    assert env["NO_PROXY"] == env["no_proxy"] == "a.org,localhost,127.0.0.1,10.0.0.1,100.64.0.0/16"


def test_archive_names_drop_the_digest_and_are_safe_file_names():
    assert archive_name("kindest/node:v1.33.1@sha256:" + "a" * 64) == "kindest_node_v1.33.1.tar"
    assert archive_name("reg.example:5000/a/b:1") == "reg.example_5000_a_b_1.tar"


def test_a_guardian_marks_a_dead_leader_failed_and_ends_the_run(tmp_path):
    members = tmp_path / "members"
    members.mkdir()
    (members / "0.json").write_text(json.dumps({"rank": 0, "node": "node1", "status": "joined"}))
    mark_dead(tmp_path, 0, leader=True, why="was killed on node1")
    record = json.loads((members / "0.json").read_text())
    assert record["status"] == "failed" and record["error"] == "was killed on node1"
    outcome = json.loads((tmp_path / "outcome.json").read_text())
    assert outcome == {"status": "failed", "exit_code": C.EXIT_KSI_FAILED,
                       "error": "the leader (rank 0 on node1) was killed on node1",
                       "whose": "ksi", "cause": "member"}


def test_a_member_that_finished_is_not_marked_dead(tmp_path):
    (tmp_path / "members").mkdir()
    path = tmp_path / "members" / "1.json"
    path.write_text(json.dumps({"rank": 1, "node": "n", "status": "done"}))
    mark_dead(tmp_path, 1, leader=False, why="x")
    assert json.loads(path.read_text())["status"] == "done"
    assert not (tmp_path / "outcome.json").exists()


def test_a_guardian_tells_the_others_before_it_deletes_the_cluster(tmp_path, monkeypatch):
    """The other members stop at once, not a `kind delete` later (seconds with real kind)."""
    from ksi import cluster, guardian, registry

    (tmp_path / "members").mkdir()
    (tmp_path / "members" / "2.json").write_text(json.dumps({"rank": 2, "node": "n3", "status": "joined"}))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    record = registry.Record(name="ksi-1-0-2", host="n3", pid=1, pid_start="x", job_id="1",
                             step_id="0", rank=2, created=0.0, run_dir=str(run_dir),
                             job_dir=str(tmp_path))
    seen = []
    monkeypatch.setattr(registry, "load", lambda name: record)
    monkeypatch.setattr(registry, "owner_alive", lambda r: False)
    monkeypatch.setattr(guardian, "end_workload", lambda name: 0)
    monkeypatch.setattr(cluster, "teardown", lambda *a, **k: seen.append(
        json.loads((tmp_path / "members" / "2.json").read_text())["status"]))
    assert guardian.watch("ksi-1-0-2") == 0
    assert seen == ["failed"] and (tmp_path / "failed.json").exists()
