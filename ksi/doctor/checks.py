"""Every check of a node, in the order they are printed; the fast subset ``ksi run`` uses."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ksi.doctor.format import lines_of
from ksi.doctor.model import FAIL, PASS, TOOL_TIMEOUT, Check, SystemView
from ksi.doctor.site import check_ports, check_shared_dir
from ksi.doctor.system import (
    check_cgroup_v2,
    check_containerd,
    check_delegation,
    check_inotify,
    check_linger,
    check_modules,
    check_python,
    check_subids,
)
from ksi.doctor.tools import check_tool
from ksi.errors import EnvironmentProblem


# --- putting them together -----------------------------------------------------------------------
def node_checks(view: SystemView, shared_dir: Path, address: str, *,
                tool_timeout: float = TOOL_TIMEOUT) -> list[Check]:
    """Every check of this node, in the order they are printed."""
    checks = [check_python(), check_cgroup_v2(view), check_delegation(view),
              *check_modules(view), check_inotify(view), check_containerd(view),
              check_linger(view), check_subids(view)]
    from ksi.sitechecks import site_checks
    from ksi.tools.versions import VERSION_COMMANDS

    checks += site_checks(view, tool_timeout)

    checks += [check_tool(tool, view, timeout=tool_timeout) for tool in VERSION_COMMANDS]
    checks += [check_shared_dir(shared_dir, view), check_ports(address)]
    return checks


def fast_checks(shared_dir: Path, *, multi_node: bool = False,
                view: SystemView | None = None) -> list[Check]:
    """The cheap subset ``ksi run`` runs first: nerdctl, kind, kubectl (and liqoctl when
    ``multi_node``) on PATH, cgroup v2, XDG_RUNTIME_DIR and the D-Bus session bus, the shared
    directory private and writable.  No
    subprocess, no lock, no wait; creates the shared directory (0700) when missing."""
    view = view or SystemView.from_env()
    checks = [check_tool(tool, view, run_version=False) for tool in ("nerdctl", "kind", "kubectl")]
    if multi_node:
        liqoctl = check_tool("liqoctl", view, run_version=False)
        checks.append(liqoctl if liqoctl.status == PASS else
                      Check(liqoctl.name, FAIL, "not found on PATH (multi-node runs need it)",
                            liqoctl.fix))
    from ksi.sitechecks import check_session

    return checks + [check_cgroup_v2(view), check_session(view),
                     check_shared_dir(shared_dir, view, lock=False)]


def environment_problem(checks: Iterable[Check]) -> EnvironmentProblem | None:
    """The failing checks as one ``EnvironmentProblem`` (the first one's finding and fix; all of
    them in the detail shown with -v), or None when nothing failed."""
    failed = [c for c in checks if c.status == FAIL]
    if not failed:
        return None
    first = failed[0]
    message = f"{first.name}: {first.finding}"
    if len(failed) > 1:
        message += f" (and {', '.join(c.name for c in failed[1:])}: see `ksi doctor`)"
    return EnvironmentProblem(message, hint=first.fix or "run `ksi doctor`",
                              detail="\n".join(line for c in failed for line in lines_of([c])))


def raise_on_failure(checks: Iterable[Check]) -> None:
    """Raise :func:`environment_problem` when any check failed (exit code 3)."""
    problem = environment_problem(checks)
    if problem is not None:
        raise problem


