"""Formatting the findings: one line per check (one table for every node), the summary."""

from __future__ import annotations

from ksi.doctor.model import FAIL, PASS, SHARED_BETWEEN_NODES, WARN, Check


def lines_of(checks: list[Check], nodes: list[str] | None = None) -> list[str]:
    """``STATUS  check: finding`` (+ ``      fix: ...``).  With several nodes, equal results of a
    check are grouped: ``STATUS  check [node1, node2]: finding`` (``[all N nodes]``)."""
    nodes = nodes or []
    groups: dict[str, dict[tuple[str, str, str], list[str]]] = {}
    for c in checks:
        groups.setdefault(c.name, {}).setdefault((c.status, c.finding, c.fix), []).append(c.node)
    out = []
    for name, results in groups.items():
        for (status, finding, fix), where in results.items():
            label = name
            if len(nodes) > 1 and name != SHARED_BETWEEN_NODES:
                label += (f" [all {len(nodes)} nodes]" if sorted(set(where)) == sorted(nodes)
                          else f" [{', '.join(where)}]")
            out.append(f"{status}  {label}: {finding}")
            if fix and status != PASS:
                out.append(f"      fix: {fix}")
    return out


def summary(checks: list[Check]) -> str:
    counts = {s: sum(1 for c in checks if c.status == s) for s in (FAIL, WARN, PASS)}
    return ", ".join(f"{n} {s}" for s, n in counts.items())


