"""``ksi submit``: a batch job that runs ``ksi run`` on every node, without writing sbatch by hand."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ksi import constants as C
from ksi.cli._common import App, pass_app, reports_errors, verbose_option
from ksi.cli._types import Seconds

E = C.ENV


def _absolute(path: Path) -> str:
    return os.path.abspath(path.expanduser())


@click.command(context_settings={"ignore_unknown_options": True,
                                 "allow_interspersed_args": False})
@click.argument("workload", type=click.Path(path_type=Path))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("-N", "--nodes", type=click.IntRange(min=1), default=1, show_default=True,
              help="Nodes: one ksi and one cluster on each.")
@click.option("-t", "--time", "time_limit", default="01:00:00", show_default=True,
              help="Time limit of the job (sbatch --time).")
@click.option("-p", "--partition", default=None, help="sbatch --partition.")
@click.option("-A", "--account", default=None, help="sbatch --account.")
@click.option("-J", "--job-name", default=None, help="Job name. Default: ksi-<workload name>.")
@click.option("-o", "--output", default="ksi-%j.out", show_default=True,
              help="Output file of the job (sbatch --output; %j is the job id).")
@click.option("--signal-margin", envvar=E["signal_margin"], type=click.IntRange(0, 65535),
              default=60, show_default=True,
              help=f"Seconds before the time limit at which ksi gets SIGTERM to tear down "
              f"(sbatch --signal=TERM@N); 0: none. [env {E['signal_margin']}]")
@click.option("--sbatch-arg", "sbatch_args", multiple=True, metavar="ARG",
              help="One more sbatch argument, e.g. --sbatch-arg=--mem=8G; repeatable.")
@click.option("--timeout", type=Seconds(min=1), default=None,
              help="ksi run --timeout: seconds allowed for bring-up.")
@click.option("--workdir", type=click.Path(path_type=Path), default=None,
              help="ksi run --workdir: directory mounted at /app. Default: the directory "
              "you submit from.")
@click.option("--shared-dir", type=click.Path(path_type=Path), default=None,
              help="ksi run --shared-dir: directory all nodes share.")
@click.option("--federation/--no-federation", default=None,
              help="ksi run --federation/--no-federation: join the clusters with Liqo.")
@click.option("--load-image", "load_images", multiple=True, type=click.Path(path_type=Path),
              help="ksi run --load-image: image archive to load into every cluster; repeatable.")
@click.option("--print", "print_only", is_flag=True,
              help="Print the sbatch script instead of submitting it.")
@verbose_option("Show the sbatch command and sbatch's full answer on errors.")
@pass_app
@reports_errors
def submit(app: App, workload: Path, args: tuple[str, ...], nodes: int, time_limit: str,
           partition: str | None, account: str | None, job_name: str | None, output: str,
           signal_margin: int, sbatch_args: tuple[str, ...], timeout: float | None,
           workdir: Path | None, shared_dir: Path | None, federation: bool | None,
           load_images: tuple[Path, ...], print_only: bool) -> None:
    """Submit a Slurm batch job that runs WORKLOAD with `ksi run` on NODES nodes.

    \b
    ksi submit -N3 -t 2:00:00 workloads/hello/hello.sh     submit it
    ksi submit -N3 --print workloads/hello/hello.sh > job.sh   only write the script
    Other `ksi run` options: set their KSI_* variables (see `ksi run --help`) when you submit;
    sbatch passes your environment on to the job by default.
    """
    from ksi import submit as sub

    run_args: list[str] = []
    if timeout is not None:
        run_args += ["--timeout", f"{timeout:g}"]
    if workdir is not None:
        run_args += ["--workdir", _absolute(workdir)]
    if shared_dir is not None:
        run_args += ["--shared-dir", _absolute(shared_dir)]
    if federation is not None:
        run_args.append("--federation" if federation else "--no-federation")
    for archive in load_images:
        run_args += ["--load-image", _absolute(archive)]
    opts = sub.SubmitOptions(
        workload=sub.check_workload(workload), args=args, nodes=nodes,
        time=sub.check_time(time_limit),
        job_name=job_name or "", output=output, partition=partition, account=account,
        signal_margin=signal_margin, sbatch_args=sbatch_args, run_args=tuple(run_args))
    script = sub.render_script(opts)
    if print_only:
        click.echo(script, nl=False)
        return

    job_id, warnings = sub.submit(script, runner=app.runner)
    for line in warnings.splitlines():
        click.echo(line, err=True)
    where = sub.output_path(output, job_id, opts.name, Path.cwd())
    click.echo(f"Submitted ksi job {job_id} (output: {where})")
