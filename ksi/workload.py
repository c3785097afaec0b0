"""Running the user's script: in its own session, with the cluster's environment.

How it is run: an *executable* workload (``chmod +x``) is executed directly, so its shebang
chooses the interpreter (``#!/usr/bin/env python3``); a workload that is not executable is run
with ``bash`` (the original KSI ran every script with bash, and its scripts keep working).
Before anything is created, ``check`` refuses a workload that cannot run: missing (exit 127),
a directory or unreadable (126), an executable whose shebang names a missing interpreter (127)
or one that cannot be executed (126) -- the codes of env(1).

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

from ksi.errors import Interrupted, PhaseTimeout, WorkloadNotFound, WorkloadNotRunnable
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
    import shlex

    return shlex.join(argv_of(opts.workload, opts.args))


def run_any(opts: "RunOptions", *, env: Mapping[str, str], shutdown: Shutdown,
            say: Callable[[str], Any], rc_dir: Path, deadline: float | None) -> int:
    """The workload step: ``ksi shell``'s shell (ksi/interactive.py), manifests
    (ksi/manifests/) or a bash script (below); returns its exit code."""
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


def check(script: Path) -> Path:
    """Refuse a workload that cannot be run, before anything is created; return its path."""
    try:
        os.stat(script)
    except FileNotFoundError:
        raise WorkloadNotFound(f"workload {script} does not exist",
                               hint="give the path of a script") from None
    except OSError as exc:  # ENAMETOOLONG, ELOOP, ENOTDIR, EACCES on a parent
        raise WorkloadNotRunnable(f"cannot look at workload {script}: {exc.strerror}",
                                  hint="give a shorter or accessible path") from None
    if os.path.isdir(script):
        raise WorkloadNotRunnable(f"workload {script} is a directory",
                                  hint="give the path of a script inside it")
    if not os.access(script, os.R_OK):
        raise WorkloadNotRunnable(f"workload {script} is not readable", hint=f"chmod u+r {script}")
    interpreter = shebang(script) if os.access(script, os.X_OK) else None
    if interpreter is not None:
        if not os.path.exists(interpreter):
            raise WorkloadNotFound(f"workload {script} is executable and its shebang names "
                                   f"{interpreter}, which does not exist",
                                   hint=f"fix its first line, or `chmod -x {script}` to run it "
                                   "with bash")
        if not os.access(interpreter, os.X_OK) or os.path.isdir(interpreter):
            raise WorkloadNotRunnable(f"workload {script} is executable and its shebang names "
                                      f"{interpreter}, which cannot be executed",
                                      hint=f"fix its first line, or `chmod -x {script}` to run "
                                      "it with bash")
    return script


def shebang(script: Path) -> str | None:
    """The interpreter path on the ``#!`` line of ``script``, or None (no shebang: the kernel
    would refuse it with ENOEXEC, and we run it with bash, as shells do)."""
    try:
        with open(script, "rb") as handle:
            first = handle.readline(256)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    words = first[2:].split()
    return words[0].decode(errors="replace") if words else None


def argv_of(script: Path, args: Sequence[str]) -> list[str]:
    """Executable with a shebang: run it by itself (its interpreter); else ``bash SCRIPT``."""
    if os.access(script, os.X_OK) and shebang(script) is not None:
        return [str(script), *args]
    return ["bash", str(script), *args]


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
    """Run the script (see ``argv_of``); return its exit code (128+N when killed by signal N).

    Raises ``Interrupted`` after stopping the script when ksi was asked to stop.  When the
    ``deadline`` (a monotonic time: the job's end minus ``--teardown-margin``) passes, the script
    is stopped the same way (SIGTERM, then SIGKILL after the grace) and ``PhaseTimeout`` says
    why: Slurm would have killed it moments later, and the clusters with nobody to delete them.
    """
    import time

    try:
        proc = subprocess.Popen(argv_of(script, args), env=dict(env), cwd=cwd,
                                start_new_session=True)
    except FileNotFoundError as exc:  # changed since `check`: as env(1) would exit
        raise WorkloadNotFound(f"cannot run workload {script}: {exc.strerror}") from None
    except OSError as exc:
        raise WorkloadNotRunnable(f"cannot run workload {script}: {exc.strerror}") from None
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
