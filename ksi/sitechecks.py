"""``ksi doctor`` checks for what real sites differ in (issue 12): Liqo's kernel needs, the
devices and modules rootless kind and Liqo use, IPv6 switched off at boot, and the user session
rootless containerd needs.  Each returns a :class:`ksi.doctor.Check`; ``ksi.doctor`` runs them.

* **Kernel >= 5.10**: ``liqoctl install`` checks every node's kernel (liqotech/liqo
  ``pkg/utils/kernel/version``: "kernel version X does not satisfy the minimum requirements
  5.10.0").  Only ``liqoctl``'s own flag ``--disable-kernel-version-check`` turns that off; it is
  not a chart value, so ``--liqo-set`` cannot, and ksi does not pass it (Liqo's WireGuard and
  nftables code needs that kernel).  Older kernels: single-node or ``--no-federation`` runs only.
* **geneve, nf_tables**: Liqo's network fabric tunnels pod traffic between a gateway and the
  nodes with Geneve and writes its firewall and NAT rules with nftables (docs/installation/
  requirements.md); a rootless user cannot load modules, so they must be loaded already.
* **/dev/fuse**: kind's rootless provider always passes ``--device /dev/fuse``
  (kind ``pkg/cluster/internal/providers/nerdctl/provision.go``); without it node creation fails.
* **IPv6 disabled** (``ipv6.disable=1``): nerdctl before 2.3.0 reads ``/proc/net/tcp6`` and
  ``/proc/net/udp6`` for every ``--publish`` and fails with "open /proc/net/tcp6: no such file or
  directory" (nerdctl ``pkg/portutil/portutil.go`` ``getUsedPorts``, fixed by PR 4824 in 2.3.0);
  ``setup/`` pins nerdctl >= 2.3.
* **User session**: rootless containerd and nerdctl find each other through ``XDG_RUNTIME_DIR``
  and talk to systemd through the user's D-Bus session bus (``DBUS_SESSION_BUS_ADDRESS``, else
  ``$XDG_RUNTIME_DIR/bus``); batch jobs often lack both.  Part of ``ksi run``'s fast checks.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ksi.doctor import Check, SystemView

#: liqotech/liqo pkg/utils/kernel/version/const.go
LIQO_MIN_KERNEL = (5, 10, 0)
LIQO_MODULES = ("geneve", "nf_tables")
#: nerdctl fixed the /proc/net/tcp6 read in this release (containerd/nerdctl PR 4824)
NERDCTL_IPV6_FIX = "2.3.0"


def _kernel(release: str) -> tuple[int, int, int] | None:
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", release)
    if not match:
        return None
    return int(match[1]), int(match[2]), int(match[3] or 0)


def check_liqo_kernel(view: SystemView) -> Check:
    from ksi.doctor import PASS, WARN, Check

    name = "kernel for Liqo"
    release = view.kernel_release()
    found = _kernel(release)
    if found is None:
        return Check(name, WARN, f"cannot read a version from {release!r}",
                     "check `uname -r`: Liqo (multi-node runs) needs >= 5.10")
    if found < LIQO_MIN_KERNEL:
        return Check(name, WARN, f"{release} < 5.10: `liqoctl install` refuses it, so multi-node "
                     "runs fail (single-node and --no-federation runs work)",
                     "run multi-node jobs on nodes with kernel >= 5.10; liqoctl's "
                     "--disable-kernel-version-check is a liqoctl flag, not a chart value, so "
                     "--liqo-set cannot turn the check off")
    return Check(name, PASS, f"{release} (Liqo needs >= 5.10)")


def check_liqo_modules(view: SystemView) -> Check:
    from ksi.doctor import PASS, WARN, Check, loaded_modules

    name = "Liqo modules"
    loaded = loaded_modules(view)
    if loaded is None:
        return Check(name, WARN, "cannot tell: neither /proc/modules nor modules.builtin is "
                     "readable", f"check with `lsmod`: {' '.join(LIQO_MODULES)}")
    missing = [m for m in LIQO_MODULES if m not in loaded]
    if missing:
        return Check(name, WARN, f"{', '.join(missing)} not loaded: Liqo's network fabric "
                     "(multi-node runs) needs them", f"as root: `modprobe -a {' '.join(missing)}`"
                     " and list them in /etc/modules-load.d/ksi.conf")
    return Check(name, PASS, f"{' '.join(LIQO_MODULES)} loaded")


def check_fuse(view: SystemView) -> Check:
    from ksi.doctor import FAIL, PASS, Check

    if view.path("/dev/fuse").exists():
        return Check("/dev/fuse", PASS, "present (rootless kind passes it to every node)")
    return Check("/dev/fuse", FAIL, "missing: rootless kind passes --device /dev/fuse to every "
                 "node container, and creating the cluster fails without it",
                 "as root: `modprobe fuse` and list it in /etc/modules-load.d/ksi.conf")


def ipv6_disabled(view: SystemView) -> bool:
    """True when the kernel has no IPv6 (``ipv6.disable=1``): no ``/proc/net/tcp6``."""
    if (view.read("/sys/module/ipv6/parameters/disable") or "").strip() == "1":
        return True
    return not view.path("/proc/net/tcp6").exists() and view.path("/proc/net/tcp").exists()


def check_ipv6(view: SystemView, nerdctl_version: str | None) -> Check:
    """IPv6 off at boot is fine with nerdctl >= 2.3 only; ``nerdctl_version`` None: unknown."""
    from ksi.doctor import FAIL, PASS, WARN, Check, satisfies

    name = "IPv6"
    if not ipv6_disabled(view):
        return Check(name, PASS, "enabled")
    fix = (f"install nerdctl >= {NERDCTL_IPV6_FIX} (setup/versions.env pins it; setup/node-*.sh "
           "installs it), or boot without ipv6.disable=1")
    if nerdctl_version is None:
        return Check(name, WARN, "disabled at boot (no /proc/net/tcp6): nerdctl before "
                     f"{NERDCTL_IPV6_FIX} cannot publish ports then, and its version is unknown",
                     fix)
    try:
        fixed = satisfies(nerdctl_version, f">={NERDCTL_IPV6_FIX}")
    except ValueError:
        fixed = False
    if fixed:
        return Check(name, PASS, f"disabled at boot; nerdctl {nerdctl_version} copes with that")
    return Check(name, FAIL, f"disabled at boot (no /proc/net/tcp6), and nerdctl "
                 f"{nerdctl_version} fails every --publish then (\"open /proc/net/tcp6: no such "
                 "file or directory\"): no cluster can be created", fix)


def nerdctl_version(view: SystemView, timeout: float) -> str | None:
    """``nerdctl --version``'s version, None when nerdctl is missing or does not say."""
    import shutil

    from ksi.errors import KsiError
    from ksi.exec import Runner
    from ksi.tools.versions import VERSION_COMMANDS

    argv, parse = VERSION_COMMANDS["nerdctl"]
    if shutil.which(argv[0], path=view.env.get("PATH")) is None:
        return None
    try:
        return parse(Runner(grace=1.0).run(list(argv), timeout=timeout, env=view.env).stdout)
    except (KsiError, ValueError):
        return None


def check_ipv6_nerdctl(view: SystemView, timeout: float) -> Check:
    """:func:`check_ipv6`, asking nerdctl its version only when IPv6 is off."""
    return check_ipv6(view, nerdctl_version(view, timeout) if ipv6_disabled(view) else None)


def site_checks(view: SystemView, timeout: float) -> list[Check]:
    """The system checks of this module, in the order ``ksi doctor`` prints them."""
    return [check_liqo_kernel(view), check_liqo_modules(view), check_fuse(view),
            check_ipv6_nerdctl(view, timeout), check_session(view)]


def bus_path(view: SystemView) -> tuple[str, str | None]:
    """(where the session bus is looked for, its socket path or None when not a path)."""
    address = view.env.get("DBUS_SESSION_BUS_ADDRESS", "")
    if address:
        for part in address.split(";")[0].partition(":")[2].split(","):
            key, _, value = part.partition("=")
            if key == "path":
                return f"DBUS_SESSION_BUS_ADDRESS={address}", value
        return f"DBUS_SESSION_BUS_ADDRESS={address}", None
    xdg = view.env.get("XDG_RUNTIME_DIR", "")
    return "$XDG_RUNTIME_DIR/bus", f"{xdg.rstrip('/')}/bus" if xdg else None


def check_session(view: SystemView) -> Check:
    """``XDG_RUNTIME_DIR`` set and present, and the user's D-Bus session bus there."""
    from ksi.doctor import FAIL, PASS, Check

    name = "user session"
    linger = (f"enable lingering (`loginctl enable-linger {view.user}`) so your systemd manager, "
              "its bus and rootless containerd run without a login session")
    xdg = view.env.get("XDG_RUNTIME_DIR", "")
    if not xdg:
        return Check(name, FAIL, "XDG_RUNTIME_DIR is not set (rootless containerd lives there)",
                     f"export XDG_RUNTIME_DIR=/run/user/{view.uid} (srun/sbatch may not pass it); "
                     + linger)
    if not view.path(xdg).is_dir():
        return Check(name, FAIL, f"XDG_RUNTIME_DIR {xdg} does not exist on this node", linger)
    where, path = bus_path(view)
    if path is None:
        if where.startswith("DBUS_"):
            return Check(name, PASS, f"XDG_RUNTIME_DIR {xdg}; D-Bus at {where.split('=', 1)[1]}")
        return Check(name, FAIL, "no D-Bus session bus", linger)
    if not view.path(path).exists():
        return Check(name, FAIL, f"no D-Bus session bus at {path} ({where}): nerdctl and "
                     "systemd-run --user cannot reach your systemd manager", linger)
    return Check(name, PASS, f"XDG_RUNTIME_DIR {xdg}, D-Bus session bus at {path}")
