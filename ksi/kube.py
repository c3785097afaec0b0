"""The Kubernetes API, through the ``kubernetes`` client, always verifying TLS.

ksi talks to its cluster with kind's admin kubeconfig (a client certificate) to wait for the
nodes, create the ``admin-user`` service account bound to ``cluster-admin`` (the original KSI's
contract) and request its token through the TokenRequest API with an explicit lifetime.  The
workload gets that token, never the admin certificate.  ``kubernetes`` costs ~0.25 s to import,
so it is imported here, lazily.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from ksi import constants as C
from ksi.errors import BringUpError, PhaseTimeout
from ksi.signals import Shutdown

REQUEST_TIMEOUT = 10.0
#: seconds between two readiness checks (a local API call; every 0.5 s lost 0.25 s on average)
READY_POLL = 0.2
#: seconds one readiness check may take
READY_REQUEST = 2.0


@dataclass(frozen=True)
class Credentials:
    server: str
    ca_pem: bytes
    token: str
    expires: str


def _ca_from_kubeconfig(path: Path) -> tuple[str, bytes]:
    doc = yaml.safe_load(path.read_text())
    cluster = doc["clusters"][0]["cluster"]
    return cluster["server"], base64.b64decode(cluster["certificate-authority-data"])


def preload() -> None:
    """Import ``kubernetes`` in a background thread, while ``kind create`` runs: the import
    costs 0.25 s of CPU (0.5 s on a busy node) that would otherwise delay the first readiness
    check, and a dead leader's news with it (``ksi/watch.py``)."""
    import threading

    def load() -> None:
        try:
            import kubernetes.client  # noqa: F401
            import kubernetes.config  # noqa: F401
        except Exception:  # noqa: BLE001 - Kube() imports again and reports the problem
            pass

    threading.Thread(target=load, name="ksi-preload", daemon=True).start()


class Kube:
    """A connection to one cluster through a kubeconfig and context."""

    def __init__(self, kubeconfig: Path, context: str | None = None) -> None:
        from kubernetes import client, config

        self.kubeconfig = kubeconfig
        self.client = client
        cfg = client.Configuration()
        # kubernetes/config/kube_config.py: load_kube_config has no annotations
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig), context=context, client_configuration=cfg)
        # Our own cluster is on this node (or a member's node): never through HTTP(S)_PROXY,
        # which the client would otherwise take from the environment.
        cfg.proxy = None
        cfg.no_proxy = None
        self.api = client.ApiClient(cfg)
        if not self.api.configuration.verify_ssl:  # never: a kubeconfig that says so is refused
            raise BringUpError(f"{kubeconfig} disables TLS verification; ksi refuses it")
        self.core = client.CoreV1Api(self.api)
        self.rbac = client.RbacAuthorizationV1Api(self.api)

    def close(self) -> None:
        self.api.close()  # type: ignore[no-untyped-call]  # kubernetes/client/api_client.py

    # --- readiness ---------------------------------------------------------------------------
    def nodes(self, timeout: float = REQUEST_TIMEOUT) -> list[Any]:
        return list(self.core.list_node(_request_timeout=timeout).items)

    def has_pods(self, namespace: str, selector: str, timeout: float = READY_REQUEST) -> bool:
        """True when ``namespace`` has a pod matching the label ``selector``.  Read as plain
        JSON: only the count matters, and the client's models would refuse a pod whose spec
        they find incomplete (and cost CPU to build)."""
        import json

        answer = self.core.list_namespaced_pod(namespace, label_selector=selector, limit=1,
                                               _request_timeout=timeout, _preload_content=False)
        # with _preload_content=False the client hands back the urllib3 response, not a model
        return bool(json.loads(answer.data).get("items"))  # type: ignore[attr-defined]

    def _nodes_watching(self, shutdown: Shutdown) -> list[Any]:
        """``nodes()`` in a helper thread, so that a stop (a signal, a dead leader's news from
        ``ksi/watch.py``) is seen within 50 ms even while the API server is slow to answer
        (a busy node); the request itself is bounded to ``READY_REQUEST``."""
        import threading

        found: list[list[Any]] = []
        failed: list[Exception] = []

        def call() -> None:
            try:
                found.append(self.nodes(timeout=READY_REQUEST))
            except Exception as exc:  # noqa: BLE001 - handed to the caller below
                failed.append(exc)

        worker = threading.Thread(target=call, name="ksi-ready", daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(0.05)
            shutdown.check()
        if failed:
            raise failed[0]
        return found[0]

    def wait_ready(
        self,
        *,
        timeout: float,
        shutdown: Shutdown,
        expect: int = 1,
        what: str = "the cluster's nodes",
        budget: float | None = None,
        on_answer: Callable[[], None] | None = None,
    ) -> list[str]:
        """Wait until at least ``expect`` nodes exist and all are Ready; return their names.

        ``budget`` is the limit the user set (``--timeout``), named in the error; ``timeout`` is
        what is left of it for this wait.  ``on_answer`` is called after every look the API
        server answered, before Ready (a Liqo install starts early from there, ``roles``).
        """
        deadline = time.monotonic() + timeout
        state = "the API server has not answered yet"
        while True:
            shutdown.check()
            answered = False
            try:
                nodes = self._nodes_watching(shutdown)
                answered = True
                not_ready = [n.metadata.name for n in nodes if not _is_ready(n)]
                if len(nodes) >= expect and not not_ready:
                    return [n.metadata.name for n in nodes]
                if not_ready:
                    state = "not Ready: " + ", ".join(sorted(not_ready))
                else:
                    state = f"{len(nodes)} of {expect} node(s) registered"
            except Exception as exc:  # connection refused, TLS handshake while booting, 5xx
                state = f"the API server did not answer ({_short(exc)})"
            if answered and on_answer is not None:
                on_answer()
            if time.monotonic() > deadline:
                raise PhaseTimeout(
                    f"{what} were not Ready after {budget or timeout:.0f}s: {state}",
                    hint="the node image may not start on this host (run `ksi doctor`, or "
                    "rerun with --keep and inspect `kind export logs`); raise --timeout on a "
                    "busy node",
                )
            shutdown.wait(READY_POLL)

    # --- credentials -------------------------------------------------------------------------
    def admin_token(self, ttl_seconds: int) -> Credentials:
        """ServiceAccount ``admin-user`` bound to cluster-admin, and a token for it."""
        c = self.client
        ns, name = C.ADMIN_NAMESPACE, C.ADMIN_SERVICE_ACCOUNT
        self._create_ok_if_exists(
            lambda: self.core.create_namespaced_service_account(
                ns, c.V1ServiceAccount(metadata=c.V1ObjectMeta(name=name)),
                _request_timeout=REQUEST_TIMEOUT))
        self._create_ok_if_exists(
            lambda: self.rbac.create_cluster_role_binding(
                c.V1ClusterRoleBinding(
                    metadata=c.V1ObjectMeta(name=name),
                    role_ref=c.V1RoleRef(api_group="rbac.authorization.k8s.io",
                                         kind="ClusterRole", name="cluster-admin"),
                    subjects=[c.RbacV1Subject(kind="ServiceAccount", name=name, namespace=ns)]),
                _request_timeout=REQUEST_TIMEOUT))
        ttl = max(int(ttl_seconds), C.MIN_TOKEN_TTL)
        request = c.AuthenticationV1TokenRequest(
            spec=c.V1TokenRequestSpec(audiences=[], expiration_seconds=ttl))
        answer = self.core.create_namespaced_service_account_token(
            name, ns, request, _request_timeout=REQUEST_TIMEOUT)
        server, ca = _ca_from_kubeconfig(self.kubeconfig)
        status = answer.status
        if status is None or not status.token:
            raise BringUpError("the API server answered the TokenRequest without a token")
        expires = status.expiration_timestamp
        return Credentials(server=server, ca_pem=ca, token=status.token,
                           expires=expires.isoformat() if expires is not None else "")

    def ensure_namespace(self, name: str) -> None:
        c = self.client
        self._create_ok_if_exists(lambda: self.core.create_namespace(
            c.V1Namespace(metadata=c.V1ObjectMeta(name=name)), _request_timeout=REQUEST_TIMEOUT))

    def _create_ok_if_exists(self, call: Callable[[], Any]) -> None:
        from kubernetes.client.exceptions import ApiException

        try:
            call()
        except ApiException as exc:
            if exc.status != 409:
                raise BringUpError(f"the API server refused a request: {exc.status} "
                                   f"{exc.reason}") from exc


def _is_ready(node: Any) -> bool:
    for cond in (node.status.conditions or []) if node.status else []:
        if cond.type == "Ready":
            return bool(cond.status == "True")
    return False


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:160]


def user_kubeconfig(context: str, creds: Credentials, namespace: str) -> str:
    """The kubeconfig the workload gets: one context named like the cluster, token auth."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": context,
        "clusters": [{"name": context, "cluster": {
            "server": creds.server,
            "certificate-authority-data": base64.b64encode(creds.ca_pem).decode(),
        }}],
        "users": [{"name": C.ADMIN_SERVICE_ACCOUNT, "user": {"token": creds.token}}],
        "contexts": [{"name": context, "context": {
            "cluster": context, "user": C.ADMIN_SERVICE_ACCOUNT, "namespace": namespace,
        }}],
        "preferences": {},
    }
    text: str = yaml.safe_dump(doc, sort_keys=False)
    return text
