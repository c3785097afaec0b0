"""``ksi doctor``: what this node needs for ksi, one finding per check, each with its fix.

Every check is a function returning a :class:`Check`; system files are read only through a
:class:`SystemView`, whose root (``--root``/``KSI_DOCTOR_ROOT``, default ``/``) lets the tests point
the checks at prepared states (``tests/doctor_states/``).  The shared directory and the ports are
probed for real, and the tools are run through :class:`ksi.exec.Runner` with a short timeout.

Across nodes (under ``srun`` with more than one task) the checks meet in
``<shared-dir>/doctor/<job>.<step>/``:

1. Every rank writes ``<rank>.arrived`` (its node) as soon as it starts, runs its checks, then
   writes ``<rank>.json`` (its checks).  Files are written whole (temp file + rename), mode 0600.
2. Rank 0 waits up to ``--wait`` seconds (from its start) for every ``<rank>.json``.  A rank that
   left no file at all wrote into another directory: the shared directory is not shared between
   nodes.  A rank that arrived but sent no results ran out of time.
3. Rank 0 prints one table for all nodes and removes the directory.  The other ranks wait (up to
   twice ``--wait``) for their results to be taken; if they are not, they remove their own files,
   print their checks on stderr and fail.

Not verified here: that kind can really start a node container (only a real ``kind create
cluster`` shows that), sites that hand out subordinate ids through NSS (sssd) rather than
``/etc/subuid``, AppArmor/SELinux policies, and the network between nodes (Liqo's UDP gateway).
"""

from __future__ import annotations

import json
import os
import pwd
import random
import re
import shutil
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ksi import constants as C
from ksi.errors import CommandError, EnvironmentProblem, KsiError, UsageError
from ksi.paths import private_dir, remove_quietly, write_private

if TYPE_CHECKING:
    from ksi.slurm import SlurmContext

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"

#: Tool versions ksi is tested with (setup/versions.env pins kind v0.29.0, nerdctl 2.3.1, kubectl
#: v1.33.1, liqoctl v1.0.0).  Outside this matrix: WARN.
TESTED = {"kind": ">=0.27,<0.30", "nerdctl": ">=2.0", "kubectl": ">=1.31", "liqoctl": "==1.0.x"}
#: Below these ksi cannot work: kind's nerdctl provider needs nerdctl >= 1.7 (kind docs, rootless);
#: ksi peers with liqoctl v1's ``peer`` (v0.x has no such command).
REQUIRED = {"nerdctl": ">=1.7", "liqoctl": ">=1.0"}
#: Only multi-node runs need these: missing or broken is a WARN, not a FAIL.
MULTI_NODE_TOOLS = ("liqoctl",)
TOOL_TIMEOUT = 10.0  # seconds for each ``<tool> version``
LOCK_TIMEOUT = 5.0  # seconds for the lock probe on the shared directory

#: kind refuses a rootless provider without delegation (kind docs: rootless); these five are what
#: rootlesscontaine.rs (cgroup2) and setup/node-*.sh delegate.
CONTROLLERS = ("cpu", "cpuset", "io", "memory", "pids")
#: kind docs: rootless, known issues
MODULES = ("ip_tables", "ip6_tables", "iptable_nat", "ip6table_nat")
INOTIFY = {"max_user_watches": 524288, "max_user_instances": 512}  # kind docs: known issues
SUBIDS = 65536
SHARED_BETWEEN_NODES = "shared between nodes"
NODE_SETUP = "setup/node-*.sh"  # node-debian.sh, node-rhel.sh


@dataclass(frozen=True)
class Check:
    """One finding: ``name`` is the check, ``fix`` says how to repair a WARN or FAIL."""

    name: str
    status: str
    finding: str
    fix: str = ""
    node: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"check": self.name, "status": self.status, "finding": self.finding,
                "fix": self.fix, "node": self.node}


@dataclass(frozen=True)
class SystemView:
    """This node as the checks see it: system files under ``root``, the environment, the user."""

    root: Path = Path("/")
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    uid: int = field(default_factory=os.getuid)
    user: str = ""

    @classmethod
    def from_env(cls, root: Path | str = "/", env: Mapping[str, str] | None = None) -> SystemView:
        env = dict(os.environ if env is None else env)
        uid = os.getuid()
        try:
            user = pwd.getpwuid(uid).pw_name
        except KeyError:
            user = env.get("USER", str(uid))
        return cls(root=Path(root), env=env, uid=uid, user=user)

    def path(self, name: str) -> Path:
        """``name`` (an absolute system path) under the root."""
        return self.root / name.lstrip("/")

    def read(self, name: str) -> str | None:
        try:
            return self.path(name).read_text()
        except (OSError, UnicodeDecodeError):
            return None

    def kernel_release(self) -> str:
        return (self.read("/proc/sys/kernel/osrelease") or os.uname().release).strip()


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


# --- the tools -----------------------------------------------------------------------------------
def _kubectl_version(out: str) -> str:
    return str(json.loads(out)["clientVersion"]["gitVersion"])


def _line(pattern: str) -> Callable[[str], str]:
    def parse(out: str) -> str:
        match = re.search(pattern, out, re.MULTILINE)
        if match is None:
            raise ValueError(f"no line matches {pattern!r}")
        return match[1]

    return parse


#: tool -> (argv, parser of its stdout into a version); each format as the tool prints it:
#: ``kind v0.29.0 go1.24.2 linux/amd64`` (kind pkg/cmd/kind/version), ``nerdctl version 2.1.2``,
#: kubectl's clientVersion.gitVersion, ``Client version: v1.0.0`` (liqoctl
#: pkg/liqoctl/version/handler.go).
TOOLS: dict[str, tuple[tuple[str, ...], Callable[[str], str]]] = {
    "kind": (("kind", "version"), _line(r"^kind (\S+)")),
    "nerdctl": (("nerdctl", "--version"), _line(r"^nerdctl version (\S+)")),
    "kubectl": (("kubectl", "version", "--client", "-o", "json"), _kubectl_version),
    "liqoctl": (("liqoctl", "version", "--client"), _line(r"^Client version: (\S+)")),
}


def version_numbers(version: str) -> tuple[int, ...]:
    """``v1.32.4-dispatcher`` -> (1, 32, 4); ValueError when it starts with no number."""
    match = re.match(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?", version.strip())
    if not match:
        raise ValueError(f"not a version: {version!r}")
    return tuple(int(n) for n in match.groups() if n is not None)


def satisfies(version: str, spec: str) -> bool:
    """Whether ``version`` meets every comma-separated clause of ``spec`` (``>=0.27,<0.30``,
    ``==1.0.x``: an ``x`` matches any number from there on)."""
    have = version_numbers(version)
    for clause in spec.split(","):
        match = re.fullmatch(r"\s*(>=|<=|==|!=|>|<)\s*v?([\d.x]+)\s*", clause)
        if not match:
            raise ValueError(f"bad version clause {clause!r} in {spec!r}")
        op, target = match.groups()
        parts = target.split(".")
        if "x" in parts:
            parts = parts[:parts.index("x")]
        want = tuple(int(p) for p in parts)
        mine = (have + (0,) * len(want))[:len(want)]
        ok = {">=": mine >= want, "<=": mine <= want, "==": mine == want, "!=": mine != want,
              ">": mine > want, "<": mine < want}[op]
        if not ok:
            return False
    return True


def check_tool(tool: str, view: SystemView, *, timeout: float = TOOL_TIMEOUT,
               run_version: bool = True) -> Check:
    """``tool`` on PATH, and (``run_version``) its version inside :data:`TESTED`."""
    from ksi.exec import Runner

    optional = tool in MULTI_NODE_TOOLS
    bad = WARN if optional else FAIL
    install = (f"install it ({NODE_SETUP} puts nerdctl, kind, kubectl and liqoctl in "
               "/usr/local/bin) or add its directory to PATH")
    path = shutil.which(tool, path=view.env.get("PATH", os.defpath))
    if path is None:
        return Check(tool, bad, "not found on PATH" + (" (only multi-node runs need it)"
                                                       if optional else ""), install)
    if not run_version:
        return Check(tool, PASS, f"at {path}")
    argv, parse = TOOLS[tool]
    command = " ".join(argv)
    try:
        out = Runner(grace=1.0).run(list(argv), timeout=timeout, env=view.env).stdout
        version = parse(out)
        version_numbers(version)
    except CommandError as exc:
        if exc.timed_out:
            return Check(tool, bad, f"`{command}` did not answer within {timeout:g}s",
                         f"run `{command}` to see why it hangs")
        return Check(tool, bad, exc.message, f"run `{command}` to see why")
    except KsiError as exc:
        return Check(tool, bad, exc.message, exc.hint or "")
    except (TypeError, ValueError, KeyError, IndexError):
        return Check(tool, bad, f"cannot read a version from `{command}` ({path})",
                     f"run `{command}`; tested: {TESTED[tool]}")
    where = f"{version} at {path}"
    upgrade = f"install a tested version (setup/versions.env pins one; {NODE_SETUP} installs it)"
    if tool in REQUIRED and not satisfies(version, REQUIRED[tool]):
        return Check(tool, bad, f"{where}: ksi needs {REQUIRED[tool]}", upgrade)
    if not satisfies(version, TESTED[tool]):
        return Check(tool, WARN, f"{where}: not tested with ksi (tested: {TESTED[tool]})", upgrade)
    return Check(tool, PASS, where)


# --- the shared directory and the ports ----------------------------------------------------------
def filesystem_type(path: Path, mounts: str | None) -> str:
    """The type of the filesystem holding ``path``, from ``/proc/self/mounts`` text ('' unknown)."""
    best, kind = -1, ""
    for line in (mounts or "").splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = str(path) == point or str(path).startswith(point.rstrip("/") + "/")
        if inside and len(point) > best:
            best, kind = len(point), fields[2]
    return kind


def lock_probe(directory: Path, timeout: float = LOCK_TIMEOUT) -> str | None:
    """Take and release a ``filelock.FileLock`` (``flock(2)``) in ``directory``; None when that
    works, else why not.  Runs in a thread: a lock call to an unresponsive NFS server may hang."""
    from filelock import FileLock, Timeout

    target = directory / f".doctor-{socket.gethostname()}-{os.getpid()}.lock"
    outcome: list[str | None] = []

    def probe() -> None:
        lock = FileLock(str(target), mode=0o600, thread_local=False)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                lock.acquire(timeout=timeout)
            soft = "Soft" in type(lock).__name__  # filelock >= 4 falls back on ENOSYS
            lock.release()
            outcome.append("flock(2) is not supported (only a soft lock, which a killed process "
                           "leaves behind)" if soft else None)
        except Timeout:
            outcome.append(f"the lock was not granted within {timeout:g}s")
        except NotImplementedError:  # filelock 3: ENOSYS
            outcome.append("flock(2) is not supported")
        except OSError as exc:
            outcome.append(f"flock(2) failed: {exc.strerror or exc}")

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 1)
    remove_quietly(target)
    if thread.is_alive():
        return f"the lock call did not return within {timeout:g}s"
    return outcome[0] if outcome else "the lock probe failed"


def check_shared_dir(shared_dir: Path, view: SystemView, *, lock: bool = True,
                     lock_timeout: float = LOCK_TIMEOUT) -> Check:
    """Exists (or is created, 0700), is ours, not writable by others, writable, lockable."""
    name = "shared directory"
    path = Path(os.path.realpath(Path(shared_dir).expanduser()))
    existed = path.is_dir()
    try:
        private_dir(path, what="shared directory (--shared-dir)")
    except UsageError as exc:
        return Check(name, FAIL, exc.message, exc.hint or "")
    probe = path / f".doctor-{socket.gethostname()}-{os.getpid()}"
    try:
        write_private(probe, "probe")
    except OSError as exc:
        return Check(name, FAIL, f"cannot write in {path}: {exc.strerror or exc}",
                     f"check its permissions, `df -h {path}` and your quota")
    finally:
        remove_quietly(probe)
    fs = filesystem_type(path, view.read("/proc/self/mounts"))
    if lock:
        why = lock_probe(path, lock_timeout)
        if why:
            return Check(name, FAIL, f"cannot lock files in {path}{f' ({fs})' if fs else ''}: "
                         f"{why}", "use a filesystem with working locks (NFS with lockd, NFSv4, "
                         "Lustre mounted with -o flock)")
    done = "created, " if not existed else ""
    return Check(name, PASS, f"{path}: {done}private, writable{', lockable' if lock else ''}"
                 f"{f' ({fs})' if fs else ''}")


def _bind_error(address: str, port: int, kind: int) -> OSError | None:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, kind) as sock:
        try:
            sock.bind((address, port))
        except OSError as exc:
            return exc
    return None


def check_ports(address: str, tries: int = 50) -> Check:
    """A NodePort-range port (K8S_PORT, Liqo's gateway) can be bound on ``address``, TCP and UDP."""
    name = "free ports"
    span = f"{C.NODEPORT_MIN}-{C.NODEPORT_MAX}"
    last: OSError | None = None
    for port in random.sample(range(C.NODEPORT_MIN, C.NODEPORT_MAX + 1), tries):
        last = _bind_error(address, port, socket.SOCK_STREAM) or _bind_error(
            address, port, socket.SOCK_DGRAM)
        if last is None:
            return Check(name, PASS, f"TCP and UDP ports in {span} can be bound on {address} "
                         f"(e.g. {port})")
    why = last.strerror if last is not None and last.strerror else str(last)
    return Check(name, FAIL, f"no port in {span} could be bound on {address} ({tries} tried: "
                 f"{why})", "free some ports, or pass the node's own address with --api-address")


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


# --- putting them together -----------------------------------------------------------------------
def node_checks(view: SystemView, shared_dir: Path, address: str, *,
                tool_timeout: float = TOOL_TIMEOUT) -> list[Check]:
    """Every check of this node, in the order they are printed."""
    from ksi.sitechecks import site_checks

    checks = [check_python(), check_cgroup_v2(view), check_delegation(view),
              *check_modules(view), check_inotify(view), check_containerd(view),
              check_linger(view), check_subids(view), *site_checks(view, tool_timeout)]
    checks += [check_tool(tool, view, timeout=tool_timeout) for tool in TOOLS]
    checks += [check_shared_dir(shared_dir, view), check_ports(address)]
    return checks


def fast_checks(shared_dir: Path, *, multi_node: bool = False,
                view: SystemView | None = None) -> list[Check]:
    """The cheap subset ``ksi run`` runs first: nerdctl, kind, kubectl (and liqoctl when
    ``multi_node``) on PATH, cgroup v2, XDG_RUNTIME_DIR and the D-Bus session bus, the shared
    directory private and writable.  No
    subprocess, no lock, no wait; creates the shared directory (0700) when missing."""
    view = view or SystemView.from_env()
    checks = [check_tool(tool, view, run_version=False) for tool in ("nerdctl", "kind", "kubectl")]
    if multi_node:
        liqoctl = check_tool("liqoctl", view, run_version=False)
        checks.append(liqoctl if liqoctl.status == PASS else
                      Check(liqoctl.name, FAIL, "not found on PATH (multi-node runs need it)",
                            liqoctl.fix))
    from ksi.sitechecks import check_session

    return checks + [check_cgroup_v2(view), check_session(view),
                     check_shared_dir(shared_dir, view, lock=False)]


def environment_problem(checks: Iterable[Check]) -> EnvironmentProblem | None:
    """The failing checks as one ``EnvironmentProblem`` (the first one's finding and fix; all of
    them in the detail shown with -v), or None when nothing failed."""
    failed = [c for c in checks if c.status == FAIL]
    if not failed:
        return None
    first = failed[0]
    message = f"{first.name}: {first.finding}"
    if len(failed) > 1:
        message += f" (and {', '.join(c.name for c in failed[1:])}: see `ksi doctor`)"
    return EnvironmentProblem(message, hint=first.fix or "run `ksi doctor`",
                              detail="\n".join(line for c in failed for line in lines_of([c])))


def raise_on_failure(checks: Iterable[Check]) -> None:
    """Raise :func:`environment_problem` when any check failed (exit code 3)."""
    problem = environment_problem(checks)
    if problem is not None:
        raise problem


def lines_of(checks: list[Check], nodes: list[str] | None = None) -> list[str]:
    """``STATUS  check: finding`` (+ ``      fix: ...``).  With several nodes, equal results of a
    check are grouped: ``STATUS  check [node1, node2]: finding`` (``[all N nodes]``)."""
    nodes = nodes or []
    groups: dict[str, dict[tuple[str, str, str], list[str]]] = {}
    for c in checks:
        groups.setdefault(c.name, {}).setdefault((c.status, c.finding, c.fix), []).append(c.node)
    out = []
    for name, results in groups.items():
        for (status, finding, fix), where in results.items():
            label = name
            if len(nodes) > 1 and name != SHARED_BETWEEN_NODES:
                label += (f" [all {len(nodes)} nodes]" if sorted(set(where)) == sorted(nodes)
                          else f" [{', '.join(where)}]")
            out.append(f"{status}  {label}: {finding}")
            if fix and status != PASS:
                out.append(f"      fix: {fix}")
    return out


def summary(checks: list[Check]) -> str:
    counts = {s: sum(1 for c in checks if c.status == s) for s in (FAIL, WARN, PASS)}
    return ", ".join(f"{n} {s}" for s, n in counts.items())


# --- across nodes --------------------------------------------------------------------------------
@dataclass
class Gathered:
    """What one rank ends with: rank 0 every node's checks plus the cross-node one; the others
    their own, and whether rank 0 took them."""

    checks: list[Check]
    nodes: list[str]
    leader: bool
    collected: bool = True


def _read_results(path: Path) -> list[Check] | None:
    try:
        data = json.loads(path.read_text())
        return [Check(**{"name" if k == "check" else k: str(v) for k, v in item.items()})
                for item in data["checks"]]
    except (OSError, ValueError, TypeError, KeyError):
        return None


def across_nodes(rank: int, ntasks: int, node: str, run_id: str, shared_dir: Path,
                 local: Callable[[], list[Check]], *, wait: float,
                 poll: float = 0.1) -> Gathered:
    """Run ``local`` on this rank and meet the other ranks' results (protocol: module docstring)."""
    started = time.monotonic()
    base = Path(os.path.realpath(Path(shared_dir).expanduser()))
    jobdir: Path | None = None
    why = ""
    try:
        parent = private_dir(private_dir(base, what="shared directory (--shared-dir)") / "doctor",
                             what="doctor directory")
        jobdir = private_dir(parent / run_id, what="doctor directory")
        write_private(jobdir / f"{rank}.arrived", json.dumps({"node": node, "pid": os.getpid()}))
    except (KsiError, OSError) as exc:
        why = exc.message if isinstance(exc, KsiError) else str(exc)
        jobdir = None
    checks = [Check(c.name, c.status, c.finding, c.fix, node) for c in local()]
    if jobdir is not None:
        try:
            write_private(jobdir / f"{rank}.json",
                          json.dumps({"node": node, "checks": [c.as_dict() for c in checks]}))
        except OSError as exc:  # rank 0 gave up and removed the directory meanwhile
            why, jobdir = f"cannot write {jobdir / f'{rank}.json'}: {exc.strerror or exc}", None
    if jobdir is None:
        fail = Check(SHARED_BETWEEN_NODES, FAIL, f"rank {rank} cannot take part: {why}",
                     "fix the shared directory (see its check)", node)
        return Gathered(checks + [fail], [node], leader=rank == 0, collected=False)
    if rank == 0:
        return _collect(jobdir, ntasks, checks, node, started + wait, wait, poll)
    return _hand_in(jobdir, rank, checks, node, started + 2 * wait, poll)


def _collect(jobdir: Path, ntasks: int, mine: list[Check], node: str, deadline: float,
             wait: float, poll: float) -> Gathered:
    try:
        while True:
            present = {r for r in range(ntasks) if (jobdir / f"{r}.json").exists()}
            if len(present) == ntasks or time.monotonic() >= deadline:
                break
            time.sleep(poll)
    except BaseException:  # Ctrl-C, SIGTERM: leave nothing behind
        shutil.rmtree(jobdir, ignore_errors=True)
        raise
    arrived = {r for r in range(ntasks) if (jobdir / f"{r}.arrived").exists()}
    checks, nodes = list(mine), [node]
    cross: list[Check] = []
    for r in sorted(present - {0}):
        theirs = _read_results(jobdir / f"{r}.json")
        if theirs is None:
            cross.append(Check(SHARED_BETWEEN_NODES, FAIL, f"rank {r} wrote unreadable results",
                               "run `ksi doctor` again", node))
            continue
        checks += theirs
        nodes += [c.node for c in theirs[:1]]
    shutil.rmtree(jobdir, ignore_errors=True)
    try:
        jobdir.parent.rmdir()  # the doctor directory, when no other run uses it
    except OSError:
        pass
    unseen = sorted(set(range(ntasks)) - present - arrived)
    late = sorted(arrived - present)
    if unseen:
        ranks = f"rank{'s' if len(unseen) > 1 else ''} {', '.join(map(str, unseen))}"
        cross.append(Check(SHARED_BETWEEN_NODES, FAIL, f"the shared directory is not shared "
                           f"between nodes ({ranks} not seen in {jobdir} after {wait:g}s)",
                           "put --shared-dir (KSI_SHARED_DIR) on a filesystem every node "
                           "mounts at the same path (NFS, Lustre, GPFS; your home directory)",
                           node))
    if late:
        cross.append(Check(SHARED_BETWEEN_NODES, FAIL, f"rank {', '.join(map(str, late))} "
                           f"arrived but sent no results within {wait:g}s",
                           f"raise --wait ({C.ENV['doctor_wait']}); see that rank's output",
                           node))
    if not cross:
        cross.append(Check(SHARED_BETWEEN_NODES, PASS, f"all {ntasks} ranks met in {jobdir}",
                           node=node))
    return Gathered(checks + cross, nodes, leader=True)


def _hand_in(jobdir: Path, rank: int, mine: list[Check], node: str, deadline: float,
             poll: float) -> Gathered:
    results = jobdir / f"{rank}.json"
    try:
        while time.monotonic() < deadline:
            if not results.exists():  # rank 0 took it and cleaned up
                return Gathered(mine, [node], leader=False)
            time.sleep(poll)
    finally:
        remove_quietly(results)
        remove_quietly(jobdir / f"{rank}.arrived")
        for empty in (jobdir, jobdir.parent):
            try:
                empty.rmdir()
            except OSError:
                break
    fail = Check(SHARED_BETWEEN_NODES, FAIL, f"rank 0 did not take rank {rank}'s results from "
                 f"{jobdir}: the shared directory may not be shared between nodes",
                 "see rank 0's output; put --shared-dir (KSI_SHARED_DIR) on a filesystem every "
                 "node mounts at the same path", node)
    return Gathered(mine + [fail], [node], leader=False, collected=False)


def diagnose(view: SystemView, ctx: SlurmContext, shared_dir: Path, address: str | None, *,
             wait: float, tool_timeout: float = TOOL_TIMEOUT) -> Gathered:
    """This node's checks; under srun with several tasks, met with the other nodes' checks."""
    from ksi.slurm import node_address

    where = address or node_address(ctx)

    def local() -> list[Check]:
        return node_checks(view, shared_dir, where, tool_timeout=tool_timeout)

    if ctx.multi_node:
        return across_nodes(ctx.rank, ctx.ntasks, ctx.node_name, ctx.run_id, shared_dir, local,
                            wait=wait)
    checks = [Check(c.name, c.status, c.finding, c.fix, ctx.node_name) for c in local()]
    return Gathered(checks, [ctx.node_name], leader=True)
