"""``ksi.kube`` against the TLS API server double (a cluster made by the kind double): readiness,
the workload's token and its lifetime, the namespace, and what a refusal looks like -- with
kind's admin kubeconfig (a client certificate) and with a kubeconfig holding a bearer token,
as the generated API classes authenticate both (``auth_settings=['BearerToken']``)."""

from __future__ import annotations

import base64
import json
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest

from ksi import constants as C
from ksi.errors import BringUpError
from ksi.kube import Credentials, Kube, user_kubeconfig
from ksi.signals import Shutdown
from tests.conftest import World

KUBECTL = "kubectl"
NAME = "kubetest"


def run(world: World, *argv: str) -> str:
    proc = subprocess.run(list(argv), text=True, capture_output=True, timeout=60,
                          cwd=world.base / "work",
                          env={**world.env, "KIND_EXPERIMENTAL_PROVIDER": "nerdctl"})
    assert proc.returncode == 0, f"{argv} failed ({proc.returncode}):\n{proc.stderr}"
    return proc.stdout


@pytest.fixture
def cluster(world: World):
    """A one-node cluster of the kind double; its admin kubeconfig."""
    config = world.base / "kind.yaml"
    config.write_text("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnetworking:\n"
                      "  apiServerAddress: 127.0.0.1\nnodes:\n- role: control-plane\n")
    kubeconfig = world.base / "admin.kubeconfig"
    run(world, "kind", "create", "cluster", "--name", NAME, "--config", str(config),
        "--kubeconfig", str(kubeconfig))
    try:
        yield kubeconfig
    finally:
        run(world, "kind", "delete", "cluster", "--name", NAME)


def token_kubeconfig(path: Path, creds: Credentials) -> Path:
    path.write_text(user_kubeconfig(NAME, creds, C.WORKLOAD_NAMESPACE))
    path.chmod(0o600)
    return path


def test_the_admin_token_lasts_what_was_asked_and_a_kubeconfig_with_it_works(world, cluster):
    admin = Kube(cluster, f"kind-{NAME}")
    try:
        assert admin.wait_ready(timeout=30, shutdown=Shutdown()) == [f"{NAME}-control-plane"]
        creds = admin.admin_token(7200)
        again = admin.admin_token(7200)  # the service account and binding exist: 409 is fine
    finally:
        admin.close()
    assert creds.token and again.token
    left = datetime.fromisoformat(creds.expires.replace("Z", "+00:00")).timestamp() - time.time()
    assert 7200 - 60 < left <= 7200

    # the workload's kubeconfig: a bearer token, no client certificate
    user = Kube(token_kubeconfig(world.base / "user.kubeconfig", creds), NAME)
    try:
        assert [n["metadata"]["name"] for n in user.nodes()] == [f"{NAME}-control-plane"]
        user.ensure_namespace(C.WORKLOAD_NAMESPACE)
        user.ensure_namespace(C.WORKLOAD_NAMESPACE)  # exists: fine
        assert user.events(C.WORKLOAD_NAMESPACE) == []
        assert not user.has_pods(C.WORKLOAD_NAMESPACE, "app=none")
    finally:
        user.close()
    assert run(world, KUBECTL, "--kubeconfig", str(cluster), "get", "namespace",
               C.WORKLOAD_NAMESPACE, "-o", "name").strip() == f"namespace/{C.WORKLOAD_NAMESPACE}"


def test_a_refusal_other_than_409_is_one_line_with_the_servers_reason(world, cluster):
    """A token whose service account has no role: the API server answers 403 with a Status;
    the error is one line that says what was refused and why, not the client's dump of
    headers and body."""
    admin = ["--kubeconfig", str(cluster)]
    run(world, KUBECTL, *admin, "-n", "default", "create", "serviceaccount", "nobody")
    request = world.base / "token-request.json"  # kubectl create token speaks protobuf
    request.write_text(json.dumps({"apiVersion": "authentication.k8s.io/v1",
                                   "kind": "TokenRequest", "spec": {"expirationSeconds": 600}}))
    token = json.loads(run(world, KUBECTL, *admin, "create", "-f", str(request), "--raw",
                           "/api/v1/namespaces/default/serviceaccounts/nobody/token")
                       )["status"]["token"]
    server, ca = (run(world, KUBECTL, *admin, "config", "view", "--minify", "--raw", "-o",
                      f"jsonpath={{.clusters[0].cluster.{field}}}")
                  for field in ("server", "certificate-authority-data"))
    creds = Credentials(server=server, ca_pem=base64.b64decode(ca), token=token, expires="")
    nobody = Kube(token_kubeconfig(world.base / "nobody.kubeconfig", creds), NAME)
    try:
        with pytest.raises(BringUpError) as refused:
            nobody.ensure_namespace("elsewhere")
    finally:
        nobody.close()
    message = refused.value.message
    assert "\n" not in message
    assert message.startswith("the API server refused to create namespace elsewhere: "
                              "403 Forbidden: namespaces is forbidden: ")
    assert 'User "system:serviceaccount:default:nobody" cannot create resource "namespaces"' \
        in message
