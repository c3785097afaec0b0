"""``ksi submit``: write the sbatch script that runs ``ksi run`` on every node, and submit it.

The script (``templates/sbatch.sh.j2``) asks for one task per node and starts
``srun --kill-on-bad-exit=0 KSI run [OPTIONS] WORKLOAD [ARGS]...``, where KSI is the absolute
path of the ksi that wrote it, so the compute nodes run the same installation (its shebang names
its own Python).  Every value is shell-quoted; sbatch's parser of ``#SBATCH`` lines understands
the same quotes.  The workload path is made absolute, as are the path options passed on.

It is submitted as ``sbatch --parsable FILE`` through the ``Runner`` seam; the file is a private
temporary copy (sbatch stores the script with the job, ``scontrol write batch_script JOB``
shows it) removed right after.  sbatch exports the submitting environment to the job by
default, so ``KSI_*`` variables set at submission reach ``ksi run`` as well; Slurm's own
``SBATCH_*`` input variables override the ``#SBATCH`` lines as usual.

Exit codes (constants.py):

* 0 -- submitted (``Submitted ksi job ID (output: FILE)``), or the script printed (``--print``);
* 2 -- bad input: the workload is missing or not a readable file, a value holds a newline,
  ``--time`` is not one of Slurm's time formats (checked before anything, ``--print`` too);
* 3 -- ``sbatch`` is not on PATH (not a Slurm login node?);
* 4 -- sbatch refused the job: its own error line is shown (bad partition, account, time...);
* 6 -- sbatch did not answer in time (the controller is unreachable or overloaded).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ksi.errors import UsageError
from ksi.tools.sbatch import Sbatch, parse_job_id  # noqa: F401 - parse_job_id: re-exported

if TYPE_CHECKING:
    from ksi.exec import Runner

TEMPLATE = "sbatch.sh.j2"
DEFAULT_TIME = "01:00:00"
DEFAULT_OUTPUT = "ksi-%j.out"
DEFAULT_SIGNAL_MARGIN = 60


@dataclass(frozen=True)
class SubmitOptions:
    """Everything the sbatch script is made of (paths already absolute)."""

    workload: Path
    args: tuple[str, ...] = ()
    nodes: int = 1
    time: str = DEFAULT_TIME
    job_name: str = ""  # "" -> ksi-<workload stem>
    output: str = DEFAULT_OUTPUT
    partition: str | None = None
    account: str | None = None
    #: seconds before the time limit that ksi gets SIGTERM; 0: no --signal line
    signal_margin: int = DEFAULT_SIGNAL_MARGIN
    #: extra sbatch arguments, one per ``#SBATCH`` line
    sbatch_args: tuple[str, ...] = ()
    #: ``ksi run`` options, already as arguments (``--timeout``, ``300``, ...)
    run_args: tuple[str, ...] = ()
    #: the command that starts this ksi on a compute node
    ksi: tuple[str, ...] = field(default_factory=lambda: tuple(ksi_command()))

    @property
    def name(self) -> str:
        return self.job_name or f"ksi-{self.workload.stem}"


def ksi_command() -> list[str]:
    """The absolute command of the ksi running now, for the compute nodes.

    ``sys.argv[0]`` when it is the ``ksi`` script (not resolved through symlinks: a site's
    stable path such as /opt/ksi/bin/ksi stays as the user ran it); ``python -m ksi`` when run
    that way; else the ``ksi`` on PATH; else this Python with ``-m ksi``.
    """
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if argv0 is not None and argv0.name == "ksi" and argv0.is_file():
        return [os.path.abspath(argv0)]
    if argv0 is not None and argv0.name == "__main__.py" and argv0.parent.name == "ksi":
        return [sys.executable, "-m", "ksi"]
    found = shutil.which("ksi")
    if found:
        return [os.path.abspath(found)]
    return [sys.executable, "-m", "ksi"]


#: sbatch(1) --time: "minutes", "minutes:seconds", "hours:minutes:seconds", "days-hours",
#: "days-hours:minutes" and "days-hours:minutes:seconds"; Slurm's time_str2secs
#: (src/common/parse_time.c) also takes "INFINITE"/"UNLIMITED" and "-1" for no limit.
_TIME_RE = re.compile(r"^(\d+|\d+:\d+|\d+:\d+:\d+|\d+-\d+|\d+-\d+:\d+|\d+-\d+:\d+:\d+)$")


def check_time(value: str) -> str:
    """``value`` if sbatch takes it as ``--time``, else ``UsageError`` naming the formats."""
    if _TIME_RE.match(value) or value.upper() in ("INFINITE", "UNLIMITED", "-1"):
        return value
    raise UsageError(f"--time {value!r} is not a Slurm time limit",
                     hint="use minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS, e.g. "
                     "--time 2:00:00")


def check_workload(workload: Path) -> Path:
    """The workload as an absolute path; ``UsageError`` unless it is a readable file."""
    path = Path(os.path.abspath(workload.expanduser()))
    if not path.exists():
        raise UsageError(f"workload {workload} does not exist",
                         hint="give the path of a bash script")
    if not path.is_file():
        raise UsageError(f"workload {workload} is not a file", hint="give the path of a bash script")
    if not os.access(path, os.R_OK):
        raise UsageError(f"workload {workload} is not readable")
    return path


def render_script(opts: SubmitOptions) -> str:
    """The sbatch script; ``UsageError`` when a value cannot go on one line."""
    from ksi import __version__
    from ksi.templates import render

    values = {
        "job name": opts.name, "time": opts.time, "output": opts.output,
        "partition": opts.partition or "", "account": opts.account or "",
        **{f"--sbatch-arg {a!r}": a for a in opts.sbatch_args},
    }
    for what, value in values.items():
        if "\n" in value or "\r" in value:
            raise UsageError(f"{what} holds a line break", hint="an #SBATCH value is one line")
    if opts.nodes < 1:
        raise UsageError(f"--nodes must be at least 1, not {opts.nodes}")
    return render(TEMPLATE, version=__version__, job_name=opts.name, nodes=opts.nodes,
                  time=opts.time, output=opts.output, partition=opts.partition,
                  account=opts.account, signal_margin=opts.signal_margin,
                  sbatch_args=list(opts.sbatch_args), ksi=list(opts.ksi),
                  run_args=list(opts.run_args), workload=str(opts.workload),
                  args=list(opts.args))


def output_path(output: str, job_id: str, job_name: str, cwd: Path) -> Path:
    """Where the job writes its output: sbatch's ``%j``/``%x`` filled in, relative to ``cwd``."""
    text = output.replace("%%", "\0").replace("%j", job_id).replace("%x", job_name)
    return cwd / text.replace("\0", "%")


def submit(script: str, *, runner: Runner, env: dict[str, str] | None = None
           ) -> tuple[str, str]:
    """Submit ``script`` with ``sbatch --parsable``; return the job id and sbatch's warnings.

    ``EnvironmentProblem`` (exit 3) without sbatch; ``CommandError`` (exit 4, sbatch's error
    line in the message; 6 on timeout) when sbatch refuses.
    """
    from ksi.errors import EnvironmentProblem

    try:
        runner.which("sbatch", env)
    except EnvironmentProblem as exc:
        raise EnvironmentProblem(exc.message, hint=(
            "submit from a Slurm login node, or add sbatch's directory to PATH; "
            "`ksi submit --print` shows the script without submitting it")) from None
    return Sbatch(runner, env).submit(script)
