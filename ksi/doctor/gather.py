"""Across nodes (under ``srun`` with more than one task) the checks meet in
``<shared-dir>/doctor/<job>.<step>/``, built on the rendezvous primitives (``ksi.rendezvous``:
the names in ``layout.py``, ``paths.shared_root``/``private_dir`` for the directories,
``create_exclusive`` to write, ``paths.read_private`` to read back):

1. Every rank creates ``<rank>.arrived`` (its node) as soon as it starts, runs its checks, then
   creates ``<rank>.json`` (its checks).  Each file is created exclusively, whole (temp file +
   ``link``), mode 0600: a second rank with the same number (or a leftover of an earlier doctor
   of the same job step) is told so rather than overwriting.
2. Rank 0 waits up to ``--wait`` seconds (from its start) for every ``<rank>.json``.  A rank that
   left no file at all wrote into another directory: the shared directory is not shared between
   nodes.  A rank that arrived but sent no results ran out of time.  Results are read without
   following links and only when they are ours and nobody else can write them; anything else
   is a failure naming the file, and its checks are not shown.
3. Rank 0 prints one table for all nodes and removes the directory.  The other ranks wait (up to
   twice ``--wait``) for their results to be taken; if they are not, they remove their own files,
   print their checks on stderr and fail.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ksi import constants as C
from ksi.errors import KsiError
from ksi.paths import ForeignFile, private_dir, read_private, remove_quietly, shared_root
from ksi.rendezvous.layout import DOCTOR_DIR, create_exclusive, doctor_arrival, doctor_results

if TYPE_CHECKING:
    from ksi.slurm import SlurmContext

from ksi.doctor.checks import node_checks
from ksi.doctor.model import FAIL, PASS, SHARED_BETWEEN_NODES, TOOL_TIMEOUT, Check, SystemView


# --- across nodes --------------------------------------------------------------------------------
@dataclass
class Gathered:
    """What one rank ends with: rank 0 every node's checks plus the cross-node one; the others
    their own, and whether rank 0 took them."""

    checks: list[Check]
    nodes: list[str]
    leader: bool
    collected: bool = True


def _read_results(path: Path) -> list[Check] | str:
    """A rank's checks, or why they are not to be trusted or read."""
    try:
        data = json.loads(read_private(path))  # no link followed; ours; nobody else's
        return [Check(**{"name" if k == "check" else k: str(v) for k, v in item.items()})
                for item in data["checks"]]
    except ForeignFile as exc:
        return f"refused: {exc}"
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return "unreadable"


def across_nodes(rank: int, ntasks: int, node: str, run_id: str, shared_dir: Path,
                 local: Callable[[], list[Check]], *, wait: float,
                 poll: float = 0.1) -> Gathered:
    """Run ``local`` on this rank and meet the other ranks' results (protocol: module docstring)."""
    started = time.monotonic()
    base = Path(os.path.realpath(Path(shared_dir).expanduser()))
    jobdir: Path | None = None
    why = ""
    try:
        parent = private_dir(shared_root(base) / DOCTOR_DIR, what="doctor directory")
        jobdir = private_dir(parent / run_id, what="doctor directory")
        create_exclusive(jobdir / doctor_arrival(rank),
                         json.dumps({"node": node, "pid": os.getpid()}))
    except FileExistsError:
        why = (f"rank {rank} already arrived in {jobdir} (another `ksi doctor` of this job step, "
               "or a leftover: remove that directory)")
        jobdir = None
    except (KsiError, OSError) as exc:
        why = exc.message if isinstance(exc, KsiError) else str(exc)
        jobdir = None
    checks = [Check(c.name, c.status, c.finding, c.fix, node) for c in local()]
    if jobdir is not None:
        results = jobdir / doctor_results(rank)
        try:
            create_exclusive(results, json.dumps({"node": node,
                                                  "checks": [c.as_dict() for c in checks]}))
        except OSError as exc:  # rank 0 gave up and removed the directory meanwhile
            why, jobdir = f"cannot write {results}: {exc.strerror or exc}", None
    if jobdir is None:
        fail = Check(SHARED_BETWEEN_NODES, FAIL, f"rank {rank} cannot take part: {why}",
                     "fix the shared directory (see its check)", node)
        return Gathered(checks + [fail], [node], leader=rank == 0, collected=False)
    if rank == 0:
        return _collect(jobdir, ntasks, checks, node, started + wait, wait, poll)
    return _hand_in(jobdir, rank, checks, node, started + 2 * wait, poll)


def _collect(jobdir: Path, ntasks: int, mine: list[Check], node: str, deadline: float,
             wait: float, poll: float) -> Gathered:
    try:
        while True:
            present = {r for r in range(ntasks) if (jobdir / doctor_results(r)).exists()}
            if len(present) == ntasks or time.monotonic() >= deadline:
                break
            time.sleep(poll)
    except BaseException:  # Ctrl-C, SIGTERM: leave nothing behind
        shutil.rmtree(jobdir, ignore_errors=True)
        raise
    arrived = {r for r in range(ntasks) if (jobdir / doctor_arrival(r)).exists()}
    checks, nodes = list(mine), [node]
    cross: list[Check] = []
    for r in sorted(present - {0}):
        theirs = _read_results(jobdir / doctor_results(r))
        if isinstance(theirs, str):
            if theirs == "unreadable":
                finding, fix = f"rank {r} wrote unreadable results", "run `ksi doctor` again"
            else:
                finding = f"rank {r}'s results {theirs}"
                fix = "check who can write to --shared-dir and its parents"
            cross.append(Check(SHARED_BETWEEN_NODES, FAIL, finding, fix, node))
            continue
        checks += theirs
        nodes += [c.node for c in theirs[:1]]
    shutil.rmtree(jobdir, ignore_errors=True)
    try:
        jobdir.parent.rmdir()  # the doctor directory, when no other run uses it
    except OSError:
        pass
    unseen = sorted(set(range(ntasks)) - present - arrived)
    late = sorted(arrived - present)
    if unseen:
        ranks = f"rank{'s' if len(unseen) > 1 else ''} {', '.join(map(str, unseen))}"
        cross.append(Check(SHARED_BETWEEN_NODES, FAIL, f"the shared directory is not shared "
                           f"between nodes ({ranks} not seen in {jobdir} after {wait:g}s)",
                           "put --shared-dir (KSI_SHARED_DIR) on a filesystem every node "
                           "mounts at the same path (NFS, Lustre, GPFS; your home directory)",
                           node))
    if late:
        cross.append(Check(SHARED_BETWEEN_NODES, FAIL, f"rank {', '.join(map(str, late))} "
                           f"arrived but sent no results within {wait:g}s",
                           f"raise --wait ({C.ENV['doctor_wait']}); see that rank's output",
                           node))
    if not cross:
        cross.append(Check(SHARED_BETWEEN_NODES, PASS, f"all {ntasks} ranks met in {jobdir}",
                           node=node))
    return Gathered(checks + cross, nodes, leader=True)


def _hand_in(jobdir: Path, rank: int, mine: list[Check], node: str, deadline: float,
             poll: float) -> Gathered:
    results = jobdir / doctor_results(rank)
    try:
        while time.monotonic() < deadline:
            if not results.exists():  # rank 0 took it and cleaned up
                return Gathered(mine, [node], leader=False)
            time.sleep(poll)
    finally:
        remove_quietly(results)
        remove_quietly(jobdir / doctor_arrival(rank))
        for empty in (jobdir, jobdir.parent):
            try:
                empty.rmdir()
            except OSError:
                break
    fail = Check(SHARED_BETWEEN_NODES, FAIL, f"rank 0 did not take rank {rank}'s results from "
                 f"{jobdir}: the shared directory may not be shared between nodes",
                 "see rank 0's output; put --shared-dir (KSI_SHARED_DIR) on a filesystem every "
                 "node mounts at the same path", node)
    return Gathered(mine + [fail], [node], leader=False, collected=False)


def diagnose(view: SystemView, ctx: SlurmContext, shared_dir: Path, address: str | None, *,
             wait: float, tool_timeout: float = TOOL_TIMEOUT) -> Gathered:
    """This node's checks; under srun with several tasks, met with the other nodes' checks."""
    from ksi.slurm import node_address

    where = address or node_address(ctx)

    def local() -> list[Check]:
        return node_checks(view, shared_dir, where, tool_timeout=tool_timeout)

    if ctx.multi_node:
        return across_nodes(ctx.rank, ctx.ntasks, ctx.node_name, ctx.run_id, shared_dir, local,
                            wait=wait)
    checks = [Check(c.name, c.status, c.finding, c.fix, ctx.node_name) for c in local()]
    return Gathered(checks, [ctx.node_name], leader=True)
