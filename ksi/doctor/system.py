"""System checks: cgroup v2 and delegation, kernel modules, inotify, rootless containerd,
linger, subordinate ids."""

from __future__ import annotations

import re

from ksi.doctor.model import (
    CONTROLLERS,
    FAIL,
    INOTIFY,
    MODULES,
    NODE_SETUP,
    PASS,
    SUBIDS,
    WARN,
    Check,
    SystemView,
)


# --- the system ----------------------------------------------------------------------------------
def check_cgroup_v2(view: SystemView) -> Check:
    name = "cgroup v2"
    fix = ("boot with systemd.unified_cgroup_hierarchy=1 (GRUB_CMDLINE_LINUX in /etc/default/grub, "
           "update-grub, reboot): rootless kind needs cgroup v2")
    if view.path("/sys/fs/cgroup/cgroup.controllers").is_file():
        return Check(name, PASS, "unified hierarchy mounted at /sys/fs/cgroup")
    if view.path("/sys/fs/cgroup/unified/cgroup.controllers").is_file():
        return Check(name, FAIL, "hybrid hierarchy: cgroup v1 at /sys/fs/cgroup, v2 only at "
                     "/sys/fs/cgroup/unified", fix)
    return Check(name, FAIL, "cgroup v1 (no /sys/fs/cgroup/cgroup.controllers)", fix)


def check_delegation(view: SystemView) -> Check:
    name = "cgroup delegation"
    unit = f"user@{view.uid}.service"
    where = f"/sys/fs/cgroup/user.slice/user-{view.uid}.slice/{unit}/cgroup.controllers"
    if not view.path("/sys/fs/cgroup/cgroup.controllers").is_file():
        return Check(name, FAIL, "no cgroup v2, so nothing is delegated", "enable cgroup v2 first")
    text = view.read(where)
    if text is None:
        return Check(name, FAIL, f"no systemd user manager runs for uid {view.uid} ({where} is "
                     "missing)", f"enable lingering (`loginctl enable-linger {view.user}`), or "
                     "log in with ssh rather than su/sudo")
    have = set(text.split())
    missing = [c for c in CONTROLLERS if c not in have]
    if missing:
        return Check(name, FAIL, f"{', '.join(missing)} not delegated to {unit} (it has: "
                     f"{' '.join(sorted(have)) or 'none'})",
                     "as root: /etc/systemd/system/user@.service.d/delegate.conf with [Service] "
                     f"Delegate={' '.join(CONTROLLERS)}, `systemctl daemon-reload` ({NODE_SETUP} "
                     "does it); your manager gets them when all your sessions on the node end")
    return Check(name, PASS, f"{' '.join(CONTROLLERS)} delegated to {unit}")


def loaded_modules(view: SystemView) -> set[str] | None:
    """Modules loaded (``/proc/modules``) or built in (``modules.builtin``); None: cannot tell."""
    found: set[str] = set()
    readable = False
    text = view.read("/proc/modules")
    if text is not None:
        readable = True
        found.update(line.split()[0] for line in text.splitlines() if line.strip())
    text = view.read(f"/lib/modules/{view.kernel_release()}/modules.builtin")
    if text is not None:
        readable = True
        for line in text.splitlines():
            base = line.strip().rsplit("/", 1)[-1]
            if base.endswith(".ko"):
                found.add(base[:-3])
    found = {m.replace("-", "_") for m in found}  # the kernel treats - and _ alike
    return found if readable else None


def check_modules(view: SystemView) -> list[Check]:
    loaded = loaded_modules(view)
    if loaded is None:
        why = (f"cannot tell: neither /proc/modules nor /lib/modules/{view.kernel_release()}/"
               "modules.builtin is readable")
        return [Check("kernel modules", WARN, why, f"check with `lsmod`: {' '.join(MODULES)}"),
                Check("wireguard", WARN, why, "check with `lsmod | grep wireguard`")]
    missing = [m for m in MODULES if m not in loaded]
    if missing:
        first = Check("kernel modules", FAIL, f"{', '.join(missing)} not loaded",
                      f"as root: `modprobe -a {' '.join(missing)}` and list them in "
                      f"/etc/modules-load.d/ksi.conf ({NODE_SETUP} does both)")
    else:
        first = Check("kernel modules", PASS, f"{' '.join(MODULES)} loaded")
    if "wireguard" in loaded:
        return [first, Check("wireguard", PASS, "wireguard loaded (Liqo's gateway)")]
    return [first, Check("wireguard", WARN, "wireguard not loaded: Liqo's gateway needs it for "
                         "multi-node runs", "as root: `modprobe wireguard`; else Liqo needs "
                         "--set networking.gatewayTemplates.wireguard.implementation=userspace")]


def check_inotify(view: SystemView) -> Check:
    name = "inotify"
    short, seen = [], []
    for key, least in INOTIFY.items():
        raw = (view.read(f"/proc/sys/fs/inotify/{key}") or "").strip()
        if not raw.isdigit():
            return Check(name, WARN, f"cannot read /proc/sys/fs/inotify/{key}",
                         f"check `sysctl fs.inotify.{key}` (needs >= {least})")
        seen.append(f"{key}={raw}")
        if int(raw) < least:
            short.append(f"fs.inotify.{key}={least}")
    if short:
        return Check(name, WARN, f"{', '.join(seen)}: too low for more than one cluster on this "
                     "node (kind known issues)", f"as root: `sysctl -w {' '.join(short)}` and "
                     f"persist it in /etc/sysctl.d/90-ksi.conf ({NODE_SETUP} does both)")
    return Check(name, PASS, ", ".join(seen))


def check_containerd(view: SystemView) -> Check:
    """Rootless containerd as nerdctl finds it: ``$ROOTLESSKIT_STATE_DIR``, else
    ``$XDG_RUNTIME_DIR/containerd-rootless`` with ``child_pid`` and ``api.sock``
    (nerdctl pkg/rootlessutil)."""
    name = "rootless containerd"
    setup = ("run setup/user.sh (or `containerd-rootless-setuptool.sh install`), then "
             "`systemctl --user start containerd.service`")
    xdg = view.env.get("XDG_RUNTIME_DIR", "")
    if not xdg:
        return Check(name, FAIL, "XDG_RUNTIME_DIR is not set",
                     "log in with ssh (not su/sudo), or export XDG_RUNTIME_DIR=/run/user/"
                     f"{view.uid} with lingering enabled")
    if not view.path(xdg).is_dir():
        return Check(name, FAIL, f"XDG_RUNTIME_DIR {xdg} does not exist on this node",
                     f"enable lingering (`loginctl enable-linger {view.user}`) so it exists "
                     "without a login session")
    state = view.env.get("ROOTLESSKIT_STATE_DIR") or f"{xdg.rstrip('/')}/containerd-rootless"
    if not view.path(state).is_dir():
        return Check(name, FAIL, f"not running for {view.user} (no {state})", setup)
    pid = (view.read(f"{state}/child_pid") or "").strip()
    if not pid.isdigit() or not view.path(f"/proc/{pid}").is_dir():
        return Check(name, FAIL, f"stopped: {state}/child_pid names no live process",
                     "`systemctl --user restart containerd.service`")
    if not view.path(f"{state}/api.sock").exists():
        return Check(name, FAIL, f"RootlessKit's {state}/api.sock is missing (ports cannot be "
                     "published)", "`systemctl --user restart containerd.service`")
    return Check(name, PASS, f"running (RootlessKit state in {state}, child pid {pid})")


def check_linger(view: SystemView) -> Check:
    if view.path(f"/var/lib/systemd/linger/{view.user}").exists():
        return Check("linger", PASS, f"enabled for {view.user}")
    return Check("linger", WARN, f"off for {view.user}: your systemd manager (and rootless "
                 "containerd) stop with your last session and may be missing in batch jobs",
                 f"`loginctl enable-linger {view.user}` (as root if your site requires it)")


def _subid_count(text: str, user: str, uid: int) -> int:
    total = 0
    for line in text.splitlines():
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[0] in (user, str(uid)) and parts[2].isdigit():
            total += int(parts[2])
    return total


def check_subids(view: SystemView) -> Check:
    name = "subordinate ids"
    fix = (f"as root: `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 "
           f"{view.user}` with a free range (`{NODE_SETUP} {view.user}` picks one)")
    counts = {}
    for file in ("/etc/subuid", "/etc/subgid"):
        counts[file] = _subid_count(view.read(file) or "", view.user, view.uid)
    short = [f"{file} has {n or 'no'} ids for {view.user}" for file, n in counts.items()
             if n < SUBIDS]
    if not short:
        return Check(name, PASS, f"{counts['/etc/subuid']} uids and {counts['/etc/subgid']} gids "
                     f"for {view.user}")
    nss = re.search(r"^\s*subid:\s*(.+)$", view.read("/etc/nsswitch.conf") or "", re.MULTILINE)
    if nss and nss[1].split()[0] != "files":
        return Check(name, WARN, f"{'; '.join(short)}, but they come from {nss[1].split()[0]} "
                     "(nsswitch.conf), which ksi cannot read", f"check `getsubids {view.user}`")
    return Check(name, FAIL, f"{'; '.join(short)} (needs {SUBIDS})", fix)




def check_python(version: tuple[int, ...] | None = None, executable: str | None = None) -> Check:
    """The interpreter that runs ksi (the one a batch job's ``ksi`` runs too): ksi needs 3.11+
    (pyproject's requires-python; kubernetes>=37 needs it as well)."""
    import sys

    from ksi import __version__

    version = version or tuple(sys.version_info[:3])
    executable = executable or sys.executable
    found = f"Python {'.'.join(map(str, version))} at {executable} (ksi {__version__})"
    if version < (3, 11):
        return Check("python", FAIL, found + ": ksi needs Python 3.11 or newer",
                     "install Python 3.11+ as in setup/README.md and reinstall ksi with it")
    return Check("python", PASS, found)
