"""The API of a workload's cluster with the workload's own credentials: raw JSON requests, and
the server-side apply of a manifest workload's documents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from ksi.errors import UsageError
from ksi.kube import REQUEST_TIMEOUT, Kube, status_message
from ksi.manifests.documents import Document

FIELD_MANAGER = "ksi"


class Api:
    """Raw JSON requests through ``Kube.send``: the kubernetes client's TLS-verifying, proxy-free
    connection, with the workload's token."""

    def __init__(self, kubeconfig: Path, context: str | None) -> None:
        self.kube = Kube(kubeconfig, context)

    def close(self) -> None:
        self.kube.close()

    def request(self, method: str, path: str, query: Sequence[tuple[str, str]] = (), body: Any = None,
                ctype: str | None = None, stream: bool = False) -> Any:
        """The answer's JSON (the urllib3 response itself when ``stream``: a followed log, unbounded
        in time as ``kubectl logs -f`` is; it ends with the container); a refusal raises
        ``ApiFailure`` with the server's message."""
        from kubernetes.client.exceptions import ApiException

        try:
            resp = self.kube.send(method, path, query=query, body=body, content_type=ctype,
                                  timeout=None if stream else REQUEST_TIMEOUT)
        except ApiException as exc:
            raise ApiFailure(int(exc.status or 0),
                             status_message(exc) or f"HTTP {exc.status}") from None
        if stream:
            return resp.response
        data = resp.read()  # type: ignore[no-untyped-call]  # kubernetes/client/rest.py RESTResponse
        try:
            return json.loads(data) if data else {}
        except ValueError:  # not JSON (a proxy's page): its text, as a refusal's message would be
            return {"message": data.decode(errors="replace").strip()}

    def list(self, path: str) -> list[dict[str, Any]]:
        return list(self.request("GET", path).get("items") or [])


class ApiFailure(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def apply(api: Api, docs: Sequence[Document], namespace: str) -> None:
    """Server-side apply of every document: all as a dry run first, so a rejected one creates
    nothing, then for real."""
    for dry in (True, False):
        for d in docs:
            query = [("fieldManager", FIELD_MANAGER), ("force", "true")] + ([("dryRun", "All")] if dry else [])
            try:
                api.request("PATCH", d.path(namespace), query, dict(d.body), "application/apply-patch+yaml")
            except ApiFailure as e:
                raise UsageError(f"{d.where}: the API server refused it: {e.message}",
                                 hint="fix the manifest") from None
