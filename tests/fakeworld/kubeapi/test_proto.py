"""tests/fakeworld/kubeapi/proto.py against protobuf bodies the real kubectl sends.

The oracle: for a typed ``kubectl create ...`` command, the object it POSTs as
``application/vnd.kubernetes.protobuf`` is the very object ``--dry-run=client -o json`` prints,
so ``decode(body)`` must equal that JSON exactly. The bodies are captured live from a tiny plain
HTTP server that answers just enough discovery for kubectl to POST (and GETs of ``objects``, for
``create job --from`` and ``expose``). ``kubectl run`` and ``kubectl expose`` POST JSON; the
tests pin that too. Hand-built bodies cover strictness and what kubectl never sends.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.fakeworld.kubeapi import proto as kubeproto

KUBECTL = shutil.which("kubectl")

PROTOBUF = "application/vnd.kubernetes.protobuf"


def _resources(gv: str, *rows: tuple[str, str, str, bool]) -> dict[str, Any]:
    verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
            "resources": [{"name": n, "singularName": s, "namespaced": ns, "kind": k,
                           "verbs": verbs} for n, s, k, ns in rows]}


DISCOVERY: dict[str, Any] = {
    "/version": {"major": "1", "minor": "33", "gitVersion": "v1.33.0", "platform": "linux/amd64"},
    "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
        {"name": g, "versions": [{"groupVersion": f"{g}/v1", "version": "v1"}],
         "preferredVersion": {"groupVersion": f"{g}/v1", "version": "v1"}}
        for g in ("apps", "batch", "rbac.authorization.k8s.io")]},
    "/api/v1": _resources(
        "v1", ("namespaces", "namespace", "Namespace", False),
        ("pods", "pod", "Pod", True), ("services", "service", "Service", True),
        ("serviceaccounts", "serviceaccount", "ServiceAccount", True),
        ("configmaps", "configmap", "ConfigMap", True), ("secrets", "secret", "Secret", True),
        ("resourcequotas", "resourcequota", "ResourceQuota", True)),
    "/apis/apps/v1": _resources("apps/v1", ("deployments", "deployment", "Deployment", True)),
    "/apis/batch/v1": _resources("batch/v1", ("jobs", "job", "Job", True),
                                 ("cronjobs", "cronjob", "CronJob", True)),
    "/apis/rbac.authorization.k8s.io/v1": _resources(
        "rbac.authorization.k8s.io/v1", ("roles", "role", "Role", True),
        ("clusterroles", "clusterrole", "ClusterRole", False),
        ("rolebindings", "rolebinding", "RoleBinding", True),
        ("clusterrolebindings", "clusterrolebinding", "ClusterRoleBinding", False)),
}


class Capture:
    """Answers discovery and GETs of ``objects``; records every POST and answers ``reply``."""

    def __init__(self) -> None:
        self.objects: dict[str, Any] = {}
        self.posts: list[tuple[str, str, bytes]] = []
        self.reply: Any = {}
        self.args: list[str] = []
        cap = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, code: int, obj: Any) -> None:
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                obj = DISCOVERY.get(path, cap.objects.get(path))
                if obj is None:
                    self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                     "reason": "NotFound", "code": 404})
                else:
                    self._send(200, obj)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                cap.posts.append((self.path, self.headers.get("Content-Type", ""), body))
                self._send(201, cap.reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capture]:
    if KUBECTL is None:
        pytest.skip("needs the real kubectl")
    cap = Capture()
    thread = threading.Thread(target=cap.server.serve_forever, daemon=True)
    thread.start()
    base = tmp_path_factory.mktemp("kubeproto")
    config = base / "kubeconfig"
    config.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": cap.url}}],
        "users": [{"name": "u", "user": {}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u",
                                                "namespace": "default"}}]}))
    cap.args = ["--kubeconfig", str(config), "--cache-dir", str(base / "cache")]
    yield cap
    cap.server.shutdown()
    cap.server.server_close()


def kubectl(cap: Capture, *args: str) -> str:
    assert KUBECTL is not None
    res = subprocess.run([KUBECTL, *cap.args, *args], capture_output=True, text=True, timeout=20,
                         check=False)
    assert res.returncode == 0, res.stderr
    return res.stdout


def dry_run(cap: Capture, *args: str) -> dict[str, Any]:
    """What ``--dry-run=client -o json`` prints (the flags go before a ``--``)."""
    cut = args.index("--") if "--" in args else len(args)
    doc: dict[str, Any] = json.loads(kubectl(cap, *args[:cut], "--dry-run=client", "-o", "json", *args[cut:]))
    return doc


def posted(cap: Capture, *args: str, ctype: str = PROTOBUF) -> tuple[dict[str, Any], bytes]:
    """(the dry-run JSON of a command, the body of type ``ctype`` the real run POSTs)."""
    expected = dry_run(cap, *args)
    cap.posts.clear()
    cap.reply = expected
    kubectl(cap, *args)
    assert len(cap.posts) == 1, cap.posts
    path, got, body = cap.posts[0]
    assert got == ctype, (path, got)
    return expected, body


CASES = {
    "job": ["create", "job", "hello", "--image=busybox:1.36", "--", "sh", "-c", "echo hi"],
    "cronjob": ["create", "cronjob", "tick", "--image=busybox", "--schedule=*/5 * * * *",
                "--restart=OnFailure", "--", "date"],
    "deployment": ["create", "deployment", "web", "--image=nginx:1.27", "--replicas=3",
                   "--port=8080"],
    "deployment-zero": ["create", "deployment", "idle", "--image=nginx", "--replicas=0"],
    "namespace": ["create", "namespace", "team-a"],
    "serviceaccount": ["create", "serviceaccount", "robot"],
    "configmap": ["create", "configmap", "cfg", "--from-literal=a=1",
                  "--from-literal=greeting=hello world", "--from-literal=empty="],
    "secret": ["create", "secret", "generic", "pw", "--from-literal=user=admin",
               "--from-literal=pass=s3cr\u00e9t!", "--type=Opaque"],
    "secret-docker": ["create", "secret", "docker-registry", "reg", "--docker-server=r.io",
                      "--docker-username=u", "--docker-password=p"],
    "service-nodeport": ["create", "service", "nodeport", "np", "--tcp=80:8080",
                         "--node-port=30080"],
    "service-clusterip": ["create", "service", "clusterip", "cip", "--tcp=443:https",
                          "--tcp=53:53"],
    "service-headless": ["create", "service", "clusterip", "hl", "--clusterip=None"],
    "service-external": ["create", "service", "externalname", "ext",
                         "--external-name=example.com"],
    "quota": ["create", "quota", "q", "--hard=cpu=1500m,memory=2Gi,pods=10",
              "--scopes=BestEffort"],
    "role": ["create", "role", "reader", "--verb=get,list", "--resource=pods,deployments.apps"],
    "clusterrole": ["create", "clusterrole", "nonres", "--verb=get",
                    "--non-resource-url=/healthz"],
    "rolebinding": ["create", "rolebinding", "rb", "--role=reader", "--user=alice",
                    "--serviceaccount=default:robot"],
    "clusterrolebinding": ["create", "clusterrolebinding", "crb", "--clusterrole=view",
                           "--group=devs"],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_decode_equals_dry_run_json(capture: Capture, case: str) -> None:
    expected, body = posted(capture, *CASES[case])
    assert kubeproto.decode(body) == expected


# `kubectl create job --from=cronjob/rich` GETs this (as JSON), copies its job template into a
# typed Job and POSTs that as protobuf: the way to send a full PodSpec through the typed path.
RICH_CONTAINER: dict[str, Any] = {
    "name": "main", "image": "busybox:1.36", "command": ["sh", "-c"], "args": ["echo $A"],
    "workingDir": "/work", "imagePullPolicy": "Always", "tty": True,
    "terminationMessagePolicy": "FallbackToLogsOnError",
    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"},
              {"containerPort": 9090, "hostPort": 19090, "protocol": "UDP", "hostIP": "0.0.0.0"}],
    "env": [{"name": "A", "value": "1"}, {"name": "EMPTY"},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu",
                                                               "divisor": "1m"}}},
            {"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k",
                                                         "optional": True}}},
            {"name": "C", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}],
    "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"},
                {"secretRef": {"name": "s", "optional": False}}],
    "resources": {"limits": {"cpu": "500m", "memory": "128Mi", "nvidia.com/gpu": "1"},
                  "requests": {"cpu": "250m", "memory": "64Mi", "ephemeral-storage": "1G"}},
    "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": True, "subPath": "x"},
                     {"name": "scratch", "mountPath": "/scratch",
                      "mountPropagation": "HostToContainer"}],
    "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP",
                                  "httpHeaders": [{"name": "X-A", "value": "b"}]},
                      "initialDelaySeconds": 3, "periodSeconds": 5, "timeoutSeconds": 1,
                      "successThreshold": 1, "failureThreshold": 3},
    "readinessProbe": {"tcpSocket": {"port": "http"}},
    "startupProbe": {"exec": {"command": ["cat", "/tmp/ok"]}, "failureThreshold": 30,
                     "terminationGracePeriodSeconds": 10},
    "lifecycle": {"preStop": {"exec": {"command": ["sh", "-c", "sleep 1"]}},
                  "postStart": {"httpGet": {"path": "/up", "port": "http"}}},
    "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                        "privileged": False, "runAsUser": 0, "runAsNonRoot": False,
                        "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
                        "seLinuxOptions": {"level": "s0:c1"}},
}
RICH_POD: dict[str, Any] = {
    "metadata": {"labels": {"app": "rich"}, "annotations": {"a": "b"},
                 "creationTimestamp": "1969-07-20T20:17:40Z"},
    "spec": {
        "restartPolicy": "OnFailure", "serviceAccountName": "robot", "hostNetwork": False,
        "automountServiceAccountToken": False, "terminationGracePeriodSeconds": 5,
        "priority": -5, "priorityClassName": "low", "dnsPolicy": "ClusterFirst",
        "nodeSelector": {"disk": "ssd"}, "hostname": "h", "subdomain": "sub",
        "imagePullSecrets": [{"name": "reg"}],
        "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoExecute",
                         "tolerationSeconds": 30}],
        "securityContext": {"runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 2000,
                            "runAsNonRoot": True, "supplementalGroups": [5, 6, 300],
                            "seccompProfile": {"type": "RuntimeDefault"},
                            "sysctls": [{"name": "net.core.somaxconn", "value": "1024"}]},
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "zone", "operator": "In", "values": ["a", "b"]}]}]}},
            "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 10, "podAffinityTerm": {
                    "labelSelector": {"matchLabels": {"app": "rich"}},
                    "topologyKey": "kubernetes.io/hostname"}}]}},
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone",
                                       "whenUnsatisfiable": "DoNotSchedule",
                                       "labelSelector": {"matchExpressions": [
                                           {"key": "app", "operator": "Exists"}]}}],
        "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["a.local", "b.local"]}],
        "dnsConfig": {"nameservers": ["1.1.1.1"], "options": [{"name": "ndots", "value": "2"}]},
        "initContainers": [{"name": "init", "image": "busybox", "command": ["true"],
                            "restartPolicy": "Always"}],
        "containers": [RICH_CONTAINER, {"name": "side", "image": "nginx"}],
        "volumes": [
            {"name": "data", "hostPath": {"path": "/srv", "type": "DirectoryOrCreate"}},
            {"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
            {"name": "plain", "emptyDir": {}},
            {"name": "cfg", "configMap": {"name": "cm", "defaultMode": 420, "optional": True,
                                          "items": [{"key": "a", "path": "a.txt",
                                                     "mode": 256}]}},
            {"name": "sec", "secret": {"secretName": "s"}},
            {"name": "pvc", "persistentVolumeClaim": {"claimName": "c", "readOnly": True}},
            {"name": "nfs", "nfs": {"server": "10.0.0.2", "path": "/export"}},
            {"name": "proj", "projected": {"sources": [
                {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
                {"downwardAPI": {"items": [{"path": "labels",
                                            "fieldRef": {"fieldPath": "metadata.labels"}}]}},
                {"configMap": {"name": "cm"}}]}}],
    },
}
RICH_CRONJOB: dict[str, Any] = {
    "apiVersion": "batch/v1", "kind": "CronJob",
    "metadata": {"name": "rich", "namespace": "default",
                 "uid": "0b9c6a34-7d5e-4c1a-9b1e-2f3a4b5c6d7e"},
    "spec": {"schedule": "0 * * * *", "jobTemplate": {
        "metadata": {"labels": {"team": "x"}, "annotations": {"owner": "me"}},
        "spec": {"backoffLimit": 2, "activeDeadlineSeconds": 100, "ttlSecondsAfterFinished": 0,
                 "completions": 3, "parallelism": 2, "completionMode": "Indexed",
                 "backoffLimitPerIndex": 1, "suspend": False,
                 "podFailurePolicy": {"rules": [
                     {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [1, 42]}},
                     {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget",
                                                               "status": "True"}]}]},
                 "template": RICH_POD}}},
}


def test_rich_pod_template_via_create_job_from_cronjob(capture: Capture) -> None:
    capture.objects["/apis/batch/v1/namespaces/default/cronjobs/rich"] = RICH_CRONJOB
    expected, body = posted(capture, "create", "job", "manual", "--from=cronjob/rich")
    assert kubeproto.decode(body) == expected
    # the oracle kept what the fixture sent (a typo would vanish from both sides)
    spec = expected["spec"]["template"]["spec"]
    assert spec["containers"][0] == RICH_CONTAINER
    assert spec["volumes"] == RICH_POD["spec"]["volumes"]
    assert spec["priority"] == -5 and spec["securityContext"]["supplementalGroups"] == [5, 6, 300]
    assert expected["spec"]["template"]["metadata"]["creationTimestamp"] == "1969-07-20T20:17:40Z"
    assert expected["spec"]["ttlSecondsAfterFinished"] == 0


# kubectl run and kubectl expose build unstructured objects: they POST JSON, not protobuf.
JSON_CASES = {
    "run": ["run", "p", "--image=busybox:1.36", "--restart=Never", "--env=A=1", "--env=B=two",
            "--labels=app=p,tier=x", "--port=8080", "--", "sleep", "10"],
    "run-command": ["run", "q", "--image=busybox", "--image-pull-policy=IfNotPresent",
                    "--annotations=note=hi", "--command", "--", "sh", "-c", "true"],
}


@pytest.mark.parametrize("case", sorted(JSON_CASES))
def test_run_posts_json(capture: Capture, case: str) -> None:
    expected, body = posted(capture, *JSON_CASES[case], ctype="application/json")
    assert json.loads(body) == expected


def test_expose_posts_json(capture: Capture) -> None:
    deploy = dry_run(capture, *CASES["deployment"])
    capture.objects["/apis/apps/v1/namespaces/default/deployments/web"] = deploy
    expected, body = posted(capture, "expose", "deployment", "web", "--port=80",
                            "--target-port=8080", "--name=web-svc", ctype="application/json")
    assert json.loads(body) == expected
    assert expected["spec"]["ports"][0]["targetPort"] == 8080


# --- hand-built bodies: strictness and the corners kubectl does not reach ----------------------

def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def fld(num: int, val: int | str | bytes) -> bytes:
    """One field: an int as a varint, str/bytes length-delimited."""
    if isinstance(val, int):
        return _varint(num << 3) + _varint(val)
    data = val.encode() if isinstance(val, str) else val
    return _varint(num << 3 | 2) + _varint(len(data)) + data


def envelope(api_version: str, kind: str, raw: bytes, *extra: bytes) -> bytes:
    return (kubeproto.MAGIC + fld(1, fld(1, api_version) + fld(2, kind)) + fld(2, raw)
            + b"".join(extra))


def test_create_token_posts_a_token_request(capture: Capture) -> None:
    """`kubectl create token` has no --dry-run: the oracle is its flags, as types.go spells them
    (Go's JSON of the request kubectl built: pointers null when unset, status never omitted)."""
    capture.reply = {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                     "status": {"token": "t0k", "expirationTimestamp": "2026-12-01T00:00:00Z"}}
    base = {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": None},
            "status": {"token": "", "expirationTimestamp": None}}
    for args, spec in (
            ([], {"audiences": None, "expirationSeconds": None, "boundObjectRef": None}),
            (["--duration=1h", "--audience=a", "--audience=b", "--bound-object-kind=Pod",
              "--bound-object-name=p", "--bound-object-uid=u1"],
             {"audiences": ["a", "b"], "expirationSeconds": 3600,
              "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p", "uid": "u1"}})):
        capture.posts.clear()
        assert kubectl(capture, "create", "token", "robot", *args).strip() == "t0k"
        [(path, ctype, body)] = capture.posts
        assert path == "/api/v1/namespaces/default/serviceaccounts/robot/token"
        assert ctype == PROTOBUF
        assert kubeproto.decode(body) == {**base, "spec": spec}


def test_unknown_field_number_names_message_and_number() -> None:
    body = envelope("v1", "Namespace", fld(1, fld(1, "ns") + fld(99, "surprise")))
    with pytest.raises(ValueError, match=r"ObjectMeta has no field number 99"):
        kubeproto.decode(body)
    deep = fld(2, fld(2, fld(1, "c") + fld(2, "img") + fld(77, 1)))  # Pod.spec.containers[0]
    with pytest.raises(ValueError, match=r"Container has no field number 77"):
        kubeproto.decode(envelope("v1", "Pod", deep))
    with pytest.raises(ValueError, match=r"runtime.Unknown has no field number 9"):
        kubeproto.decode(envelope("v1", "Namespace", b"", fld(9, "x")))


def test_unknown_kind_and_bad_framing() -> None:
    with pytest.raises(ValueError, match=r"apiVersion 'v1' kind 'Widget'"):
        kubeproto.decode(envelope("v1", "Widget", b""))
    with pytest.raises(ValueError, match=r"apiVersion 'apps/v1' kind 'Job'"):
        kubeproto.decode(envelope("apps/v1", "Job", b""))
    with pytest.raises(ValueError, match="magic"):
        kubeproto.decode(b'{"kind": "Namespace"}')
    with pytest.raises(ValueError, match="truncated"):
        kubeproto.decode(envelope("v1", "Namespace", fld(1, fld(1, "ns")))[:-1])
    with pytest.raises(ValueError, match=r"ObjectMeta field 1 has wire type 0"):
        kubeproto.decode(envelope("v1", "Namespace", fld(1, fld(1, 5))))
    with pytest.raises(ValueError, match="contentEncoding"):
        kubeproto.decode(envelope("v1", "Namespace", b"", fld(3, "gzip")))
    with pytest.raises(ValueError, match="IntOrString has impossible type 2"):
        port = fld(3, 80) + fld(4, fld(1, 2))
        kubeproto.decode(envelope("v1", "Service", fld(2, fld(1, port))))


def test_go_json_shape_of_an_empty_object() -> None:
    # non-pointer structs always appear, zero Time is null, a nil slice without omitempty is null
    assert kubeproto.decode(envelope("v1", "Pod", b"")) == {
        "kind": "Pod", "apiVersion": "v1", "metadata": {"creationTimestamp": None},
        "spec": {"containers": None}, "status": {}}


def test_scalars_time_merge_packed_and_managed_fields() -> None:
    ts = fld(1, 1700000000) + fld(2, 123456789)  # nanoseconds are dropped, as Time.Unmarshal does
    managed = fld(1, "kubectl") + fld(2, "Update") + fld(4, fld(1, 0)) + fld(6, "FieldsV1") \
        + fld(7, fld(1, '{"f:metadata":{}}'))
    meta = fld(1, "p") + fld(7, 3) + fld(8, ts) + fld(10, 0) + fld(17, managed) \
        + fld(11, fld(1, "a") + fld(2, "1")) + fld(11, fld(1, "b"))
    # PodSecurityContext.supplementalGroups packed and not; fsGroup negative (int64)
    psc = fld(4, _varint(5) + _varint(6)) + fld(4, 7) + fld(5, -2)
    container = fld(1, "c") + fld(2, "img") + fld(6, fld(3, 8080) + fld(4, "TCP"))
    # metadata split over two occurrences merges; priority is a negative int32
    spec = fld(2, container) + fld(14, psc) + fld(25, -5)
    body = envelope("v1", "Pod", fld(1, meta[:3]) + fld(1, meta[3:]) + fld(2, spec))
    got = kubeproto.decode(body)
    assert got["metadata"] == {
        "name": "p", "generation": 3, "creationTimestamp": "2023-11-14T22:13:20Z",
        "deletionGracePeriodSeconds": 0, "labels": {"a": "1", "b": ""},
        "managedFields": [{"manager": "kubectl", "operation": "Update",
                           "time": "1970-01-01T00:00:00Z", "fieldsType": "FieldsV1",
                           "fieldsV1": {"f:metadata": {}}}]}
    assert got["spec"]["securityContext"] == {"supplementalGroups": [5, 6, 7], "fsGroup": -2}
    assert got["spec"]["priority"] == -5
    assert got["spec"]["containers"] == [{"name": "c", "image": "img", "ports": [
        {"containerPort": 8080, "protocol": "TCP"}], "resources": {}}]


def test_bytes_and_quantities() -> None:
    secret = fld(2, fld(1, "k") + fld(2, b"\x00\xff")) + fld(2, fld(1, "e")) + fld(3, "Opaque")
    assert kubeproto.decode(envelope("v1", "Secret", secret)) == {
        "kind": "Secret", "apiVersion": "v1", "metadata": {"creationTimestamp": None},
        "data": {"k": "AP8=", "e": ""}, "type": "Opaque"}
    hard = fld(1, fld(1, "cpu") + fld(2, fld(1, "1500m"))) + fld(1, fld(1, "pods") + fld(2, b""))
    got = kubeproto.decode(envelope("v1", "ResourceQuota", fld(2, hard)))
    assert got["spec"] == {"hard": {"cpu": "1500m", "pods": "0"}}
