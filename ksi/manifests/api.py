"""The API of a workload's cluster with the workload's own credentials: raw JSON requests, and
the server-side apply of a manifest workload's documents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from ksi.errors import UsageError
from ksi.manifests.documents import Document

FIELD_MANAGER = "ksi"
REQUEST_TIMEOUT = 10.0


class Api:
    """Raw JSON requests through the kubernetes client's TLS-verifying, proxy-free connection."""

    def __init__(self, kubeconfig: Path, context: str | None) -> None:
        from ksi.kube import Kube

        self.kube = Kube(kubeconfig, context)

    def close(self) -> None:
        self.kube.close()

    def request(self, method: str, path: str, query: Sequence[tuple[str, str]] = (), body: Any = None,
                ctype: str | None = None, stream: bool = False) -> Any:
        headers = {"Accept": "application/json"}
        if ctype:
            headers["Content-Type"] = ctype
        api = self.kube.api
        m, url, h, b, _ = api.param_serialize(method=method, resource_path=path, query_params=list(query),
                                              header_params=headers, body=body, auth_settings=["BearerToken"])
        timeout = None if stream else REQUEST_TIMEOUT
        resp = api.call_api(m, url, header_params=h, body=b, _request_timeout=timeout)
        if stream and 200 <= resp.status < 300:
            return resp.response
        data = resp.read()  # type: ignore[no-untyped-call]  # kubernetes/client/rest.py RESTResponse
        try:
            obj = json.loads(data) if data else {}
        except ValueError:
            obj = {"message": data.decode(errors="replace").strip()}
        if not 200 <= resp.status < 300:
            raise ApiFailure(resp.status, obj.get("message") or f"HTTP {resp.status}")
        return obj

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
