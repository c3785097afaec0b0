"""Events as the kubelet records them, for tests to inject into the API server double.

No kubelet runs in the fake world, so no image is ever pulled and no pull ever fails there.  A
test plays the kubelet by creating these core/v1 Event objects through the API (``kubectl create
-f``, as any client with the right may; the double stores and lists them like any object).

Shape: k8s.io/api core/v1 ``Event`` (types.go: involvedObject, reason, message, source,
firstTimestamp, lastTimestamp, count, type, reportingComponent, reportingInstance), named
``<pod>.<hex>`` as client-go's recorder does (tools/record/event.go: ``fmt.Sprintf("%v.%x",
ref.Name, t.UnixNano())``).  Reasons and messages are the kubelet's
(pkg/kubelet/images/image_manager.go, kuberuntime/kuberuntime_container.go, events/event.go):
a failed pull is Warning ``Failed`` "Failed to pull image "X": ..." then Warning ``Failed``
"Error: ErrImagePull"; a pull in back-off is Normal ``BackOff`` "Back-off pulling image "X""
then Warning ``Failed`` "Error: ImagePullBackOff".
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from typing import Any


def _event(namespace: str, pod: str, container: str, node: str, type_: str, reason: str,
           message: str, uid: str) -> dict[str, Any]:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{pod}.{time.time_ns():x}", "namespace": namespace},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "namespace": namespace,
                           "name": pod, "uid": uid,
                           "fieldPath": f"spec.containers{{{container}}}"},
        "reason": reason,
        "message": message,
        "source": {"component": "kubelet", "host": node},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "type": type_,
        "reportingComponent": "kubelet",
        "reportingInstance": node,
    }


def image_pull_failure(namespace: str, pod: str, image: str, *, container: str = "main",
                       node: str = "control-plane") -> list[dict[str, Any]]:
    """The events of a pod whose image cannot be pulled (no route to the registry), first
    ``ErrImagePull`` then ``ImagePullBackOff``, in the kubelet's order."""
    uid = str(uuid.uuid4())
    reference = image if "/" in image.split(":")[0] else f"docker.io/library/{image}"
    pull_error = (f"failed to pull and unpack image \"{reference}\": failed to resolve reference "
                  f"\"{reference}\": failed to do request: Head \"https://registry-1.docker.io/"
                  "v2/\": dial tcp: lookup registry-1.docker.io: no such host")
    args = (namespace, pod, container, node)
    return [
        _event(*args, "Normal", "Pulling", f'Pulling image "{image}"', uid),
        _event(*args, "Warning", "Failed", f'Failed to pull image "{image}": {pull_error}', uid),
        _event(*args, "Warning", "Failed", "Error: ErrImagePull", uid),
        _event(*args, "Normal", "BackOff", f'Back-off pulling image "{image}"', uid),
        _event(*args, "Warning", "Failed", "Error: ImagePullBackOff", uid),
    ]
