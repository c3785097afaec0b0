"""The one environment of every tool a run starts, built once by the orchestrator.

``base`` is this process's environment with ``NO_PROXY`` extended (``environment``): nerdctl,
liqoctl and the workload get it.  ``kind`` is ``base`` with the bypass4netns nerdctl shim first
on ``PATH`` when ``--bypass4netns`` is on: only kind's own ``nerdctl run`` goes through the shim.
Each wrapper (``Kind``, ``Nerdctl``, ``Liqoctl``) takes its environment from here explicitly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from ksi import environment
from ksi.plan import RunPlan


@dataclass(frozen=True)
class ToolEnv:
    """The environments of one run's tools (read-only mappings)."""

    base: Mapping[str, str]
    kind: Mapping[str, str]

    @classmethod
    def current(cls) -> "ToolEnv":
        """This process's environment as it is (before a plan exists, and outside ``ksi run``)."""
        env = MappingProxyType(dict(os.environ))
        return cls(base=env, kind=env)

    @classmethod
    def for_run(cls, plan: RunPlan, *, bypass4netns: bool,
                liqo_ranges: list[str] | None = None) -> "ToolEnv":
        """Proxies bypassed for the node address, every member's CIDRs and Liqo's ranges
        (``environment.federation_no_proxy``); the shim written into the run directory when
        asked."""
        from ksi.federation import liqo_ranges as default_ranges

        base = environment.with_no_proxy(os.environ, environment.federation_no_proxy(
            plan.api_address, plan.members,
            liqo_ranges if liqo_ranges is not None else default_ranges(())))
        kind = dict(base)
        if bypass4netns:
            environment.write_nerdctl_shim(plan.shim_dir, base,
                                           [plan.pod_subnet, plan.service_subnet])
            kind = environment.with_shim(base, plan.shim_dir)
        return cls(base=MappingProxyType(base), kind=MappingProxyType(kind))

    def bypassing(self, addresses: list[str]) -> "ToolEnv":
        """This environment with ``addresses`` (the other members') added to NO_PROXY."""
        return ToolEnv(base=MappingProxyType(environment.with_no_proxy(self.base, addresses)),
                       kind=MappingProxyType(environment.with_no_proxy(self.kind, addresses)))
