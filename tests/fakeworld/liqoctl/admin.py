"""``liqoctl uninstall`` and the server half of ``liqoctl version``, against the fake API.

Upstream (liqotech/liqo v1.0.0): ``cmd/liqoctl/cmd/uninstall.go`` (``AskConfirm`` unless
``--skip-confirm``: pterm's interactive prompt needs a terminal, so without one the command aborts
with exit 1), ``pkg/liqoctl/uninstall/handler.go`` (``Running pre-uninstall checks``, ``Uninstalling
Liqo``, ``--purge``), ``pkg/utils/preuninstall.go`` (``you should:`` + the clusters to unpeer and the
namespaces to unoffload), ``pkg/liqoctl/version/handler.go`` (``Client version: v1.0.0`` /
``Server version: <controller-manager image tag>`` on stdout; warnings on stderr).
"""

from __future__ import annotations

from typing import IO

from tests.fakeworld.common import cliflags as cf
from tests.fakeworld.liqoctl import apply as liqoapply
from tests.fakeworld.liqoctl import kube as lk
from tests.fakeworld.liqoctl import world as w
from tests.fakeworld.liqoctl.printer import Printer, pretty


def server_version(client: lk.Client, ns: str, printer: Printer, out: IO[str]) -> int:
    try:
        version = w.read_liqo(client, ns).version
        if not version:
            raise lk.ApiError(404, {"reason": "NotFound", "message": 'deployments.apps "liqo-controller-manager" not found'})
    except (lk.ApiError, lk.ConnError, RuntimeError) as e:
        out.write("Server version: Unknown\n")
        out.flush()
        printer.warning(f"Failed to retrieve Liqo server version: {pretty(e)}")
        printer.warning("Is Liqo installed in your cluster? Is the cluster reachable? Do you have the permissions to access the target cluster?")
        return 1
    out.write(f"Server version: {version}\n")
    out.flush()
    if version != w.VERSION:
        printer.warning("The version of liqoctl does not match the Liqo server version. This might cause unexpected behaviors.")
    return 0


def uninstall(p: cf.Parsed, err: IO[str]) -> int:
    v = p.values
    printer = Printer(None, bool(v["verbose"]), err)
    client = lk.Client(w.load_config(p, printer))
    if not v["skip-confirm"]:
        # pterm's interactive confirm needs a terminal; without one the answer is an error: abort
        err.write("uninstall is a potentially destructive command.\n")
        return 1
    ns = v["namespace"]
    s = printer.spinner("Running pre-uninstall checks")
    try:
        problems = ""
        if client.served("core.liqo.io", "v1beta1", "foreignclusters"):
            fcs = client.list(w.FC)
            for module, verb in (("networking", "networking"), ("authentication", "authentication"), ("offloading", "offloading")):
                ids = [fc["spec"]["clusterID"] for fc in fcs if fc.get("status", {}).get("modules", {}).get(module, {}).get("enabled")]
                if ids:
                    problems += f"\ndisable {verb} for clusters:\n" + "".join(f"- {i}\n" for i in ids)
        if client.served("offloading.liqo.io", "v1beta1", "namespaceoffloadings"):
            names = [o["metadata"]["namespace"] for o in client.list("/apis/offloading.liqo.io/v1beta1/namespaceoffloadings")]
            if names:
                problems += "\nunoffload the following namespaces:\n" + "".join(f"- {n}\n" for n in names)
    except (lk.ApiError, lk.ConnError) as e:
        s.fail(f"Pre-uninstall checks failed: {pretty(e)}")
        return 1
    if problems:
        s.fail(f"Pre-uninstall checks failed: you should:\n{problems}")
        if "disable" in problems:
            printer.error("You must remove all the active peerings with other clusters before uninstalling Liqo.\n"
                          "You can disable the active peerings via the 'liqoctl unpeer' command.\n"
                          "Check 'liqoctl unpeer --help' for further information.")
        if "unoffload" in problems:
            printer.error("You must remove all the offloaded namespaces before uninstalling Liqo.\n"
                          "You can disable the namespace offloading 'liqoctl unoffload' command.\n"
                          "Check 'liqoctl unoffload --help' for further information.\n")
        return 1
    s.success("Pre-uninstall checks passed")
    s = printer.spinner("Uninstalling Liqo")
    try:
        liqoapply.uninstall_objects(client, ns, purge=False)
    except (lk.ApiError, lk.ConnError) as e:
        s.fail(f"Error uninstalling Liqo: {pretty(e)}")
        return 1
    s.success("Liqo uninstalled")
    if v["purge"]:
        s = printer.spinner("Purging Liqo CRDs")
        try:
            liqoapply.uninstall_objects(client, ns, purge=True)
        except (lk.ApiError, lk.ConnError) as e:
            s.fail(f"Error purging CRDs: {pretty(e)}")
            return 1
        s.success("Liqo CRDs purged")
        printer.spinner("Deleting Liqo namespaces").success("Liqo namespaces deleted")
    return 0
