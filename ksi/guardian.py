"""The guardian: deletes a member's cluster when the ksi process that owns it is gone.

Why it exists: rootless kind containers belong to the user's containerd, a systemd *user*
service, not to the Slurm job.  Slurm's final SIGKILL (after KillWait, or about 50 ms after a
double Ctrl-C on ``srun``) kills ksi, never its cluster.  So before ``kind create`` ksi starts a
guardian *outside the job*: a transient user unit, ``systemd-run --user``, where rootless
containerd runs too.  The guardian

* writes its pid to ``<run dir>/guardian.pid`` (ksi stops it with SIGTERM at teardown);
* every second reads the cluster's registry record: gone (ksi tore down) or ``kept``
  (``--keep``) -> it exits; owner process gone (pid and start time, see ``registry``) -> it
  deletes the cluster exactly as ``ksi delete`` would (kind delete, run files, the member's
  secret and lock in the job directory), marks the member ``failed`` in the job directory so
  the other members stop waiting for it (a dead leader's run gets a failed outcome), and exits.

A unit's environment is the user manager's, not ours, so ksi passes what kind and nerdctl need
(``PATH``, ``HOME``, ``XDG_RUNTIME_DIR``, proxies, ``KIND_*``/``KSI_*``/``NERDCTL_*``/
``CONTAINERD_*``) with ``--setenv``.  No credential is in that list.

Where there is no user systemd (``systemd-run`` missing, or no user bus) ksi says so once and
relies on the two other nets: every ``ksi run`` reaps this user's stale clusters on its node
first, and ``ksi delete --stale`` (see ``reaper``).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from ksi import registry
from ksi.errors import KsiError
from ksi.exec import Runner
from ksi.paths import write_private

POLL = 1.0
PID_FILE = "guardian.pid"
PASSED_ENV = ("PATH", "HOME", "USER", "LOGNAME", "XDG_RUNTIME_DIR", "TMPDIR", "HTTP_PROXY",
              "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")
PASSED_PREFIXES = ("KIND_", "KSI_", "NERDCTL_", "CONTAINERD_")


def unit_name(cluster: str) -> str:
    return f"ksi-guard-{cluster}"


def start(runner: Runner, cluster: str, env: dict[str, str]) -> str | None:
    """Start the guardian of ``cluster``; return None, or why it could not be started."""
    from ksi.tools.systemd_run import SystemdRun

    passed = {k: v for k, v in env.items() if k in PASSED_ENV or k.startswith(PASSED_PREFIXES)}
    try:
        SystemdRun(runner, env).start_unit(
            unit_name(cluster), [sys.executable, "-m", "ksi.guardian", cluster], passed)
    except KsiError as exc:
        return exc.message
    return None


def stop(run_dir: Path, wait: float = 2.0) -> None:
    """Stop the guardian (ksi's own teardown is under way); never fails."""
    try:
        pid = int((run_dir / PID_FILE).read_text().strip())
        if pid == os.getpid():
            return  # the guardian itself, deleting its cluster
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        return
    end = time.monotonic() + wait
    while time.monotonic() < end and Path(f"/proc/{pid}").exists():
        time.sleep(0.05)


def watch(cluster: str) -> int:
    """The guardian's loop (runs in the transient unit)."""
    from ksi import constants as C
    from ksi.cluster import teardown
    from ksi.tools.kind import Kind

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    record = registry.load(cluster)
    if record is None:
        return 0
    try:
        write_private(Path(record.run_dir) / PID_FILE, str(os.getpid()))
    except OSError:
        return 0
    while True:
        record = registry.load(cluster)
        if record is None or record.kept:
            return 0
        if registry.owner_alive(record) is False:
            print(f"ksi guardian: the owner of {cluster} (pid {record.pid}) is gone; deleting it",
                  flush=True)
            try:
                teardown(Kind(Runner(grace=3.0)), cluster, record, timeout=C.TEARDOWN_TIMEOUT)
            except KsiError as exc:
                print(f"ksi guardian: could not delete {cluster}: {exc.message}", flush=True)
                return 1
            print(f"ksi guardian: deleted {cluster}", flush=True)
            if record.job_dir and record.job_id:
                from ksi.rendezvous import mark_dead

                mark_dead(Path(record.job_dir), record.rank, leader=record.leader,
                          why=f"was killed on {record.host}; its guardian deleted its cluster")
            return 0
        time.sleep(POLL)


def main() -> int:
    parser = argparse.ArgumentParser(prog="ksi.guardian", description=__doc__.splitlines()[0])
    parser.add_argument("cluster")
    return watch(parser.parse_args().cluster)


if __name__ == "__main__":
    sys.exit(main())
