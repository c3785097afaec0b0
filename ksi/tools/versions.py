"""Each tool's own version, as the tool prints it, for ``ksi doctor`` and the wrappers.

Formats (read from each tool's source): ``kind v0.29.0 go1.24.2 linux/amd64``
(kind pkg/cmd/kind/version/version.go), ``nerdctl version 2.1.2`` (nerdctl --version, cobra's
version template), kubectl's ``clientVersion.gitVersion`` in ``kubectl version --client -o
json``, ``Client version: v1.0.0`` (liqoctl pkg/liqoctl/version/handler.go).
"""

from __future__ import annotations

import json
import re
from typing import Callable, Mapping

from ksi.exec import Runner


def _line(pattern: str) -> Callable[[str], str]:
    def parse(out: str) -> str:
        match = re.search(pattern, out, re.MULTILINE)
        if match is None:
            raise ValueError(f"no line matches {pattern!r}")
        return match[1]

    return parse


def _kubectl(out: str) -> str:
    return str(json.loads(out)["clientVersion"]["gitVersion"])


#: tool -> (argv, parser of its stdout into a version)
VERSION_COMMANDS: dict[str, tuple[tuple[str, ...], Callable[[str], str]]] = {
    "kind": (("kind", "version"), _line(r"^kind (\S+)")),
    "nerdctl": (("nerdctl", "--version"), _line(r"^nerdctl version (\S+)")),
    "kubectl": (("kubectl", "version", "--client", "-o", "json"), _kubectl),
    "liqoctl": (("liqoctl", "version", "--client"), _line(r"^Client version: (\S+)")),
}


def command(tool: str) -> str:
    """The version command of ``tool``, to paste into a shell."""
    return " ".join(VERSION_COMMANDS[tool][0])


def version(tool: str, runner: Runner, env: Mapping[str, str], timeout: float) -> str:
    """``tool``'s version; ``CommandError`` when it fails, ``ValueError``/``KeyError``/
    ``TypeError`` when its answer has no version in it."""
    argv, parse = VERSION_COMMANDS[tool]
    return parse(runner.run(list(argv), timeout=timeout, env=dict(env)).stdout)
