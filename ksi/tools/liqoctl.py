"""liqoctl v1: install on a kind cluster, peer (leader consumes a follower), offload a namespace.

Only the v1 ``liqoctl peer`` syntax is used (v0.x ``generate peer-command``/``peer out-of-band``
is gone).  Across hosts the WireGuard gateway server runs on the provider (the follower) behind a
UDP NodePort that kind publishes on a host port; the leader's gateway client dials that host port
(liqotech/liqo docs/advanced/nat.md).  ``unpeer``/``uninstall`` are never run at teardown: they can
hang while peerings exist, and the clusters are deleted anyway.
"""

from __future__ import annotations

import os
from pathlib import Path

from ksi.exec import Result, Runner


def _go_duration(seconds: float) -> str:
    return f"{max(1, int(seconds))}s"


class Liqoctl:
    def __init__(self, runner: Runner, env: dict[str, str] | None = None) -> None:
        self.runner = runner
        self.env = dict(os.environ if env is None else env)

    def bypassing(self, addresses: list[str]) -> "Liqoctl":
        """This liqoctl with ``addresses`` (members' API servers) added to NO_PROXY."""
        from ksi.environment import with_no_proxy

        return Liqoctl(self.runner, dict(with_no_proxy(self.env, addresses)))

    def _run(self, *args: str, timeout: float) -> Result:
        # liqoctl gets its own --timeout a little shorter than ours, so its error is the one seen
        return self.runner.run(["liqoctl", *args], timeout=timeout + 15, env=self.env)

    def install_kind(self, *, cluster_id: str, kubeconfig: Path, version: str,
                     api_server_url: str, timeout: float, local_chart_path: Path | None = None,
                     values: tuple[str, ...] = ()) -> Result:
        """``values``: the user's ``--set`` items, after ksi's own (liqoctl applies ``--set``
        in order, last wins, after its own generated values: pkg/liqoctl/install/handler.go)."""
        offline = ["--local-chart-path", str(local_chart_path)] if local_chart_path else []
        user_values = [arg for item in values for arg in ("--set", item)]
        # No --pod-cidr/--service-cidr: they belong to the generic provider only; the kind
        # provider reads them from kube-controller-manager (set from our kind config).
        return self._run(
            "install", "kind", *offline,
            "--cluster-id", cluster_id,
            "--kubeconfig", str(kubeconfig),
            "--version", version,
            # Liqo would advertise the control-plane container IP, unreachable from other hosts
            "--set", f"apiServer.address={api_server_url}",
            *user_values,
            "--timeout", _go_duration(timeout),
            timeout=timeout,
        )

    def peer(self, *, consumer_kubeconfig: Path, provider_kubeconfig: Path, node_port: int,
             provider_address: str, provider_port: int, timeout: float) -> Result:
        return self._run(
            "peer",
            "--kubeconfig", str(consumer_kubeconfig),
            "--remote-kubeconfig", str(provider_kubeconfig),
            "--gw-server-service-type", "NodePort",
            "--gw-server-service-nodeport", str(node_port),
            "--gw-client-address", provider_address,
            "--gw-client-port", str(provider_port),
            "--timeout", _go_duration(timeout),
            timeout=timeout,
        )

    def offload_namespace(self, namespace: str, *, kubeconfig: Path, timeout: float) -> Result:
        return self._run(
            "offload", "namespace", namespace,
            "--kubeconfig", str(kubeconfig),
            "--pod-offloading-strategy", "LocalAndRemote",
            "--namespace-mapping-strategy", "EnforceSameName",
            "--timeout", _go_duration(timeout),
            timeout=timeout,
        )

    def version(self, timeout: float = 10.0) -> str:
        """liqoctl's client version, e.g. ``v1.0.0`` (``tools.versions``)."""
        from ksi.tools import versions

        return versions.version("liqoctl", self.runner, self.env, timeout)
