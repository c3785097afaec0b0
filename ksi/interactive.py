"""``ksi shell``: the bring-up of ``ksi run``, then the user's shell (or a command) on the cluster.

Roles.  Under ``srun --pty`` only task 0 has the terminal, so in shell mode **rank 0 is the
leader**: it alone takes part in the election (it cannot lose it), the other ranks wait for its
``leader.json`` and become followers.  The federation is the same as for ``ksi run`` (the leader
peers with every follower), so the shell sees every member's node.  Forcing the leader, rather
than running the shell on a follower with the leader's credentials, keeps every secret on the
node that made it.

The shell.  ``$SHELL`` (``/bin/sh`` when unset), or the command after ``--``, runs in the current
directory with the environment of a workload (``KUBECONFIG``, ``K8S_CLUSTER_*``, ``K8S_PORT``,
``KSI_NAMESPACE``, ...) plus ``KSI_PROMPT`` = ``(ksi:CLUSTER) ``.  An interactive bash gets an rc
file that reads ``~/.bashrc`` and then puts ``KSI_PROMPT`` in front of ``PS1``; other shells get
``PS1`` in their environment (zsh and fish users: use ``$KSI_PROMPT`` in their own prompt).

The terminal.  When stdin is a terminal, the shell runs in ksi's session but in its own process
group, made the terminal's foreground group (``tcsetpgrp``) before it starts: Ctrl-C and Ctrl-Z
go to the shell and its foreground job, never to ksi, which waits in the background group.
Leaving the shell (``exit``, Ctrl-D) ends the run with the shell's exit code and the usual
teardown; a hang-up (SIGHUP to ksi, the terminal's controlling process under ``srun --pty``),
SIGTERM or the job's time limit stop the shell's group like a workload's and tear down.  Without a
terminal (``sbatch``), a command is required and runs like a script.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Mapping, Sequence

from ksi.errors import Interrupted, PhaseTimeout, UsageError
from ksi.exec import terminate_group
from ksi.paths import write_private
from ksi.signals import Shutdown

PROMPT = "(ksi:{cluster}) "
_BASHRC = """# written by ksi shell: your ~/.bashrc, then the cluster in the prompt
if [ -f ~/.bashrc ]; then . ~/.bashrc; fi
PS1="${KSI_PROMPT}${PS1-\\s-\\v\\$ }"
"""


def check(command: Sequence[str], rank: int = 0) -> None:
    """Bad input before anything is created: no terminal and no command (on rank 0, which runs
    the shell; under ``srun --pty`` the other tasks have no terminal, and need none)."""
    if rank == 0 and not command and not os.isatty(sys.stdin.fileno()):
        raise UsageError("ksi shell has no terminal to give a shell to (stdin is not a terminal)",
                         hint="run it under `srun --pty`, or give a command: ksi shell -- CMD ARGS")


def elect(job, rank: int, node: str, *, timeout: float, shutdown: Shutdown) -> bool:  # type: ignore[no-untyped-def]
    """Shell mode's election: rank 0 leads (it has the terminal); the others wait for it."""
    if rank == 0:
        return bool(job.elect(node))
    deadline = time.monotonic() + timeout
    while job.leader() is None:  # rank 0 writes leader.json when it takes the lock
        shutdown.check()
        if time.monotonic() > deadline:
            raise PhaseTimeout(f"rank 0 (the shell's task) did not take the lead in {job.path} "
                               f"after {timeout:.0f}s",
                               hint="see rank 0's output; is --shared-dir on a filesystem all nodes share?")
        shutdown.wait(0.25)
    return False


def _argv(command: Sequence[str], env: dict[str, str], rc_dir: Path, interactive: bool) -> list[str]:
    if command:
        return list(command)
    shell = os.environ.get("SHELL") or "/bin/sh"
    name = os.path.basename(shell)
    if interactive and name == "bash":
        rc = rc_dir / "ksi-shell.bashrc"
        write_private(rc, _BASHRC)
        return [shell, "--rcfile", str(rc), "-i"]
    if name not in ("zsh", "fish"):
        env["PS1"] = env["KSI_PROMPT"] + "$ "
    return [shell, "-i"] if interactive else [shell]


def _take_terminal(fd: int, pgrp: int) -> None:
    """Make ``pgrp`` the terminal's foreground group (a background caller must ignore SIGTTOU)."""
    old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(fd, pgrp)
    except OSError:
        pass  # the terminal is gone (hang-up): nothing to give back
    finally:
        signal.signal(signal.SIGTTOU, old)


def run(command: Sequence[str], *, env: Mapping[str, str], cwd: Path, rc_dir: Path,
        shutdown: Shutdown, grace: float, deadline: float | None = None) -> int:
    """Run the shell (or command); return its exit code (128+N when killed by signal N)."""
    env = dict(env)
    env["KSI_PROMPT"] = PROMPT.format(cluster=env.get("K8S_CLUSTER_NAME", "ksi"))
    fd = sys.stdin.fileno()
    tty = os.isatty(fd)
    argv = _argv(command, env, rc_dir, tty)
    if tty:
        def child() -> None:  # runs in the child before exec: own group, in the foreground
            os.setpgid(0, 0)
            _take_terminal(fd, os.getpgrp())

        proc = subprocess.Popen(argv, env=env, cwd=cwd, preexec_fn=child)  # noqa: PLW1509
        try:
            os.setpgid(proc.pid, proc.pid)
        except OSError:
            pass  # the child did it already (or is gone)
        _take_terminal(fd, proc.pid)
    else:
        proc = subprocess.Popen(argv, env=env, cwd=cwd, start_new_session=True)
    try:
        while True:
            try:
                code = proc.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                pass
            else:
                if shutdown.is_set():  # a hang-up: the shell saw its terminal go, and ended
                    raise Interrupted(shutdown.signum or signal.SIGHUP)
                return code if code >= 0 else 128 - code
            expired = deadline is not None and time.monotonic() >= deadline
            if shutdown.is_set() or expired:
                sig = shutdown.signum or signal.SIGTERM
                # an interactive shell ignores SIGTERM and SIGINT: SIGHUP ends it (and its jobs)
                first = signal.SIGHUP if tty else sig
                terminate_group(proc.pid, lambda: proc.poll() is None, grace, first=first)
                proc.wait()
                if shutdown.is_set():
                    raise Interrupted(sig)
                raise PhaseTimeout("stopped the shell: the job's time limit is near, and the "
                                   "clusters must be gone before Slurm kills the step",
                                   hint="ask for more --time, or lower --teardown-margin")
    finally:
        if proc.poll() is None:
            terminate_group(proc.pid, lambda: proc.poll() is None, 0.5, first=signal.SIGHUP)
            proc.wait()
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # what the shell left running in its group
        except (ProcessLookupError, PermissionError):
            pass
        if tty:
            _take_terminal(fd, os.getpgrp())
