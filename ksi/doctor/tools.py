"""Tool checks: each tool on PATH, and its version (``ksi.tools.versions``) within the tested
range."""

from __future__ import annotations

import os
import re
import shutil

from ksi.doctor.model import (
    FAIL,
    MULTI_NODE_TOOLS,
    NODE_SETUP,
    PASS,
    REQUIRED,
    TESTED,
    TOOL_TIMEOUT,
    WARN,
    Check,
    SystemView,
)
from ksi.errors import CommandError, KsiError


# --- the tools -----------------------------------------------------------------------------------
def version_numbers(version: str) -> tuple[int, ...]:
    """``v1.32.4-dispatcher`` -> (1, 32, 4); ValueError when it starts with no number."""
    match = re.match(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?", version.strip())
    if not match:
        raise ValueError(f"not a version: {version!r}")
    return tuple(int(n) for n in match.groups() if n is not None)


def satisfies(version: str, spec: str) -> bool:
    """Whether ``version`` meets every comma-separated clause of ``spec`` (``>=0.27,<0.30``,
    ``==1.0.x``: an ``x`` matches any number from there on)."""
    have = version_numbers(version)
    for clause in spec.split(","):
        match = re.fullmatch(r"\s*(>=|<=|==|!=|>|<)\s*v?([\d.x]+)\s*", clause)
        if not match:
            raise ValueError(f"bad version clause {clause!r} in {spec!r}")
        op, target = match.groups()
        parts = target.split(".")
        if "x" in parts:
            parts = parts[:parts.index("x")]
        want = tuple(int(p) for p in parts)
        mine = (have + (0,) * len(want))[:len(want)]
        ok = {">=": mine >= want, "<=": mine <= want, "==": mine == want, "!=": mine != want,
              ">": mine > want, "<": mine < want}[op]
        if not ok:
            return False
    return True


def check_tool(tool: str, view: SystemView, *, timeout: float = TOOL_TIMEOUT,
               run_version: bool = True) -> Check:
    """``tool`` on PATH, and (``run_version``) its version inside :data:`TESTED`."""
    from ksi.exec import Runner
    from ksi.tools import versions

    optional = tool in MULTI_NODE_TOOLS
    bad = WARN if optional else FAIL
    install = (f"install it ({NODE_SETUP} puts nerdctl, kind, kubectl and liqoctl in "
               "/usr/local/bin) or add its directory to PATH")
    path = shutil.which(tool, path=view.env.get("PATH", os.defpath))
    if path is None:
        return Check(tool, bad, "not found on PATH" + (" (only multi-node runs need it)"
                                                       if optional else ""), install)
    if not run_version:
        return Check(tool, PASS, f"at {path}")
    command = versions.command(tool)
    try:
        version = versions.version(tool, Runner(grace=1.0), view.env, timeout)
        version_numbers(version)
    except CommandError as exc:
        if exc.timed_out:
            return Check(tool, bad, f"`{command}` did not answer within {timeout:g}s",
                         f"run `{command}` to see why it hangs")
        return Check(tool, bad, exc.message, f"run `{command}` to see why")
    except KsiError as exc:
        return Check(tool, bad, exc.message, exc.hint or "")
    except (TypeError, ValueError, KeyError, IndexError):
        return Check(tool, bad, f"cannot read a version from `{command}` ({path})",
                     f"run `{command}`; tested: {TESTED[tool]}")
    where = f"{version} at {path}"
    upgrade = f"install a tested version (setup/versions.env pins one; {NODE_SETUP} installs it)"
    if tool in REQUIRED and not satisfies(version, REQUIRED[tool]):
        return Check(tool, bad, f"{where}: ksi needs {REQUIRED[tool]}", upgrade)
    if not satisfies(version, TESTED[tool]):
        return Check(tool, WARN, f"{where}: not tested with ksi (tested: {TESTED[tool]})", upgrade)
    return Check(tool, PASS, where)


