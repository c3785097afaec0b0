"""``ksi images save IMAGE...``: fill the image cache on the shared filesystem (see ``images``)."""

from __future__ import annotations

from pathlib import Path

import click

from ksi import constants as C
from ksi.cli._common import App, pass_app, reports_errors, shared_dir_option, verbose_option


@click.group()
def images() -> None:
    """The image cache for nodes without internet (<shared-dir>/images)."""


@images.command(short_help="Pull images and save them into the cache.")
@click.argument("refs", nargs=-1, metavar="IMAGE...")
@shared_dir_option("The shared directory whose images/ cache to fill.")
@verbose_option("Show the commands ksi runs.")
@pass_app
@reports_errors
def save(app: App, refs: tuple[str, ...], shared_dir: Path) -> None:
    """Pull IMAGE... (default: ksi's kind node image) and save each into the cache.

    Run it where there is internet (a login node); `ksi run` on a compute node then loads the
    node image from the cache, and `--load-image` takes the other archives.
    """
    import os

    from ksi import images as cache
    from ksi.plan import check_image
    from ksi.tools.nerdctl import Nerdctl

    chosen = list(refs) or [C.DEFAULT_NODE_IMAGE]
    for ref in chosen:
        check_image(ref)
    nerdctl = Nerdctl(app.runner)
    nerdctl.runner.which("nerdctl")
    root = Path(os.path.realpath(shared_dir.expanduser()))
    for ref in chosen:
        path = cache.save(nerdctl, ref, root)
        click.echo(f"saved {ref} to {path}")
