"""While the workload runs: one line per image its pods cannot pull, with the fix.

On a node without internet a workload's pod waits in ``ErrImagePull``/``ImagePullBackOff`` and
the workload's own ``kubectl wait`` ends minutes later with ``timed out waiting for the
condition``, which says nothing about images.  ksi lists the events of the workload namespace
every ``POLL`` seconds and, the first time an image fails, prints::

    [node1 r0] image busybox:1.36 cannot be pulled (pod ksi-workload/hello-x1: ErrImagePull ...);
    offline node? on a login node run `ksi images save busybox:1.36`, then `ksi run
    --load-image ~/.ksi/images/busybox_1.36.tar ...`

The events are the kubelet's (k8s.io/kubernetes pkg/kubelet/images/image_manager.go and
kuberuntime_container.go): reason ``Failed``, type Warning, message ``Failed to pull image "X":
...``; reason ``BackOff``, type Normal, message ``Back-off pulling image "X"``; and ``Error:
ErrImagePull`` / ``Error: ImagePullBackOff`` (these name no image and are not needed).  The watch
is best effort: an API error is never a reason to disturb the workload.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ksi import images

if TYPE_CHECKING:
    from ksi.kube import Kube

POLL = 2.0
#: the kubelet's messages, and the state each one means
_PULL_FAILED = (re.compile(r'^Failed to pull image "([^"]+)"'), "ErrImagePull")
_BACK_OFF = (re.compile(r'^Back-off pulling image "([^"]+)"'), "ImagePullBackOff")


def failed_image(event: dict[str, Any]) -> tuple[str, str] | None:
    """``(image, state)`` when ``event`` (a core/v1 Event, as JSON) says an image cannot be
    pulled."""
    reason = event.get("reason")
    message = str(event.get("message") or "")
    for (pattern, state), wanted in ((_PULL_FAILED, "Failed"), (_BACK_OFF, "BackOff")):
        match = pattern.match(message)
        if reason == wanted and match:
            return match[1], state
    return None


def hint(image: str, state: str, pod: str, shared_dir: Path) -> str:
    archive = images.cache_dir(shared_dir) / images.archive_name(image)
    return (f"image {image} cannot be pulled ({pod}: {state}); offline node? on a login node "
            f"run `ksi images save {image}`, then `ksi run --load-image {archive} ...`")


class PullWatch:
    """A daemon thread listing the namespace's events until ``stop``; says each image once."""

    def __init__(self, kube_factory: Callable[[], "Kube"], namespace: str, shared_dir: Path,
                 say: Callable[[str], None]) -> None:
        self.kube_factory = kube_factory
        self.namespace = namespace
        self.shared_dir = shared_dir
        self.say = say
        self.reported: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ksi-pullwatch", daemon=True)

    def __enter__(self) -> "PullWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def check(self, kube: "Kube") -> None:
        """One look at the events."""
        for event in kube.events(self.namespace, timeout=5):
            found = failed_image(event)
            if found is None or found[0] in self.reported:
                continue
            self.reported.add(found[0])
            obj = event.get("involvedObject")
            pod = (f"pod {obj.get('namespace') or self.namespace}/{obj.get('name')}" if obj
                   else "a pod")
            self.say(hint(found[0], found[1], pod, self.shared_dir))

    def _loop(self) -> None:
        kube: "Kube | None" = None
        try:
            while not self._stop.wait(POLL):
                try:
                    kube = kube or self.kube_factory()
                    self.check(kube)
                except Exception:  # noqa: BLE001 - best effort, never disturbs the workload
                    continue
        finally:
            if kube is not None:
                kube.close()
