"""``ksi run job.yaml``: manifests applied and followed, end to end against the API double.

The double runs the pods (tests/fakeworld/kubeapi/life.py): a container's command runs for real on the
host, an image listed in the world's ``containers.json`` as unpullable never pulls.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time

import pytest

from ksi import constants as C
from tests.conftest import ROOT, wait_for

HELLO = ROOT / "workloads" / "job-yaml" / "job-hello-world.yaml"


def job(name: str, script: str, backoff: int = 0, image: str = "busybox:1.36") -> str:
    return f"""apiVersion: batch/v1
kind: Job
metadata: {{name: {name}}}
spec:
  backoffLimit: {backoff}
  template:
    spec:
      restartPolicy: Never
      containers: [{{name: work, image: "{image}", command: [sh, -c, {json.dumps(script)}]}}]
"""


def write(world, name: str, text: str):
    path = world.base / "work" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_job_hello_world_example(world):
    res = world.ksi("run", str(HELLO))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("[pod/hello-") and lines[0].endswith("/hello] hello world")
    pod = lines[0].split("/")[1]
    err = res.stderr
    # one line per state change, in order
    order = [f"applied job/hello ({HELLO})", f"pod/{pod}: scheduled on node ksi-p", f"pod/{pod}: pulled busybox:1.36",
             f"pod/{pod}: running", f"pod/{pod}: succeeded (hello exit code 0)"]
    positions = [err.index(s) for s in order]
    assert positions == sorted(positions), err


def test_a_failed_job_exits_with_the_containers_code_naming_pod_and_container(world):
    path = write(world, "fail.yaml", job("fails", "echo working; exit 7"))
    res = world.ksi("run", str(path))
    assert res.returncode == 7, res.stderr
    assert "/work] working" in res.stdout
    line = next(x for x in res.stderr.splitlines() if "exited with code 7" in x)
    assert "job/fails failed (BackoffLimitExceeded): pod fails-" in line and "container work" in line


def test_several_sources_and_every_job_must_succeed(world):
    d = world.base / "work" / "more"
    write(world, "more/b.yml", job("second", "echo two"))
    write(world, "more/c.json", json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"},
                                            "data": {"k": "v"}}))
    first = write(world, "a.yaml", job("first", "sleep 1; echo one; exit 3"))
    proc = subprocess.run(["ksi", "run", str(first), str(d), "-"], input=job("third", "echo three"),
                          capture_output=True, text=True, cwd=world.base / "work", env=world.env, timeout=120)
    assert proc.returncode == 3, proc.stderr
    for name, word in (("first", "one"), ("second", "two"), ("third", "three")):
        assert f"/work] {word}" in proc.stdout and f"[pod/{name}-" in proc.stdout
    assert "applied configmap/cfg" in proc.stderr and "job/first failed" in proc.stderr


def test_a_bare_pod_runs_until_it_terminates(world):
    path = write(world, "pod.yaml", """apiVersion: v1
kind: Pod
metadata: {name: once}
spec:
  restartPolicy: Never
  containers:
    - {name: a, image: busybox:1.36, command: [sh, -c, "echo from a"]}
    - {name: b, image: busybox:1.36, command: [sh, -c, "sleep 1; echo from b; exit 4"]}
""")
    res = world.ksi("run", str(path))
    assert res.returncode == 4, res.stderr
    assert "[pod/once/a] from a" in res.stdout and "[pod/once/b] from b" in res.stdout
    assert "pod/once failed: pod once container b exited with code 4" in res.stderr


def test_deployments_and_services_run_for_the_given_duration(world):
    path = write(world, "web.yaml", """apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: nginx, image: "nginx:1.27"}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80}]
""")
    t0 = time.monotonic()
    res = world.ksi("run", "--for", "3s", str(path))
    assert res.returncode == 0, res.stderr
    assert "running until Ctrl-C or 3s (--for)" in res.stderr and "ran for 3s (--for)" in res.stderr
    assert len(re.findall(r"pod/web-[a-z0-9]+-[a-z0-9]+: running", res.stderr)) == 2  # both replicas
    assert time.monotonic() - t0 >= 3


def test_ctrl_c_stops_a_long_running_manifest_and_tears_down(world):
    path = write(world, "web.yaml", """apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: nginx, image: "nginx:1.27"}]
""")
    proc = world.popen("run", str(path))
    seen = []

    def running() -> bool:
        line = proc.stderr.readline()
        seen.append(line)
        return "pod/web-" in line and ": running" in line
    wait_for(running, timeout=60, what="the deployment's pod running")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, "".join(seen) + err
    assert "delete cluster" in err


@pytest.mark.parametrize("doc,reason", [
    (job("nopull", "echo hi", image="registry.invalid/nosuch:1.0"),
     "container work cannot start: ImagePullBackOff: Back-off pulling image \"registry.invalid/nosuch:1.0\""),
    (job("nowhere", "echo hi").replace("restartPolicy: Never", "restartPolicy: Never\n      nodeSelector: {gpu: 'yes'}"),
     "cannot be scheduled: 0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector"),
])
def test_a_pod_that_can_never_start_is_reported_with_its_reason(world, doc, reason):
    (world.fake_root / "containers.json").write_text(json.dumps({"unpullable": ["registry.invalid/nosuch:1.0"]}))
    res = world.ksi("run", str(write(world, "never.yaml", doc)))
    assert res.returncode == C.EXIT_CANNOT_RUN, res.stderr
    error = [x for x in res.stderr.splitlines() if x.startswith("ERROR:")]
    assert len(error) == 1 and reason in error[0] and "phase workload" in error[0]


@pytest.mark.parametrize("text,message", [
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nkind: [\n", "bad.yaml, document 2: not valid YAML"),
    ("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n", "bad.yaml, document 1 (Widget/w): unknown kind Widget"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: kube-system}\n",
     "bad.yaml, document 1 (ConfigMap/a): targets namespace kube-system"),
])
def test_bad_manifests_are_one_line_and_create_nothing(world, text, message):
    res = world.ksi("run", str(write(world, "bad.yaml", text)))
    assert res.returncode == C.EXIT_KSI_FAILED
    error = [x for x in res.stderr.splitlines() if x.startswith("ERROR: ")]
    assert len(error) == 1 and message in error[0], res.stderr
    assert not world.containers() and "create cluster" not in res.stderr


def test_a_document_the_api_server_refuses_creates_nothing(world):
    bad = job("bad", "echo hi").replace("restartPolicy: Never", "restartPolicy: Always")
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: first}\n---\n" + bad
    res = world.ksi("run", "--keep", str(write(world, "refused.yaml", text)))
    try:
        assert res.returncode == C.EXIT_KSI_FAILED, res.stderr
        assert ('refused.yaml, document 2 (Job/bad): the API server refused it: Job.batch "bad" is invalid: '
                'spec.template.spec.restartPolicy: Unsupported value: "Always"') in res.stderr
        state = json.loads(next(world.fake_root.glob("hosts/*/*/clusters/*/state.json")).read_text())
        assert not [o for o in state.get("configmaps", []) if o["metadata"]["name"] == "first"]
    finally:
        name = next(c["labels"]["io.x-k8s.kind.cluster"] for c in world.containers())
        assert world.ksi("delete", name).returncode == 0
