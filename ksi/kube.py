"""The Kubernetes API, through the ``kubernetes`` client's connection, always verifying TLS.

ksi talks to its cluster with kind's admin kubeconfig (a client certificate) to wait for the
nodes, create the ``admin-user`` service account bound to ``cluster-admin`` (the original KSI's
contract) and request its token through the TokenRequest API with an explicit lifetime.  The
workload gets that token, never the admin certificate.

The client stays in the stack for what it does well -- the kubeconfig (``kubernetes.config``),
its ``Configuration``, ``ApiClient`` and the urllib3 REST client with its TLS verification --
but its generated API classes are not used: ``CoreV1Api`` alone imports hundreds of pydantic
models: half of ksi's CPU per member (issue 14, docs/performance.md), to build objects
of which ksi reads a few fields.
Every request goes through ``Kube.send`` as the generated methods do (``param_serialize`` with
``auth_settings=['BearerToken']``, ``call_api``, ``read``), with JSON bodies and answers as
dicts, and errors as the client's ``ApiException`` (``ApiException.from_response``).
``kubernetes`` costs ~0.25 s to import, so it is imported here, lazily (``preload``).
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence, TypeVar, Union

from ksi import constants as C
from ksi.errors import BringUpError, PhaseTimeout
from ksi.signals import Shutdown

if TYPE_CHECKING:
    from kubernetes.client.rest import RESTResponse

T = TypeVar("T")

REQUEST_TIMEOUT = 10.0
#: seconds between two readiness checks when the API server cannot be watched (it does not
#: answer yet, or refused the watch)
READY_POLL = 0.2
#: the longest a readiness watch lasts before the next look; any change to the nodes ends it at
#: once, so Ready is seen when it happens, not up to a poll later
READY_WATCH = 1
#: seconds one readiness check may take
READY_REQUEST = 2.0
#: a request's bound: seconds in all, (connect, read) seconds, or None for a stream that lasts
#: as long as what it follows (a container's log with ``follow``)
Timeout = Union[float, tuple[float, float], None]


@dataclass(frozen=True)
class Credentials:
    server: str
    ca_pem: bytes
    token: str
    #: the token's ``expirationTimestamp`` as the API server wrote it (RFC 3339)
    expires: str


def _ca_from_kubeconfig(path: Path) -> tuple[str, bytes]:
    import yaml  # lazy: off the path to the first phase (kubernetes.config imports it anyway)

    doc = yaml.safe_load(path.read_text())
    cluster = doc["clusters"][0]["cluster"]
    return cluster["server"], base64.b64decode(cluster["certificate-authority-data"])


def preload() -> None:
    """Import what ``Kube`` needs in a background thread, while ``kind create`` runs: the import
    costs 0.25 s of CPU (0.5 s on a busy node) that would otherwise delay the first readiness
    check, and a dead leader's news with it (``ksi/watch.py``)."""
    import threading

    def load() -> None:
        try:
            import kubernetes.client.api_client  # noqa: F401
            import kubernetes.config  # noqa: F401
        except Exception:  # noqa: BLE001 - Kube() imports again and reports the problem
            pass

    threading.Thread(target=load, name="ksi-preload", daemon=True).start()


class Kube:
    """A connection to one cluster through a kubeconfig and context."""

    def __init__(self, kubeconfig: Path, context: str | None = None) -> None:
        from kubernetes import config
        from kubernetes.client.api_client import ApiClient
        from kubernetes.client.configuration import Configuration

        self.kubeconfig = kubeconfig
        cfg = Configuration()
        # kubernetes/config/kube_config.py: load_kube_config has no annotations
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig), context=context, client_configuration=cfg)
        # Our own cluster is on this node (or a member's node): never through HTTP(S)_PROXY,
        # which the client would otherwise take from the environment.
        cfg.proxy = None
        cfg.no_proxy = None
        if not cfg.verify_ssl:  # never: a kubeconfig that says so is refused
            raise BringUpError(f"{kubeconfig} disables TLS verification; ksi refuses it")
        self.api = ApiClient(cfg)

    def close(self) -> None:
        self.api.close()  # type: ignore[no-untyped-call]  # kubernetes/client/api_client.py

    # --- the one way to the API server -------------------------------------------------------
    def send(self, method: str, path: str, *, query: Sequence[tuple[str, str]] = (),
             body: Any = None, content_type: str | None = None,
             timeout: Timeout = REQUEST_TIMEOUT) -> RESTResponse:
        """One request, serialised and authenticated as the client's generated methods do it
        (kubernetes/client/api/core_v1_api.py ``_list_node_serialize``: ``Accept`` JSON,
        ``auth_settings=['BearerToken']``, so that a kubeconfig with a token works as one with a
        client certificate does); the answer unread, its body not yet loaded (a log followed).

        A status outside 2xx raises the client's ``ApiException`` (``from_response``, as
        ``ApiClient.response_deserialize`` does), with the body, whose ``message`` says why.
        """
        from kubernetes.client.exceptions import ApiException

        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
        m, url, h, b, _ = self.api.param_serialize(
            method=method, resource_path=path, query_params=list(query), header_params=headers,
            body=body, auth_settings=["BearerToken"])
        answer = self.api.call_api(m, url, header_params=h, body=b, _request_timeout=timeout)
        if not 200 <= answer.status <= 299:
            data = answer.read()  # type: ignore[no-untyped-call]  # kubernetes/client/rest.py
            raise ApiException.from_response(
                http_resp=answer, body=data.decode("utf-8", errors="replace"), data=None)
        return answer

    def _call(self, method: str, path: str, *, query: Sequence[tuple[str, str]] = (),
              body: Any = None, timeout: Timeout = REQUEST_TIMEOUT) -> Any:
        """``send``, the answer's JSON as dicts and lists."""
        answer = self.send(method, path, query=query, body=body, timeout=timeout)
        data = answer.read()  # type: ignore[no-untyped-call]  # kubernetes/client/rest.py
        try:
            return json.loads(data) if data else {}
        except ValueError:
            raise BringUpError(f"the API server answered {method} {path} with something that "
                               f"is not JSON: {data[:80]!r}") from None

    def _create(self, path: str, body: dict[str, Any], what: str) -> None:
        """POST ``body``; one that exists already (409) is what we wanted."""
        from kubernetes.client.exceptions import ApiException

        try:
            self._call("POST", path, body=body)
        except ApiException as exc:
            if exc.status != 409:
                raise BringUpError(f"the API server refused to create {what}: {refusal(exc)}",
                                   hint="the cluster's RBAC or admission may forbid it; rerun "
                                   "with -v for the whole answer") from exc

    # --- readiness ---------------------------------------------------------------------------
    def nodes(self, timeout: float = REQUEST_TIMEOUT) -> list[dict[str, Any]]:
        return self._node_list(timeout)[0]

    def _node_list(self, timeout: float) -> tuple[list[dict[str, Any]], str]:
        """The nodes, and the list's ``resourceVersion`` (where a watch of them starts)."""
        answer = self._call("GET", "/api/v1/nodes", timeout=timeout)
        return (list(answer.get("items") or []),
                str((answer.get("metadata") or {}).get("resourceVersion") or ""))

    def has_pods(self, namespace: str, selector: str, timeout: float = READY_REQUEST) -> bool:
        """True when ``namespace`` has a pod matching the label ``selector``."""
        answer = self._call("GET", f"/api/v1/namespaces/{namespace}/pods",
                            query=[("labelSelector", selector), ("limit", "1")], timeout=timeout)
        return bool(answer.get("items"))

    def _node_change(self, version: str) -> None:
        """Return at the first change to the nodes after ``version`` (a watch, as ``kubectl
        wait`` does: ``?watch=1&resourceVersion=...``), or when the server ends the watch after
        ``READY_WATCH`` s without one.  A watch refused (410 Gone: the version is too old) or
        broken is a pause of ``READY_POLL``: the next look lists again."""
        try:
            answer = self.send("GET", "/api/v1/nodes", query=[
                ("watch", "1"), ("resourceVersion", version),
                ("timeoutSeconds", str(READY_WATCH))],
                timeout=(READY_REQUEST, READY_WATCH + READY_REQUEST))
            try:
                for chunk in answer.response.stream(4096):
                    if chunk.strip():
                        # the rest of the stream is never read: the connection must not go
                        # back to the pool with it (the next look would read its tail)
                        answer.response.close()
                        return
            finally:
                answer.response.release_conn()
        except Exception:  # noqa: BLE001 - the next look tells what is wrong
            time.sleep(READY_POLL)

    def _in_thread(self, call: Callable[[], T], shutdown: Shutdown) -> T:
        """``call`` (one request, bounded by its own timeout) in a helper thread, so that a stop
        (a signal, a dead leader's news from ``ksi/watch.py``) is seen within 50 ms even while
        the API server is slow to answer (a busy node) or a watch waits for a change."""
        import threading

        found: list[T] = []
        failed: list[Exception] = []

        def run() -> None:
            try:
                found.append(call())
            except Exception as exc:  # noqa: BLE001 - handed to the caller below
                failed.append(exc)

        worker = threading.Thread(target=run, name="ksi-ready", daemon=True)
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
            answered, version = False, ""
            try:
                nodes, version = self._in_thread(lambda: self._node_list(READY_REQUEST), shutdown)
                answered = True
                names = [_name(n) for n in nodes]
                not_ready = [_name(n) for n in nodes if not _is_ready(n)]
                if len(nodes) >= expect and not not_ready:
                    return names
                if not_ready:
                    state = "not Ready: " + ", ".join(sorted(not_ready))
                else:
                    state = f"{len(nodes)} of {expect} node(s) registered"
            except Exception as exc:  # connection refused, TLS handshake while booting, 5xx
                state = f"the API server did not answer ({one_line(exc)})"
            if answered and on_answer is not None:
                on_answer()
            if time.monotonic() > deadline:
                raise PhaseTimeout(
                    f"{what} were not Ready after {budget or timeout:.0f}s: {state}",
                    hint="the node image may not start on this host (run `ksi doctor`, or "
                    "rerun with --keep and inspect `kind export logs`); raise --timeout on a "
                    "busy node",
                )
            if version:
                self._in_thread(lambda: self._node_change(version), shutdown)
            else:
                shutdown.wait(READY_POLL)

    # --- credentials -------------------------------------------------------------------------
    def admin_token(self, ttl_seconds: int) -> Credentials:
        """ServiceAccount ``admin-user`` bound to cluster-admin, and a token for it."""
        from kubernetes.client.exceptions import ApiException

        ns, name = C.ADMIN_NAMESPACE, C.ADMIN_SERVICE_ACCOUNT
        self._create(f"/api/v1/namespaces/{ns}/serviceaccounts",
                     {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}},
                     f"service account {ns}/{name}")
        self._create("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}],
        }, f"cluster role binding {name}")
        ttl = max(int(ttl_seconds), C.MIN_TOKEN_TTL)
        request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                   "spec": {"audiences": [], "expirationSeconds": ttl}}
        try:
            answer = self._call("POST", f"/api/v1/namespaces/{ns}/serviceaccounts/{name}/token",
                                body=request)
        except ApiException as exc:
            raise BringUpError(f"the API server refused the token of {ns}/{name}: "
                               f"{refusal(exc)}") from exc
        server, ca = _ca_from_kubeconfig(self.kubeconfig)
        status = answer.get("status") or {}
        if not status.get("token"):
            raise BringUpError("the API server answered the TokenRequest without a token")
        return Credentials(server=server, ca_pem=ca, token=status["token"],
                           expires=str(status.get("expirationTimestamp") or ""))

    def ensure_namespace(self, name: str) -> None:
        self._create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                            "metadata": {"name": name}}, f"namespace {name}")

    # --- diagnostics and the workload's watch --------------------------------------------------
    def events(self, namespace: str | None = None,
               timeout: float = REQUEST_TIMEOUT) -> list[dict[str, Any]]:
        """The core/v1 Events of ``namespace``, of every namespace when None."""
        path = f"/api/v1/namespaces/{namespace}/events" if namespace else "/api/v1/events"
        return list(self._call("GET", path, timeout=timeout).get("items") or [])

    def pods(self, namespace: str, timeout: float = REQUEST_TIMEOUT) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/api/v1/namespaces/{namespace}/pods",
                               timeout=timeout).get("items") or [])

    def logs(self, namespace: str, pod: str, container: str,
             timeout: float = REQUEST_TIMEOUT) -> str:
        """The log of one container (its text, as ``kubectl logs`` prints it)."""
        answer = self.send("GET", f"/api/v1/namespaces/{namespace}/pods/{pod}/log",
                           query=[("container", container)], timeout=timeout)
        data: bytes = answer.read()  # type: ignore[no-untyped-call]  # kubernetes/client/rest.py
        return data.decode("utf-8", errors="replace")


def status_message(exc: Exception) -> str:
    """What the API server said in a refusal (an ``ApiException``): the ``message`` of its
    Status answer (k8s.io/apimachinery pkg/apis/meta/v1 ``Status``), else the body's text."""
    body = str(getattr(exc, "body", None) or "")
    try:
        answer = json.loads(body)
    except ValueError:
        return body.strip()
    return str(answer.get("message") or "") if isinstance(answer, dict) else body.strip()


def refusal(exc: Exception) -> str:
    """One line for an ``ApiException``: ``403 Forbidden: <the server's message>``."""
    status, reason = getattr(exc, "status", None), getattr(exc, "reason", None)
    line = " ".join(str(x) for x in (status, reason) if x) or type(exc).__name__
    message = status_message(exc)
    return " ".join((f"{line}: {message}" if message else line).split())[:300]


def _name(node: dict[str, Any]) -> str:
    return str((node.get("metadata") or {}).get("name") or "?")


def _is_ready(node: dict[str, Any]) -> bool:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def one_line(exc: Exception) -> str:
    """An error of a request in one line: a refusal (the client's ``ApiException``) as
    ``refusal`` says it, anything else (refused connection, TLS) by its first line."""
    if getattr(exc, "status", None) is not None:
        return refusal(exc)
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:160]


def user_kubeconfig(context: str, creds: Credentials, namespace: str) -> str:
    """The kubeconfig the workload gets: one context named like the cluster, token auth."""
    import yaml  # lazy: off the path to the first phase

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
