"""Running the user's script: bash, in its own session, with the cluster's environment.

The script runs in a new session and process group.  A stop for ksi (Ctrl-C, SIGTERM from
``scancel`` or the time limit, SIGHUP) is forwarded to the whole group as the same signal;
after the grace period the group is SIGKILLed.  This matters under Slurm's ``proctrack/cgroup``,
where only ksi itself receives SIGTERM.  stdin, stdout and stderr are the user's own.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from ksi.errors import Interrupted, PhaseTimeout
from ksi.exec import terminate_group
from ksi.signals import Shutdown

if TYPE_CHECKING:
    from ksi.plan import RunOptions


def describe(opts: "RunOptions") -> str:
    """The workload in one line, for ``--dry-run``'s plan."""
    if opts.shell is not None:
        return "shell: " + (" ".join(opts.shell) or "$SHELL")
    if opts.manifests:
        return "apply " + ", ".join(f"{d.kind.lower()}/{d.name}" for d in opts.manifests)
    return f"bash {opts.workload} {' '.join(opts.args)}".rstrip()


def run_any(opts: "RunOptions", *, env: Mapping[str, str], shutdown: Shutdown,
            say: Callable[[str], Any], rc_dir: Path, deadline: float | None) -> int:
    """The workload step: ``ksi shell``'s shell (ksi/interactive.py), manifests
    (ksi/manifests.py) or a bash script (below); returns its exit code."""
    if opts.shell is not None:
        from ksi import interactive

        return interactive.run(opts.shell, env=env, cwd=Path.cwd(), rc_dir=rc_dir,
                               shutdown=shutdown, grace=opts.grace, deadline=deadline)
    if opts.manifests:
        from ksi import manifests

        return manifests.run(opts.manifests, env=env, shutdown=shutdown, say=say,
                             deadline=deadline, for_seconds=opts.for_seconds)
    return run(opts.workload, opts.args, env=env, cwd=Path.cwd(), shutdown=shutdown,
               grace=opts.grace, deadline=deadline)


def run(
    script: Path,
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    shutdown: Shutdown,
    grace: float,
    deadline: float | None = None,
) -> int:
    """Run ``bash SCRIPT ARGS...``; return its exit code (128+N when killed by signal N).

    Raises ``Interrupted`` after stopping the script when ksi was asked to stop.  When the
    ``deadline`` (a monotonic time: the job's end minus ``--teardown-margin``) passes, the script
    is stopped the same way (SIGTERM, then SIGKILL after the grace) and ``PhaseTimeout`` says
    why: Slurm would have killed it moments later, and the clusters with nobody to delete them.
    """
    import time

    proc = subprocess.Popen(["bash", str(script), *args], env=dict(env), cwd=cwd,
                            start_new_session=True)
    try:
        while True:
            try:
                code = proc.wait(timeout=0.1)
                return code if code >= 0 else 128 - code
            except subprocess.TimeoutExpired:
                pass
            expired = deadline is not None and time.monotonic() >= deadline
            if shutdown.is_set() or expired:
                sig = shutdown.signum or signal.SIGTERM
                terminate_group(proc.pid, lambda: proc.poll() is None, grace, first=sig)
                proc.wait()
                if shutdown.is_set():
                    raise Interrupted(sig)
                raise PhaseTimeout(
                    "stopped the workload: the job's time limit is near, and the clusters must "
                    "be gone before Slurm kills the step",
                    hint="ask for more --time, or lower --teardown-margin")
    finally:
        if proc.poll() is None:  # an unexpected exception: never leave the script behind
            terminate_group(proc.pid, lambda: proc.poll() is None, 0.5)
            proc.wait()
        _reap_group(proc.pid)


def _reap_group(pgid: int) -> None:
    """Kill what the script left running in its process group (background jobs)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
