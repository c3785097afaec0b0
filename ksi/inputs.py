"""Bad input to ``ksi run`` is rejected here, before anything is created: one line each, what is
wrong and how to fix it, exit code 125 for ``ksi run`` (``UsageError``, see ``ksi.exits``)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from typing import Callable

from ksi import interactive, manifests
from ksi import workload as workload_mod
from ksi.errors import UsageError
from ksi.paths import is_dir, is_file, shared_root, stat_of, why_not_creatable
from ksi.plan import RunOptions, check_image
from ksi.ports import check_nodeport


def check_inputs(opts: RunOptions, warn: Callable[[str], None] = print, members: int = 1,
                 rank: int = 0) -> RunOptions:
    """Reject bad input before anything is created; return the options with paths resolved."""
    script = opts.workload.expanduser()
    if opts.shell is not None:  # ksi shell: a terminal or a command (ksi/interactive.py)
        interactive.check(opts.shell, rank)
    elif manifests.is_manifest(opts.workload):  # checked and read now: stdin, and nothing created
        opts = replace(opts, manifests=manifests.load(opts.workload, opts.args, members=members),
                       args=())
    else:
        script = workload_mod.check(script)
    workdir = opts.workdir.expanduser()
    if not is_dir(workdir, "work directory (--workdir)"):
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
        if not is_file(path, "image archive (--load-image)") or not os.access(path, os.R_OK):
            raise UsageError(f"image archive {archive} does not exist or is not a readable file",
                             hint="--load-image takes an archive written by `nerdctl save` "
                             "(or `ksi images save`)")
        archives.append(path.resolve())
    if opts.liqo_chart is not None and not is_dir(opts.liqo_chart.expanduser(),
                                                  "Liqo chart directory (--liqo-chart)"):
        raise UsageError(f"Liqo chart directory {opts.liqo_chart} does not exist",
                         hint="--liqo-chart takes the directory of an unpacked Liqo chart")
    from ksi.federation import check_liqo_set

    liqo_set = check_liqo_set(opts.liqo_set)
    if opts.port is not None:
        check_nodeport(opts.port)
    # The user's own symlink (~/.ksi -> /scratch/...) is followed once, here; below it, none is.
    shared_dir = Path(os.path.realpath(opts.shared_dir.expanduser()))
    what = "shared directory (--shared-dir)"
    exists = stat_of(shared_dir, what) is not None
    # its parents are checked first (ssh's StrictModes rule); a dry run creates nothing
    shared_root(shared_dir, create=exists or not opts.dry_run)
    if not exists and opts.dry_run and (why := why_not_creatable(shared_dir)) is not None:
        warn(f"warning: the shared directory {shared_dir} could not be created ({why}); "
             "a real run would stop here (choose another --shared-dir)")
    keep = opts.manifests or opts.shell is not None  # no file to resolve
    return replace(opts, workload=script if keep else script.resolve(), workdir=workdir.resolve(),
                   shared_dir=shared_dir, load_images=tuple(archives),
                   liqo_set=liqo_set)
