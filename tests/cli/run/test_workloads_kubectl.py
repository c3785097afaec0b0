"""Workload scripts through the real ``kubectl`` against the API double, which runs Pods and Jobs.

Every script of ``workloads/`` and scripts written the way the original KSI's examples are (create
a namespace and a Job, ``kubectl wait --for=condition=ready pod``, ``kubectl logs -f job/...``,
delete the namespace) run inside ``ksi run`` and must end with the exit code a real cluster gives.
What a container does is the test world's (``containers.json``, tests/fakeworld/README.md).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT


def _kubectl_reason() -> str | None:
    """Why the tests cannot run here (None when kubectl is present)."""
    if shutil.which("kubectl"):
        return None
    policy = subprocess.run(["apt-cache", "policy", "kubectl"], capture_output=True, text=True).stdout \
        if shutil.which("apt-cache") else ""
    installable = "Candidate:" in policy and "Candidate: (none)" not in policy
    if os.environ.get("CI") == "true" and installable:
        pytest.fail("kubectl is installable but missing: tests/slurm/install.sh should have installed it")
    return "kubectl is not installed (tests/slurm/install.sh installs it where apt has a candidate)"


pytestmark = pytest.mark.skipif(_kubectl_reason() is not None, reason=str(_kubectl_reason()))

WORKLOADS = ROOT / "workloads"
#: What the containers of the workloads do here (the real images are not available): sysbench
#: prints a report, the PyTorch training writes its result through the /app hostPath volume.
TABLE = {"unpullable": ["registry.invalid/nosuch:1.0"], "containers": [
    {"image": "severalnines/sysbench:latest",
     "run": ["sh", "-c", "echo 'sysbench 1.0.20'; echo '    events per second:  1234.56'"]},
    {"image": "pytorch/pytorch:2.3.1-cuda12.1-cudnn8-runtime",
     "run": ["sh", "-c", "mkdir -p /app/results && echo '{\"w\": 3.0, \"b\": 1.0}' > /app/results/pytorch.json"
                         " && echo 'epoch 100 loss 0.0001'"]}]}

#: script -> what its stdout must show (every script's exit code must be 0, as on a real cluster)
EXPECTED = {
    "api/api.sh": ['"gitVersion": "v1.33.1"', "-control-plane"],
    "hello/hello.sh": ["Hello from Kubernetes on hello-", "inside a Slurm job"],
    "job-yaml/run.sh": ["5\n4\n3\n2\n1\nliftoff"],
    "nginx/nginx.sh": ['deployment "web" successfully rolled out'],
    "pytorch/pytorch.sh": ["epoch 100 loss", 'result: {"w": 3.0, "b": 1.0}'],
    "spread/spread.sh": ["Succeeded", "spread: 1 pod(s) ran on 1 node(s)"],
    "sysbench/sysbench.sh": ["events per second:  1234.56"],
}


def _run(world, script: Path, *args: str, table: dict | None = None, timeout: float = 90):
    (world.fake_root / "containers.json").write_text(json.dumps(table or TABLE))
    return world.ksi("run", "--workdir", str(world.base / "work"), str(script), *args, timeout=timeout)


def test_every_workload_script_is_covered():
    scripts = {str(p.relative_to(WORKLOADS)) for p in WORKLOADS.glob("*/*.sh")}
    assert scripts == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_workload_script_runs_through_kubectl_to_a_real_clusters_exit_code(world, name):
    work = world.base / "work"
    # the PyTorch job runs /app/workloads/pytorch/train.py: the work directory is the repository's copy
    shutil.copytree(WORKLOADS, work / "workloads")
    res = _run(world, work / "workloads" / name)
    assert res.returncode == 0, res.stdout + res.stderr
    for fragment in EXPECTED[name]:
        assert fragment in res.stdout, res.stdout
    if name == "pytorch/pytorch.sh":
        assert json.loads((work / "results" / "pytorch.json").read_text()) == {"w": 3.0, "b": 1.0}


# The original KSI's examples, as its README and example-workloads/ write them: a namespace of
# their own, `kubectl create -f`, wait for the pod to be ready, follow the Job's log, delete.
KSI_STYLE = """#!/bin/bash
set -x
kubectl create --context "$K8S_CLUSTER_NAME" namespace example
kubectl create --context "$K8S_CLUSTER_NAME" -n example -f "$1"
kubectl wait -n example --context "$K8S_CLUSTER_NAME" --for=condition=ready pod --selector=job-name=hello --timeout=10m
kubectl logs -f --context "$K8S_CLUSTER_NAME" -n example job/hello
kubectl delete --context "$K8S_CLUSTER_NAME" namespace example
"""

KSI_README = """#!/bin/bash
kubectl create --context "$K8S_CLUSTER_NAME" namespace example
kubectl create --context "$K8S_CLUSTER_NAME" -n example -f - <<EOF
apiVersion: batch/v1
kind: Job
metadata:
  name: hello
spec:
  template:
    spec:
      securityContext:
        runAsUser: 0
      containers:
      - name: hello
        image: alpine
        command: ['echo', 'hello world']
        volumeMounts:
          - name: project-vol
            mountPath: /app
      restartPolicy: OnFailure
      volumes:
        - name: project-vol
          hostPath:
            path: /app
            type: Directory
EOF
kubectl wait --context "$K8S_CLUSTER_NAME" -n example --for=condition=complete --timeout=10h job/hello
kubectl logs --context "$K8S_CLUSTER_NAME" -n example job/hello
kubectl delete --context "$K8S_CLUSTER_NAME" namespace example
"""


def _script(world, name: str, text: str) -> Path:
    path = world.base / "work" / name
    path.write_text(text)
    return path


def test_ksi_style_script_waits_for_ready_follows_the_log_and_deletes_its_namespace(world):
    script = _script(world, "workload-yaml.sh", KSI_STYLE + "kubectl get ns example\n")
    res = _run(world, script, str(WORKLOADS / "job-yaml" / "job-hello-world.yaml"))
    # the last command: the namespace is gone, so `get ns example` fails like on a real cluster
    assert res.returncode == 1, res.stdout + res.stderr
    assert "pod/hello-" in res.stdout and "condition met" in res.stdout, res.stderr
    assert "hello world" in res.stdout
    assert 'namespace "example" deleted' in res.stdout
    assert 'namespaces "example" not found' in res.stderr


def test_ksi_readme_example_completes_with_restart_policy_on_failure(world):
    res = _run(world, _script(world, "readme.sh", KSI_README))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "job.batch/hello condition met" in res.stdout
    assert "hello world\n" in res.stdout


LIFECYCLE = r"""#!/bin/bash
# Checks of what a real cluster shows; each finding goes to a file in $1.
out=$1; mkdir -p "$out"
k() { kubectl --context "$K8S_CLUSTER_NAME" "$@"; }
# a Job whose container fails with exit 3, retried up to backoffLimit 1 (two pods)
k apply -f - <<'EOF'
apiVersion: batch/v1
kind: Job
metadata: {name: fails}
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox:1.36, command: [sh, -c, "echo about to fail; exit 3"]}]
EOF
k wait --for=condition=failed job/fails --timeout=60s > "$out/failed.wait" 2>&1; echo $? > "$out/failed.rc"
k get job fails -o jsonpath='{.status.failed}/{.status.conditions[?(@.type=="Failed")].reason}' > "$out/failed.status"
k get pods -l job-name=fails -o jsonpath='{range .items[*]}{.status.phase}:{.status.containerStatuses[0].state.terminated.exitCode}:{.status.containerStatuses[0].state.terminated.reason}{"\n"}{end}' > "$out/failed.pods"
k logs job/fails > "$out/failed.log" 2>&1
k wait --for=condition=complete job/fails --timeout=2s > /dev/null 2>"$out/complete.err"; echo $? > "$out/complete.rc"
# an image that cannot be pulled
k run nopull --restart=Never --image=registry.invalid/nosuch:1.0 -- echo hi
k wait --for=condition=ready pod/nopull --timeout=3s > /dev/null 2> "$out/nopull.wait"; echo $? > "$out/nopull.rc"
k get pod nopull -o jsonpath='{.status.phase}/{.status.containerStatuses[0].state.waiting.reason}' > "$out/nopull.state"
k get events --field-selector involvedObject.name=nopull -o jsonpath='{range .items[*]}{.reason}={.message}{"\n"}{end}' > "$out/nopull.events"
k logs nopull > /dev/null 2> "$out/nopull.logs"
# a pod no node fits
k run nowhere --restart=Never --image=busybox:1.36 --overrides='{"spec":{"nodeSelector":{"gpu":"yes"}}}' -- echo hi
sleep 1
k get pod nowhere -o jsonpath='{.status.phase}/{.status.conditions[0].reason}/{.status.conditions[0].message}' > "$out/nowhere.state"
k get events --field-selector involvedObject.name=nowhere,reason=FailedScheduling -o jsonpath='{.items[0].type}' > "$out/nowhere.event"
# logs -f follows a running container to its end
k run counter --restart=Never --image=busybox:1.36 -- sh -c 'for i in 1 2 3; do echo line $i; sleep 0.5; done'
k wait --for=condition=ready pod/counter --timeout=30s > /dev/null
k logs -f counter > "$out/follow.log"; echo $? > "$out/follow.rc"
k get pod counter -o jsonpath='{.status.phase}' > "$out/follow.phase"
k get pod counter -o jsonpath='{.spec.nodeName}' > "$out/counter.node"
k get events --field-selector involvedObject.name=counter -o jsonpath='{range .items[*]}{.reason} {end}' > "$out/counter.events"
# deleting a Job deletes its pods (background propagation)
k delete job fails > /dev/null
sleep 1
k get pods -l job-name=fails -o name > "$out/gc.pods"
exit 0
"""


def test_pods_and_jobs_live_and_die_like_on_a_real_cluster(world):
    out = world.base / "out"
    res = _run(world, _script(world, "lifecycle.sh", LIFECYCLE), str(out))
    assert res.returncode == 0, res.stdout + res.stderr
    seen = {p.name: p.read_text().strip() for p in out.iterdir()}
    # a failing Job: two pods (backoffLimit 1), each Failed with the container's exit code
    assert seen["failed.rc"] == "0", seen["failed.wait"]
    assert seen["failed.status"] == "2/BackoffLimitExceeded"
    assert seen["failed.pods"].splitlines() == ["Failed:3:Error"] * 2
    assert "about to fail" in seen["failed.log"]
    assert seen["complete.rc"] == "1" and "timed out waiting for the condition" in seen["complete.err"]
    # an unpullable image: Pending in ImagePullBackOff, with the kubelet's events; never ready
    assert seen["nopull.rc"] == "1" and "timed out" in seen["nopull.wait"]
    assert seen["nopull.state"] == "Pending/ImagePullBackOff"
    reasons = [line.split("=", 1)[0] for line in seen["nopull.events"].splitlines()]
    assert reasons[:2] == ["Scheduled", "Pulling"] and "BackOff" in reasons
    assert "Error: ErrImagePull" in seen["nopull.events"] and "Error: ImagePullBackOff" in seen["nopull.events"]
    assert 'Failed to pull image "registry.invalid/nosuch:1.0"' in seen["nopull.events"]
    assert 'is waiting to start: trying and failing to pull image' in seen["nopull.logs"]
    # unschedulable: says why
    assert seen["nowhere.state"].startswith("Pending/Unschedulable/0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.")
    assert seen["nowhere.event"] == "Warning"
    # logs -f
    assert seen["follow.rc"] == "0" and seen["follow.log"].splitlines() == ["line 1", "line 2", "line 3"]
    assert seen["follow.phase"] == "Succeeded" and seen["counter.node"].endswith("-control-plane")
    assert seen["counter.events"].split() == ["Scheduled", "Pulling", "Pulled", "Created", "Started"]
    assert seen["gc.pods"] == ""


def test_a_job_with_restart_policy_always_is_refused_like_the_api_server_does(world):
    script = _script(world, "bad.sh", """#!/bin/bash
kubectl apply -f - <<EOF
apiVersion: batch/v1
kind: Job
metadata: {name: bad}
spec:
  template:
    spec:
      restartPolicy: Always
      containers: [{name: c, image: busybox:1.36, command: [echo]}]
EOF
""")
    res = _run(world, script)
    assert res.returncode == 1
    assert ('The Job "bad" is invalid: spec.template.spec.restartPolicy: Unsupported value: "Always": '
            'supported values: "OnFailure", "Never"') in res.stderr
