"""``ksi.kube`` against the TLS API server double (a cluster made by the kind double): readiness,
the workload's token and its lifetime, the namespace, and what a refusal looks like -- with
kind's admin kubeconfig (a client certificate) and with a kubeconfig holding a bearer token,
as the generated API classes authenticate both (``auth_settings=['BearerToken']``)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
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
    token = run(world, KUBECTL, *admin, "-n", "default", "create", "token", "nobody",
                "--duration=10m").strip()
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


def _loaded_after(code: str, env: dict[str, str] | None = None) -> set[str]:
    """The modules a fresh interpreter holds after ``code``."""
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint(*sorted(sys.modules))"],
                         text=True, capture_output=True, timeout=60, check=True,
                         env={**os.environ, **(env or {})}).stdout
    return set(out.split())


def test_requests_load_no_generated_api_or_model_class(world, cluster):
    """``CoreV1Api`` and its pydantic models were half of ksi's CPU per member (issue 14): every
    request goes through ``ApiClient`` alone, answers stay JSON."""
    loaded = _loaded_after(
        "from pathlib import Path\nfrom ksi.kube import Kube\nfrom ksi.signals import Shutdown\n"
        f"k = Kube(Path({str(cluster)!r}), 'kind-{NAME}')\n"
        "k.wait_ready(timeout=30, shutdown=Shutdown())\nk.admin_token(3600)\n"
        f"k.ensure_namespace({C.WORKLOAD_NAMESPACE!r})\nk.events()\nk.pods('kube-system')\n"
        "k.close()")
    assert "kubernetes.client.api_client" in loaded
    generated = sorted(m for m in loaded if m.startswith(("kubernetes.client.api.",
                                                          "kubernetes.client.models.")))
    assert generated == []


def test_the_path_to_the_first_phase_imports_no_client_and_no_yaml():
    """``ksi run`` up to its first phase imports only what it uses there; the kubernetes client
    (and the YAML it reads kubeconfigs with) loads in the background while ``kind create`` runs
    (``kube.preload``)."""
    loaded = _loaded_after("import ksi.cli, ksi.cli.run, ksi.orchestrator")
    assert "ksi.orchestrator" in loaded
    assert not {"kubernetes", "pydantic", "yaml", "concurrent.futures", "argparse"} & loaded


def test_a_kubeconfig_that_disables_tls_verification_is_refused(world, cluster):
    import yaml

    doc = yaml.safe_load(cluster.read_text())
    doc["clusters"][0]["cluster"]["insecure-skip-tls-verify"] = True
    insecure = world.base / "insecure.kubeconfig"
    insecure.write_text(yaml.safe_dump(doc))
    with pytest.raises(BringUpError, match="disables TLS verification; ksi refuses it"):
        Kube(insecure, f"kind-{NAME}")


def test_the_proxy_of_the_environment_is_not_used_for_the_cluster(world, cluster, monkeypatch):
    """The cluster is on this node or a member's: a site proxy (which would refuse it) is
    never in the way."""
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # discard port: nothing answers
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    kube = Kube(cluster, f"kind-{NAME}")
    try:
        assert kube.nodes(timeout=5)
    finally:
        kube.close()


def test_readiness_watches_the_nodes_instead_of_polling_them(world):
    """The wait sees Ready when it happens (a watch ends at the node's change), and does not
    list the nodes five times a second meanwhile: one list and one watch a second at most."""
    config = world.base / "slow.yaml"
    config.write_text("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnetworking:\n"
                      "  apiServerAddress: 127.0.0.1\n")
    kubeconfig = world.base / "slow.kubeconfig"
    env = {**world.env, "KIND_EXPERIMENTAL_PROVIDER": "nerdctl", "KSI_FAKE_NODE_READY_SECONDS": "3"}
    subprocess.run(["kind", "create", "cluster", "--name", "slow", "--config", str(config),
                    "--kubeconfig", str(kubeconfig)], env=env, cwd=world.base / "work",
                   capture_output=True, timeout=60, check=True)
    try:
        kube = Kube(kubeconfig, "kind-slow")
        try:
            assert kube.wait_ready(timeout=30, shutdown=Shutdown()) == ["slow-control-plane"]
        finally:
            kube.close()
        log = next(Path(env["KSI_FAKE_ROOT"]).glob("hosts/*/*/clusters/slow/apiserver.log"))
        gets = [line for line in log.read_text().splitlines() if '"GET /api/v1/nodes' in line]
        lists = [line for line in gets if "watch=1" not in line]
        watches = [line for line in gets if "watch=1" in line]
        assert watches, "no watch of the nodes"
        assert 2 <= len(lists) <= 6, gets  # 3 s of waiting: a poll every 0.2 s listed 15 times
    finally:
        subprocess.run(["kind", "delete", "cluster", "--name", "slow"], env=env,
                       cwd=world.base / "work", capture_output=True, timeout=60, check=False)
