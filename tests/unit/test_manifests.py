"""Manifest workloads: what is a manifest, and every bad document named by file and index."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from ksi import constants as C
from ksi.errors import UsageError
from ksi.manifests import KINDS, is_manifest, load, parse_duration

JOB = """apiVersion: batch/v1
kind: Job
metadata: {name: hello}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox:1.36, command: [echo, hi]}]
"""


def test_what_is_a_manifest(tmp_path):
    assert is_manifest(Path("job.yaml")) and is_manifest(Path("x.YML")) and is_manifest(Path("x.json"))
    assert is_manifest(Path("-")) and is_manifest(tmp_path)
    assert not is_manifest(Path("run.sh")) and not is_manifest(Path("workload"))


def test_files_directories_and_stdin_in_order(tmp_path):
    (tmp_path / "a.yaml").write_text(JOB)
    d = tmp_path / "more"
    d.mkdir()
    (d / "2.yml").write_text("apiVersion: v1\nkind: Service\nmetadata: {name: web}\n---\n")
    (d / "1.json").write_text('{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}')
    (d / "notes.txt").write_text("not a manifest")
    stdin = io.StringIO("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: ksi-workload}\n")
    docs = load(tmp_path / "a.yaml", [str(d), "-"], stdin=stdin)
    assert [(x.kind, x.name) for x in docs] == [("Job", "hello"), ("Deployment", "web"), ("Service", "web"), ("ConfigMap", "cfg")]
    assert all(x.body["metadata"]["namespace"] == C.WORKLOAD_NAMESPACE for x in docs)
    assert docs[0].path("ns") == "/apis/batch/v1/namespaces/ns/jobs/hello"
    assert docs[2].path("ns") == "/api/v1/namespaces/ns/services/web"
    assert docs[1].where.endswith("1.json, document 1 (Deployment/web)")


@pytest.mark.parametrize("text,expected", [
    ("kind: [\n", "document 1: not valid YAML"),
    (JOB + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x\n", "document 2: not valid YAML"),
    (JOB + "---\n- a list\n", "document 2: not a Kubernetes object"),
    ("apiVersion: v1\nmetadata: {name: x}\n", "document 1: apiVersion and kind are required"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: x-}\n", "document 1 (ConfigMap): metadata.name is required"),
    (JOB + "---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n",
     "document 2 (Widget/w): unknown kind Widget of apiVersion example.com/v1"),
    ("apiVersion: batch/v2\nkind: Job\nmetadata: {name: j}\n", "unknown kind Job of apiVersion batch/v2"),
    ("apiVersion: v1\nkind: Namespace\nmetadata: {name: n}\n", "a Namespace is cluster-scoped"),
    (JOB.replace("{name: hello}", "{name: hello, namespace: default}"),
     "document 1 (Job/hello): targets namespace default; a manifest workload runs in ksi-workload"),
    (JOB + "---\n" + JOB, "document 2 (Job/hello): Job/hello is also defined by"),
    ("---\n", "no Kubernetes objects in"),
])
def test_a_bad_document_is_one_line_naming_file_and_document(tmp_path, text, expected):
    f = tmp_path / "job.yaml"
    f.write_text(text)
    with pytest.raises(UsageError) as e:
        load(f, [])
    assert expected in e.value.message
    assert str(f) in e.value.message
    assert "\n" not in e.value.one_line() and e.value.hint


def test_bad_sources(tmp_path):
    (tmp_path / "empty").mkdir()
    for workload, more, expected in [
        (tmp_path / "nope.yaml", [], "does not exist"),
        (tmp_path / "empty", [], "is a directory without manifests"),
        (Path("-"), ["-"], "more than once"),
        (tmp_path / "nope.yaml", ["run.sh"], "is not a manifest"),
    ]:
        with pytest.raises(UsageError, match=expected):
            load(workload, more, stdin=io.StringIO(JOB))
    with pytest.raises(UsageError, match="one node only"):
        load(Path("-"), [], stdin=io.StringIO(JOB), members=2)


def test_durations():
    assert parse_duration("90") == 90 and parse_duration("90s") == 90
    assert parse_duration("5m") == 300 and parse_duration("1h30m") == 5400 and parse_duration("1.5s") == 1.5
    for bad in ("", "5 minutes", "m", "5x", "-1s"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_the_kinds_are_the_api_servers_plurals():
    assert KINDS[("v1", "Endpoints")] == "endpoints" and KINDS[("networking.k8s.io/v1", "Ingress")] == "ingresses"
    assert KINDS[("networking.k8s.io/v1", "NetworkPolicy")] == "networkpolicies"
    assert KINDS[("v1", "PersistentVolumeClaim")] == "persistentvolumeclaims"
