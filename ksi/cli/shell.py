"""``ksi shell``: bring up the cluster(s) like ``ksi run``, then a shell on the cluster."""

from __future__ import annotations

import click

from ksi.cli._common import runs_workload
from ksi.cli.run import run as _run

#: ``ksi run``'s options, minus what only a workload has (one definition of every option)
_SHARED = [p for p in _run.params if p.name not in ("workload", "args", "for_seconds")]


def _shell(command: tuple[str, ...], **options: object) -> int:
    """Bring up the cluster(s) like `ksi run`, then give you a shell on it; leaving the shell
    (exit, Ctrl-D) tears everything down.

    \b
    srun -N3 --pty ksi shell          inside salloc: your $SHELL on the task with the terminal
    ksi shell                         the same on this node alone, without Slurm
    ksi shell -- kubectl get nodes    a command instead (no terminal needed, e.g. sbatch)

    The shell has the workload's environment (KUBECONFIG, K8S_CLUSTER_*, K8S_PORT,
    KSI_NAMESPACE, ...) and a prompt showing the cluster (KSI_PROMPT).  Ctrl-C goes to the
    shell's foreground job, not to ksi.  Under srun, rank 0 (the task with the terminal) is the
    leader.  ksi exits with the shell's exit code.
    """
    from pathlib import Path

    from ksi.orchestrator import run_member
    from ksi.plan import RunOptions

    import dataclasses

    keys = {f.name for f in dataclasses.fields(RunOptions)}
    opts = RunOptions(workload=Path("<shell>"), shell=tuple(command),
                      **{k: v for k, v in options.items() if k in keys})  # type: ignore[arg-type]
    return run_member(opts)


shell = click.Command(
    "shell", callback=runs_workload(_shell), help=_shell.__doc__,
    params=[*_SHARED, click.Argument(["command"], nargs=-1, type=click.UNPROCESSED)],
    context_settings={"allow_interspersed_args": False})
