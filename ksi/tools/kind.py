"""kind, always with the nerdctl provider and always with a per-cluster ``--kubeconfig``.

kind locks a kubeconfig with an O_EXCL lock file and no retry, so concurrent create/delete on a
shared ``~/.kube/config`` fails with "failed to lock config file" (kubernetes-sigs/kind#1425):
ksi never lets kind touch the user's own kubeconfig.
"""

from __future__ import annotations

import os
from pathlib import Path

from ksi.exec import Result, Runner

PROVIDER = "nerdctl"


class Kind:
    def __init__(self, runner: Runner, env: dict[str, str] | None = None) -> None:
        self.runner = runner
        self.env = dict(os.environ if env is None else env)
        self.env["KIND_EXPERIMENTAL_PROVIDER"] = PROVIDER

    def _run(self, *args: str, timeout: float, **kw: object) -> Result:
        return self.runner.run(["kind", *args], timeout=timeout, env=self.env, **kw)  # type: ignore[arg-type]

    def create(self, name: str, config: Path, kubeconfig: Path, timeout: float) -> Result:
        return self._run("create", "cluster", "--name", name, "--config", str(config),
                         "--kubeconfig", str(kubeconfig), timeout=timeout)

    def delete(self, name: str, kubeconfig: Path, timeout: float) -> Result:
        """Idempotent: deleting a cluster that does not exist succeeds."""
        return self._run("delete", "cluster", "--name", name, "--kubeconfig", str(kubeconfig),
                         timeout=timeout, ignore_shutdown=True)

    def clusters(self, timeout: float = 30.0) -> list[str]:
        """Cluster names; kind says "No kind clusters found." on stderr when there are none."""
        out = self._run("get", "clusters", timeout=timeout, ignore_shutdown=True).stdout
        return [line.strip() for line in out.splitlines() if line.strip()]

    def export_logs(self, name: str, directory: Path, timeout: float) -> Result:
        return self._run("export", "logs", str(directory), "--name", name, timeout=timeout,
                         ignore_shutdown=True)

    def load_image_archive(self, name: str, archive: Path, timeout: float) -> Result:
        return self._run("load", "image-archive", str(archive), "--name", name, timeout=timeout)

    def version(self, timeout: float = 10.0) -> str:
        """kind's version, e.g. ``v0.29.0`` (``tools.versions``)."""
        from ksi.tools import versions

        return versions.version("kind", self.runner, self.env, timeout)
