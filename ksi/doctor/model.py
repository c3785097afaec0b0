"""The check model of ``ksi doctor``: a finding with its fix, the thresholds and versions
checked, and the view of the system files the checks read (rooted for tests)."""

from __future__ import annotations

import os
import pwd
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"

#: Tool versions ksi is tested with (setup/versions.env pins kind v0.29.0, nerdctl 2.2.2, kubectl
#: v1.33.1, liqoctl v1.0.0).  Outside this matrix: WARN.
TESTED = {"kind": ">=0.27,<0.30", "nerdctl": ">=2.0", "kubectl": ">=1.31", "liqoctl": "==1.0.x"}
#: Below these ksi cannot work: kind's nerdctl provider needs nerdctl >= 1.7 (kind docs, rootless);
#: ksi peers with liqoctl v1's ``peer`` (v0.x has no such command).
REQUIRED = {"nerdctl": ">=1.7", "liqoctl": ">=1.0"}
#: Only multi-node runs need these: missing or broken is a WARN, not a FAIL.
MULTI_NODE_TOOLS = ("liqoctl",)
TOOL_TIMEOUT = 10.0  # seconds for each ``<tool> version``
LOCK_TIMEOUT = 5.0  # seconds for the lock probe on the shared directory

#: kind refuses a rootless provider without delegation (kind docs: rootless); these five are what
#: rootlesscontaine.rs (cgroup2) and setup/node-*.sh delegate.
CONTROLLERS = ("cpu", "cpuset", "io", "memory", "pids")
#: kind docs: rootless, known issues
MODULES = ("ip_tables", "ip6_tables", "iptable_nat", "ip6table_nat")
INOTIFY = {"max_user_watches": 524288, "max_user_instances": 512}  # kind docs: known issues
SUBIDS = 65536
SHARED_BETWEEN_NODES = "shared between nodes"
NODE_SETUP = "setup/node-*.sh"  # node-debian.sh, node-rhel.sh


@dataclass(frozen=True)
class Check:
    """One finding: ``name`` is the check, ``fix`` says how to repair a WARN or FAIL."""

    name: str
    status: str
    finding: str
    fix: str = ""
    node: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"check": self.name, "status": self.status, "finding": self.finding,
                "fix": self.fix, "node": self.node}


@dataclass(frozen=True)
class SystemView:
    """This node as the checks see it: system files under ``root``, the environment, the user."""

    root: Path = Path("/")
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    uid: int = field(default_factory=os.getuid)
    user: str = ""

    @classmethod
    def from_env(cls, root: Path | str = "/", env: Mapping[str, str] | None = None) -> SystemView:
        env = dict(os.environ if env is None else env)
        uid = os.getuid()
        try:
            user = pwd.getpwuid(uid).pw_name
        except KeyError:
            user = env.get("USER", str(uid))
        return cls(root=Path(root), env=env, uid=uid, user=user)

    def path(self, name: str) -> Path:
        """``name`` (an absolute system path) under the root."""
        return self.root / name.lstrip("/")

    def read(self, name: str) -> str | None:
        try:
            return self.path(name).read_text()
        except (OSError, UnicodeDecodeError):
            return None

    def kernel_release(self) -> str:
        return (self.read("/proc/sys/kernel/osrelease") or os.uname().release).strip()


