"""Images on nodes without internet: a cache of image archives on the shared filesystem.

* ``ksi images save IMAGE...`` (on a login node, which has internet): pulls each image and saves
  it as ``<shared-dir>/images/<name>.tar`` (0600 in a 0700 directory), **every platform**:
  ``nerdctl pull --all-platforms`` then ``nerdctl save --all-platforms``.  A plain ``nerdctl save``
  (or one with ``--platform``) keeps the image's whole multi-platform index but writes only the
  chosen platform's blobs (containerd ``core/images/archive/exporter.go``, called by nerdctl
  ``pkg/cmd/image/save.go``), and ``kind load image-archive`` imports with
  ``ctr images import --all-platforms``, which then fails with "content digest ... not found"
  (kind issues 3795, 4224) -- busybox, kindest/node and Liqo's images are all multi-platform.
  The price: the archive holds every platform (about twice the size for amd64+arm64 images).
* ``ksi run``: when the kind node image is not in this node's containerd and its archive is in
  the cache, ``nerdctl load`` it instead of letting kind pull (which would fail offline).
* ``ksi run --load-image FILE`` (repeatable): ``kind load image-archive`` into every member's
  cluster, in a thread beside the rest of bring-up; the workload starts only after the images
  are in.
Liqo offline: ``--liqo-chart DIR`` passes ``--local-chart-path`` to ``liqoctl install``, and its
images go through ``--load-image`` like any other.
"""

from __future__ import annotations

import re
import threading
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Callable

from ksi.errors import KsiError, PhaseTimeout, UsageError
from ksi.exec import Runner
from ksi.paths import private_dir
from ksi.signals import Shutdown
from ksi.tools.kind import Kind
from ksi.tools.nerdctl import Nerdctl

PULL_TIMEOUT = 1800.0
LOAD_TIMEOUT = 600.0


def cache_dir(shared_dir: Path) -> Path:
    return private_dir(Path(shared_dir) / "images", what="image cache")


def archive_name(ref: str) -> str:
    """``kindest/node:v1.33.1@sha256:ab..`` -> ``kindest_node_v1.33.1.tar`` (the digest is
    dropped: the archive holds the tag, and one file per tag is what a reader expects)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", ref.split("@", 1)[0]) + ".tar"


def cached_archive(shared_dir: Path, ref: str) -> Path | None:
    path = Path(shared_dir) / "images" / archive_name(ref)
    return path if path.is_file() else None


class DigestMismatch(UsageError):
    """The cached node image is not the pinned one."""


def save(nerdctl: Nerdctl, ref: str, shared_dir: Path) -> Path:
    """Pull every platform of ``ref`` and save it into the cache; written whole or not at all."""
    # always pulled: an image present locally usually holds this platform's content only
    nerdctl.pull(ref, timeout=PULL_TIMEOUT, all_platforms=True)
    target = cache_dir(shared_dir) / archive_name(ref)
    partial = target.with_name(f".{target.name}.partial")
    try:
        nerdctl.save(ref, partial, timeout=LOAD_TIMEOUT, all_platforms=True)
        partial.chmod(0o600)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target


class Loader:
    """``kind load image-archive`` of every archive into one cluster, in a background thread.

    The thread runs kind through its own runner, so ``stop`` (teardown, on every way out) ends a
    load still under way instead of leaving ``kind load`` running after ksi.
    """

    def __init__(self, env: dict[str, str], cluster: str, archives: list[Path],
                 log: Callable[[str], None] | None = None) -> None:
        self._stop = Shutdown()
        self.kind = Kind(Runner(self._stop, grace=3.0, log=log), env)
        self.cluster = cluster
        self.archives = archives
        self.error: KsiError | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "Loader":
        if self.archives:
            self._thread = threading.Thread(target=self._load, name="ksi-load-images",
                                            daemon=True)
            self._thread.start()
        return self

    def _load(self) -> None:
        try:
            for archive in self.archives:
                self.kind.load_image_archive(self.cluster, archive, timeout=LOAD_TIMEOUT)
        except KsiError as exc:
            self.error = exc

    def wait(self, timeout: float) -> None:
        """Join the thread; raise its error (a timeout is an error too)."""
        if self._thread is None:
            return
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise PhaseTimeout("loading the --load-image archives did not finish in time",
                           hint="raise --timeout, or check the archives with `nerdctl load`")
        if self.error is not None:
            raise self.error

    def stop(self, timeout: float = 10.0) -> None:
        """Stop a load still running (its kind process group gets SIGTERM, then SIGKILL)."""
        if self._thread is not None and self._thread.is_alive():
            self._stop.request()
            self._thread.join(timeout)


def load_node_image(runner: Runner, env: dict[str, str], shared_dir: Path, image: str, *,
                    phase: Callable[[str], AbstractContextManager[object]],
                    say: Callable[[str], None]) -> str:
    """``ksi run``: load the kind node image from the cache when this node lacks it; return the
    reference to use.  Best effort: on failure kind tries to pull, and says so if it cannot --
    except that an archive holding another image under the pinned tag (its digest differs) is
    refused (``DigestMismatch``): never run another image than the pinned one, never fall back
    to the bare tag, never say it was loaded."""
    nerdctl = Nerdctl(runner, env)
    archive = cached_archive(shared_dir, image)
    try:
        if archive is None or nerdctl.image_present(image):
            return image  # nothing cached, or nothing to do: kind pulls if it must
        with phase("load node image from cache"):
            nerdctl.load(archive, timeout=LOAD_TIMEOUT)
            # nerdctl save keeps the digest (OCI index.json); a pinned reference still absent
            # after the load means the archive holds something else under the same tag
            if "@" in image and not nerdctl.image_present(image):
                raise DigestMismatch(
                    f"the cached image {archive} is not {image} (its digest differs)",
                    hint="refill the cache with `ksi images save` on a node with internet, or "
                    "remove the archive")
    except DigestMismatch:
        raise
    except KsiError as exc:
        say(f"warning: could not load the node image from the cache: {exc.message}")
        return image
    say(f"loaded {image} from {archive}")
    return image
