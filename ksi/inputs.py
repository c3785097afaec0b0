"""Bad input to ``ksi run`` is rejected here, before anything is created: one line each, what is
wrong and how to fix it, exit code 2 (``UsageError``)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from ksi.errors import UsageError
from ksi.paths import private_dir
from ksi.plan import RunOptions, check_image
from ksi.ports import check_nodeport


def check_inputs(opts: RunOptions) -> RunOptions:
    """Reject bad input before anything is created; return the options with paths resolved."""
    script = opts.workload.expanduser()
    if not script.exists():
        raise UsageError(f"workload {script} does not exist",
                         hint="give the path of a bash script")
    if script.is_dir():
        raise UsageError(f"workload {script} is a directory",
                         hint="give the path of a bash script inside it")
    if not os.access(script, os.R_OK):
        raise UsageError(f"workload {script} is not readable", hint=f"chmod u+r {script}")
    workdir = opts.workdir.expanduser()
    if not workdir.is_dir():
        raise UsageError(f"work directory {workdir} does not exist or is not a directory",
                         hint="pass an existing directory with --workdir")
    if not os.access(workdir, os.W_OK | os.X_OK):
        raise UsageError(f"work directory {workdir} is not writable",
                         hint="workloads write their results to /app; choose a writable "
                         "--workdir")
    check_image(opts.image)
    archives = []
    for archive in opts.load_images:
        path = archive.expanduser()
        if not path.is_file() or not os.access(path, os.R_OK):
            raise UsageError(f"image archive {archive} does not exist or is not a readable file",
                             hint="--load-image takes an archive written by `nerdctl save` "
                             "(or `ksi images save`)")
        archives.append(path.resolve())
    if opts.liqo_chart is not None and not opts.liqo_chart.expanduser().is_dir():
        raise UsageError(f"Liqo chart directory {opts.liqo_chart} does not exist",
                         hint="--liqo-chart takes the directory of an unpacked Liqo chart")
    if opts.port is not None:
        check_nodeport(opts.port)
    # The user's own symlink (~/.ksi -> /scratch/...) is followed once, here; below it, none is.
    shared_dir = Path(os.path.realpath(opts.shared_dir.expanduser()))
    if shared_dir.exists() or not opts.dry_run:  # a dry run creates nothing
        private_dir(shared_dir, what="shared directory (--shared-dir)")
    return replace(opts, workload=script.resolve(), workdir=workdir.resolve(),
                   shared_dir=shared_dir, load_images=tuple(archives))
