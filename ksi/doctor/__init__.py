"""``ksi doctor``: what this node needs for ksi, one finding per check, each with its fix.

A package: ``model`` (the check, the system view), ``system``, ``tools`` and ``site`` (the
checks), ``checks`` (all of them, and the fast subset), ``format`` (lines, summary),
``gather`` (across nodes).  Everything public is re-exported here.

Every check is a function returning a :class:`Check`; system files are read only through a
:class:`SystemView`, whose root (``--root``/``KSI_DOCTOR_ROOT``, default ``/``) lets the tests point
the checks at prepared states (``tests/cli/doctor/states/``).  The shared directory and the ports are
probed for real, and the tools are run through :class:`ksi.exec.Runner` with a short timeout.

Across nodes (under ``srun`` with more than one task) the checks meet in
``<shared-dir>/doctor/<job>.<step>/``, on the rendezvous primitives; the protocol is in
``gather.py``.

Not verified here: that kind can really start a node container (only a real ``kind create
cluster`` shows that), sites that hand out subordinate ids through NSS (sssd) rather than
``/etc/subuid``, AppArmor/SELinux policies, and the network between nodes (Liqo's UDP gateway).
"""

from __future__ import annotations

from ksi.doctor.checks import (
    environment_problem,
    fast_checks,
    node_checks,
    raise_on_failure,
)
from ksi.doctor.format import (
    lines_of,
    summary,
)
from ksi.doctor.gather import (
    Gathered,
    across_nodes,
    diagnose,
)
from ksi.doctor.model import (
    CONTROLLERS,
    FAIL,
    INOTIFY,
    LOCK_TIMEOUT,
    MODULES,
    MULTI_NODE_TOOLS,
    NODE_SETUP,
    PASS,
    REQUIRED,
    SHARED_BETWEEN_NODES,
    SUBIDS,
    TESTED,
    TOOL_TIMEOUT,
    WARN,
    Check,
    SystemView,
)
from ksi.doctor.site import (
    check_ports,
    check_shared_dir,
    filesystem_type,
    lock_probe,
)
from ksi.doctor.system import (
    check_cgroup_v2,
    check_containerd,
    check_delegation,
    check_inotify,
    check_linger,
    check_modules,
    check_python,
    check_subids,
    loaded_modules,
)
from ksi.doctor.tools import (
    check_tool,
    satisfies,
    version_numbers,
)

__all__ = [
    "CONTROLLERS",
    "Check",
    "FAIL",
    "Gathered",
    "INOTIFY",
    "LOCK_TIMEOUT",
    "MODULES",
    "MULTI_NODE_TOOLS",
    "NODE_SETUP",
    "PASS",
    "REQUIRED",
    "SHARED_BETWEEN_NODES",
    "SUBIDS",
    "SystemView",
    "TESTED",
    "TOOL_TIMEOUT",
    "WARN",
    "across_nodes",
    "check_cgroup_v2",
    "check_containerd",
    "check_delegation",
    "check_inotify",
    "check_linger",
    "check_modules",
    "check_python",
    "check_ports",
    "check_shared_dir",
    "check_subids",
    "check_tool",
    "diagnose",
    "environment_problem",
    "fast_checks",
    "filesystem_type",
    "lines_of",
    "loaded_modules",
    "lock_probe",
    "node_checks",
    "raise_on_failure",
    "satisfies",
    "summary",
    "version_numbers",
]
