"""Finding and deleting this user's ksi clusters on this node: ``ksi list``, ``ksi delete``, and
the reaping of stale clusters that every ``ksi run`` does first.

kind says which clusters exist; the registry says who owns them (see ``registry``).  Deletion
keeps going past errors and reports them all, like ``kind delete clusters``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from ksi import constants as C
from ksi import registry
from ksi.errors import KsiError
from ksi.plan import parse_cluster_name
from ksi.registry import JobState, Record
from ksi.tools.kind import Kind


@dataclass(frozen=True)
class Entry:
    name: str
    record: Record | None
    state: str  # alive / stale / kept / unknown

    @property
    def owner(self) -> str:
        if self.record is not None and self.record.job_id:
            return f"job {self.record.job_id}.{self.record.step_id}"
        if self.record is not None:
            return f"pid {self.record.pid}@{self.record.host}"
        parsed = parse_cluster_name(self.name)
        return parsed.owner if parsed is not None else "standalone"

    @property
    def age(self) -> str:
        return registry.age(self.record.created) if self.record else "?"


def inventory(kind: Kind, job_state: JobState) -> list[Entry]:
    """This user's ksi clusters on this node.  Without kind on PATH and without any cluster
    record here, nothing of ksi's exists: the answer is "none", not "kind not found"."""
    if shutil.which("kind", path=kind.env.get("PATH")) is None and \
            not any(registry.records_dir().glob("*.json")):
        return []
    names = [n for n in kind.clusters() if n.startswith(C.CLUSTER_PREFIX)]
    entries = []
    for name in names:
        record = registry.load(name)
        entries.append(Entry(name, record, registry.liveness(name, record, job_state)))
    return entries


def delete_one(kind: Kind, name: str, record: Record | None) -> None:
    """Delete a cluster and everything ksi kept for it on this node (``cluster.teardown``)."""
    from ksi.cluster import teardown

    teardown(kind, name, record, timeout=C.TEARDOWN_TIMEOUT)


def reap(kind: Kind, entries: list[Entry]) -> tuple[list[str], list[str]]:
    """Delete the given clusters; return (deleted names, one error line per failure)."""
    deleted, errors = [], []
    for entry in entries:
        try:
            delete_one(kind, entry.name, entry.record)
            deleted.append(entry.name)
        except KsiError as exc:
            errors.append(f"{entry.name}: {exc.message}")
    return deleted, errors
