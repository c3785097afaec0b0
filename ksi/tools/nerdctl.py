"""nerdctl, for what kind does not do itself: the node-image cache (``image inspect``, ``load``,
``pull``, ``save``).  kind drives nerdctl for containers; ksi only touches images."""

from __future__ import annotations

import os
from pathlib import Path

from ksi.exec import Result, Runner


class Nerdctl:
    def __init__(self, runner: Runner, env: dict[str, str] | None = None) -> None:
        self.runner = runner
        self.env = dict(os.environ if env is None else env)

    def _run(self, *args: str, timeout: float, check: bool = True) -> Result:
        return self.runner.run(["nerdctl", *args], timeout=timeout, env=self.env, check=check)

    def image_present(self, ref: str, timeout: float = 30.0) -> bool:
        """``nerdctl image inspect`` exits 1 with "no such image" when the image is absent."""
        return self._run("image", "inspect", ref, timeout=timeout, check=False).returncode == 0

    def load(self, archive: Path, timeout: float) -> Result:
        return self._run("load", "-i", str(archive), timeout=timeout)

    def pull(self, ref: str, timeout: float, all_platforms: bool = False) -> Result:
        return self._run("pull", *(["--all-platforms"] if all_platforms else []), ref,
                         timeout=timeout)

    def save(self, ref: str, archive: Path, timeout: float, all_platforms: bool = False) -> Result:
        return self._run("save", *(["--all-platforms"] if all_platforms else []),
                         "-o", str(archive), ref, timeout=timeout)
