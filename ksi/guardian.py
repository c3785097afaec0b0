"""The guardian: deletes a member's cluster when the ksi process that owns it is gone.

Why it exists: rootless kind containers belong to the user's containerd, a systemd *user*
service, not to the Slurm job.  Slurm's final SIGKILL (after KillWait, or about 50 ms after a
double Ctrl-C on ``srun``) kills ksi, never its cluster.  So before ``kind create`` ksi starts a
guardian *outside the job*: a transient user unit, ``systemd-run --user``, where rootless
containerd runs too.  The guardian

* writes its pid to ``<run dir>/guardian.pid`` (ksi stops it with SIGTERM at teardown);
* every second reads the cluster's registry record: gone (ksi tore down) or ``kept``
  (``--keep``) -> it exits; owner process gone (pid and start time, see ``registry``) -> it
  ends the workload and whatever it started (every process of ours whose environment holds
  ``K8S_CLUSTER_NAME=<cluster>``: the workload's process group, its daemons, even those that
  left the group -- they hold the cluster's token), deletes the cluster exactly as ``ksi delete`` would (kind delete, run files, the member's
  secret and lock in the job directory) and exits.  Before the delete it marks the member
  ``failed`` in the job directory, so the other members stop waiting for it at once rather than
  a delete later (a dead leader's run gets a failed outcome).

A unit's environment is the user manager's, not ours, so ksi passes what kind and nerdctl need
(``PATH``, ``HOME``, ``XDG_RUNTIME_DIR``, ``KIND_*``/``KSI_*``/``NERDCTL_*``/``CONTAINERD_*``)
through ``--property=EnvironmentFile=<run dir>/guardian.env``, a 0600 file in the private run
directory -- never ``--setenv``, whose values every user of the node reads in
``/proc/<pid>/cmdline``.  Proxies are not passed at all: deleting a kind cluster talks only to
the local containerd, and a proxy URL may hold a password.

Where there is no user systemd (``systemd-run`` missing, or no user bus) ksi says so once and
relies on the two other nets: every ``ksi run`` reaps this user's stale clusters on its node
first, and ``ksi delete --stale`` (see ``reaper``).
"""

from __future__ import annotations

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
ENV_FILE = "guardian.env"
PASSED_ENV = ("PATH", "HOME", "USER", "LOGNAME", "XDG_RUNTIME_DIR", "TMPDIR", "PYTHONPATH")
PASSED_PREFIXES = ("KIND_", "KSI_", "NERDCTL_", "CONTAINERD_")
#: Characters systemd's env-file parser takes as escaped inside double quotes
#: (systemd src/basic/env-file.c, SHELL_NEED_ESCAPE).
_NEED_ESCAPE = '"\\`$'


def unit_name(cluster: str) -> str:
    return f"ksi-guard-{cluster}"


def env_file_text(env: dict[str, str]) -> str:
    """The variables the guardian needs, as a systemd ``EnvironmentFile`` (double-quoted)."""
    passed = sorted(k for k in env if k in PASSED_ENV or k.startswith(PASSED_PREFIXES))
    lines = []
    for key in passed:
        value = env[key]
        if "\n" in value or not key.replace("_", "a").isalnum():
            continue  # cannot be written as one line; nothing the guardian needs
        quoted = "".join("\\" + c if c in _NEED_ESCAPE else c for c in value)
        lines.append(f'{key}="{quoted}"\n')
    return "".join(lines)


def start(runner: Runner, cluster: str, env: dict[str, str]) -> str | None:
    """Start the guardian of ``cluster``; return None, or why it could not be started.

    The cluster's registry record (written before) names the private run directory, where the
    guardian's environment file goes."""
    record = registry.load(cluster)
    if record is None:
        return "the cluster has no registry record"
    from ksi.tools.systemd_run import SystemdRun

    env_file = write_private(Path(record.run_dir) / ENV_FILE, env_file_text(env))
    try:
        SystemdRun(runner, env).start_unit(
            unit_name(cluster), [sys.executable, "-m", "ksi.guardian", cluster], env_file)
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


def workload_processes(cluster: str) -> list[int]:
    """Our processes that inherited the workload's environment of ``cluster``."""
    marker = f"\0K8S_CLUSTER_NAME={cluster}\0".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if proc.stat().st_uid != os.getuid():
                continue
            environ = b"\0" + (proc / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ:
            found.append(int(proc.name))
    return found


def end_workload(cluster: str, grace: float = 2.0) -> int:
    """SIGTERM, then SIGKILL after ``grace``, what ``workload_processes`` finds; how many."""
    pids = workload_processes(cluster)
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 0.0)):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        end = time.monotonic() + wait
        while time.monotonic() < end and workload_processes(cluster):
            time.sleep(0.05)
        pids = workload_processes(cluster)
        if not pids:
            break
    return len(pids)


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
            end_workload(cluster)
            # the news first: the other members stop a delete's time (seconds) earlier
            if record.job_dir and record.job_id:
                from ksi.rendezvous import mark_dead

                mark_dead(Path(record.job_dir), record.rank, leader=record.leader,
                          why=f"was killed on {record.host}; its guardian deletes its cluster")
            try:
                teardown(Kind(Runner(grace=3.0)), cluster, record, timeout=C.TEARDOWN_TIMEOUT)
            except KsiError as exc:
                print(f"ksi guardian: could not delete {cluster}: {exc.message}", flush=True)
                return 1
            print(f"ksi guardian: deleted {cluster}", flush=True)
            return 0
        time.sleep(POLL)


def main() -> int:
    import argparse  # lazy: `ksi run` imports this module only to start the guardian

    parser = argparse.ArgumentParser(prog="ksi.guardian", description=__doc__.splitlines()[0])
    parser.add_argument("cluster")
    return watch(parser.parse_args().cluster)


if __name__ == "__main__":
    sys.exit(main())
