"""``liqoctl offload namespace`` (and the Liqo controller that answers it), against the fake API.

Upstream (liqotech/liqo v1.0.0): ``cmd/liqoctl/cmd/offload.go`` (``cobra.ExactArgs(1)``, enum flags,
``--timeout`` 20s, ``-l/--selector`` in logical OR, ``-o json|yaml`` prints instead of applying),
``pkg/liqoctl/offload/handler.go`` (CreateOrUpdate of NamespaceOffloading ``offloading`` in the
namespace -- which must exist, the API server refuses the object otherwise; warning when the pod
strategy gets more restrictive), ``pkg/liqoctl/wait/wait.go`` ``ForOffloading`` (done when the
status' observedGeneration matches and the phase is ``Ready`` or ``NoClusterSelected``; ``SomeFailed``
/``AllFailed`` fail), the namespace-offloading controller (phase ``Ready`` when at least one virtual
node matches the cluster selector, else ``NoClusterSelected``).
"""

from __future__ import annotations

import json
import re
import sys
from typing import IO, Any

from tests.fakeworld.common import cliflags as cf
from tests.fakeworld.common import world as fw
from tests.fakeworld.liqoctl import kube as lk
from tests.fakeworld.liqoctl import world as w
import yaml
from tests.fakeworld.liqoctl.printer import Printer, pretty

GVR = ("offloading.liqo.io", "v1beta1", "namespaceoffloadings")
_REQ = re.compile(r"^\s*(!?)([A-Za-z0-9_./-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9_.-]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*$")


def selectors(texts: list[str]) -> list[dict[str, Any]]:
    """``metav1.ParseToLabelSelector`` per ``--selector``, as NodeSelectorTerms (kept simple: no commas inside sets)."""
    terms = []
    for text in texts:
        exprs = []
        for part in re.split(r",(?![^(]*\))", text):
            m = _REQ.match(part)
            if not m:
                raise ValueError(f"unable to parse requirement: {part.strip()}")
            neg, key, op, val, setop, vals = m.groups()
            if op:
                exprs.append({"key": key, "operator": "In" if op != "!=" else "NotIn", "values": [val]})
            elif setop:
                exprs.append({"key": key, "operator": "In" if setop == "in" else "NotIn", "values": [x.strip() for x in vals.split(",") if x.strip()]})
            else:
                exprs.append({"key": key, "operator": "DoesNotExist" if neg else "Exists"})
        terms.append({"matchExpressions": exprs})
    return terms


def selected(node: dict[str, Any], terms: list[dict[str, Any]]) -> bool:
    """Does a virtual node match the NodeSelector (terms in OR, expressions in AND)?"""
    labels = node["metadata"].get("labels") or {}

    def ok(r: dict[str, Any]) -> bool:
        has, val = r["key"] in labels, labels.get(r["key"])
        return {"In": has and val in r.get("values", []), "NotIn": not has or val not in r.get("values", []),
                "Exists": has, "DoesNotExist": not has}.get(r["operator"], False)

    return not terms or any(all(ok(r) for r in t.get("matchExpressions") or []) for t in terms)


def offload(p: cf.Parsed, err: IO[str]) -> int:
    v = p.values
    ns = p.args[0]
    printer = Printer(None, bool(v["verbose"]), err)
    try:
        terms = selectors(v["selector"])
    except ValueError as e:
        printer.error(f"error: {e}")
        return 1
    spec = {"podOffloadingStrategy": v["pod-offloading-strategy"], "namespaceMappingStrategy": v["namespace-mapping-strategy"],
            "clusterSelector": {"nodeSelectorTerms": terms}}
    if v["remote-namespace-name"]:
        spec["remoteNamespaceName"] = v["remote-namespace-name"]
    obj = {"apiVersion": "offloading.liqo.io/v1beta1", "kind": "NamespaceOffloading",
           "metadata": {"name": "offloading", "namespace": ns, "creationTimestamp": None}, "spec": spec, "status": {}}
    if v["output"]:
        out = json.dumps(obj, indent=4) + "\n" if v["output"] == "json" else yaml.safe_dump(obj, sort_keys=True)
        sys.stdout.write(out)
        return 0
    client = lk.Client(w.load_config(p, printer))
    deadline = w.Deadline(v["timeout"])
    path = f"/apis/{GVR[0]}/{GVR[1]}/namespaces/{ns}/{GVR[2]}"
    s = printer.spinner(f'Enabling namespace offloading for "{ns}"')
    try:
        if not client.served(*GVR):
            raise RuntimeError('no matches for kind "NamespaceOffloading" in version "offloading.liqo.io/v1beta1"')
        current = client.get_or_none(f"{path}/offloading")
        old = ((current or {}).get("spec") or {}).get("podOffloadingStrategy", "")
        body = {k: val for k, val in obj.items() if k != "status"}
        body["metadata"] = {"name": "offloading"}
        client.apply(path, body)
    except (lk.ApiError, lk.ConnError, RuntimeError) as e:
        s.fail(f"Failed enabling namespace offloading: {pretty(e)}")
        return 1
    s.success(f'Offloading of namespace "{ns}" correctly enabled')
    if old and old != v["pod-offloading-strategy"] and v["pod-offloading-strategy"] != "LocalAndRemote":
        printer.warning("The PodOffloadingStrategy was mutated to a more restrictive setting")
        printer.warning("Existing pods violating this policy might still be running")
    s = printer.spinner(f'Waiting for offloading of namespace "{ns}" to complete')
    fault = w.hang_or_fail("liqo-offload")
    try:
        if fault == "fail":
            raise RuntimeError('the offloading is in "AllFailed" state')
        if fault == "hang":
            deadline.hang(s)
        deadline.sleep(fw.delay("KSI_FAKE_LIQO_OFFLOAD_SECONDS"), s)
        nodes = client.list(w.NODES, "liqo.io/type=virtual-node")
        chosen = [n for n in nodes if selected(n, terms)]
        phase = "Ready" if chosen else "NoClusterSelected"
        current = client.get(f"{path}/offloading")
        remote = v["remote-namespace-name"] if v["namespace-mapping-strategy"] == "SelectedName" else ns
        client.set_status(f"{path}/offloading", {
            "observedGeneration": current["metadata"].get("generation", 1), "offloadingPhase": phase, "remoteNamespaceName": remote,
            "remoteNamespacesConditions": {n["metadata"]["labels"].get("liqo.io/remote-cluster-id", n["metadata"]["name"]): [
                {"type": "Ready", "status": "True", "reason": "NamespaceCreated", "message": "Namespace correctly offloaded",
                 "lastTransitionTime": fw.rfc3339()}] for n in chosen}})
    except (lk.ApiError, lk.ConnError, RuntimeError, w.Timeout) as e:
        s.fail(f"Failed waiting for offloading to complete: {pretty(e)}")
        return 1
    if phase == "NoClusterSelected":
        s.warning("Offloading completed, but no cluster was selected")
    else:
        s.success("Offloading completed successfully")
    return 0
