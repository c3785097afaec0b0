"""The environment ksi gives the tools it runs: proxies, and the bypass4netns nerdctl shim.

Proxies: compute nodes often reach registries only through ``HTTP_PROXY``/``HTTPS_PROXY``.  kind
passes those into its nodes; ksi extends ``NO_PROXY`` (both spellings) with what must never go
through a proxy -- every member's address (the API servers the leader's ``liqoctl peer`` calls),
every member's pod and service CIDRs, Liqo's internal ranges, and loopback -- for kind, liqoctl,
kubectl (diagnostics) and the workload alike.  client-go (liqoctl, kubectl) matches ``NO_PROXY``
with Go's ``golang.org/x/net/http/httpproxy`` rules: exact host or IP, domain suffix, CIDR, ``*``;
so addresses and CIDRs are listed as such.  Members' addresses are known only after the
rendezvous: ``_prepare_tools_env`` covers this node and every rank's subnets, the leader adds
the other members' addresses before peering.

bypass4netns (faster rootless networking) is enabled per container by nerdctl annotations, and
nerdctl has no setting for default annotations.  The original KSI replaced the system ``nerdctl``
with a wrapper; ksi instead writes a shim into the run directory and puts it first on ``PATH``
for the kind subprocess only: ``nerdctl run`` gets the annotations, including the
ignore-subnets for this cluster's pod and service CIDRs (else pod traffic may be diverted to the
host); every other call goes straight to the real nerdctl.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Iterable, Mapping

from ksi.errors import EnvironmentProblem
from ksi.templates import render

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")


def federation_no_proxy(address: str, members: int, liqo_ranges: Iterable[str]) -> list[str]:
    """What must bypass a proxy in a federation of ``members``: this node's address, every
    member's pod and service CIDRs (derived from the rank) and Liqo's ranges
    (``federation.liqo_ranges``)."""
    from ksi.plan import subnets

    cidrs = [c for rank in range(max(1, members)) for c in subnets(rank)]
    return [address, *cidrs, *liqo_ranges]


def with_no_proxy(env: Mapping[str, str], extra: Iterable[str]) -> dict[str, str]:
    """``env`` with NO_PROXY/no_proxy extended by ``extra`` -- only when a proxy is set."""
    out = dict(env)
    if not any(out.get(v) for v in PROXY_VARS):
        return out
    current = out.get("NO_PROXY") or out.get("no_proxy") or ""
    items = [i.strip() for i in current.split(",") if i.strip()]
    for item in ["localhost", "127.0.0.1", *extra]:
        if item and item not in items:
            items.append(item)
    out["NO_PROXY"] = out["no_proxy"] = ",".join(items)
    return out


def write_nerdctl_shim(directory: Path, env: Mapping[str, str], ignore_subnets: list[str]) -> Path:
    """Write ``directory/nerdctl`` (0700) wrapping the real nerdctl found on ``env``'s PATH."""
    real = shutil.which("nerdctl", path=env.get("PATH", os.defpath))
    if real is None:
        raise EnvironmentProblem("`nerdctl` was not found on PATH",
                                 hint="install nerdctl (see setup/README.md)")
    directory.mkdir(mode=0o700, exist_ok=True)
    shim = directory / "nerdctl"
    shim.write_text(render("nerdctl-shim.sh.j2", real=real,
                           subnets=json.dumps(ignore_subnets, separators=(",", ":"))))
    shim.chmod(0o700)
    return shim


def with_shim(env: Mapping[str, str], directory: Path) -> dict[str, str]:
    out = dict(env)
    out["PATH"] = f"{directory}{os.pathsep}{env.get('PATH', os.defpath)}"
    return out
