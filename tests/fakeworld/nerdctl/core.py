"""The nerdctl double's command line: dispatch, global flags, logrus-style errors, version/info/network.

Upstream (containerd/nerdctl v2.x): ``cmd/nerdctl/main.go`` (errors end in ``log.L.Fatal(err)``:
logrus prints ``time="..." level=fatal msg="..."`` when stderr is not a terminal and
``FATA[0000] ...`` when it is; exit status 1), ``cmd/nerdctl/version.go`` (``Client:``/``Server:``
blocks; ``nerdctl -v`` prints ``nerdctl version X``, which kind's ``IsAvailable`` checks),
``cmd/nerdctl/system/system_info.go`` + ``pkg/inspecttypes/dockercompat/info.go`` (the JSON kind's
``info()`` reads: ``CgroupDriver``, ``CgroupVersion``, ``MemoryLimit``, ``PidsLimit``,
``CPUShares``, ``SecurityOptions`` with ``name=rootless``), ``cmd/nerdctl/network/*``.

``main(argv, stdout, stderr)`` returns the exit status, so the kind double can call it in-process.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from tests.fakeworld.common import cliflags as cf
from tests.fakeworld.common import world as fw
from tests.fakeworld.common import gotemplate as gt
from tests.fakeworld.nerdctl import containers as ctr
from tests.fakeworld.nerdctl import images as imgs

#: ``KSI_FAKE_NERDCTL_VERSION`` plays another release (behaviour that changed between releases
#: follows it: see ``containers.used_ports``); read when a command runs, not at import (a fork
#: server's children import nothing: common/forkserver.py)
DEFAULT_VERSION = "2.1.3"


def version() -> str:
    """The nerdctl release the double plays."""
    return os.environ.get("KSI_FAKE_NERDCTL_VERSION", DEFAULT_VERSION)


CONTAINERD_VERSION = "v2.1.4"
_START = time.monotonic()

GLOBAL_FLAGS = [
    cf.Flag("debug", "bool", default=False),
    cf.Flag("debug-full", "bool", default=False),
    cf.Flag("address", short="a", default="/run/user/{uid}/containerd/containerd.sock"),
    cf.Flag("host", short="H", default=""),
    cf.Flag("namespace", short="n", default="default"),
    cf.Flag("snapshotter", default="overlayfs"),
    cf.Flag("cgroup-manager", default="systemd"),
    cf.Flag("data-root", default=""),
    cf.Flag("help", "bool", short="h", default=False),
    cf.Flag("version", "bool", short="v", default=False),
    cf.Flag("experimental", "bool", default=True),
]


def _go_quote(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out) + '"'


def logrus(level: str, message: str, err: IO[str]) -> None:
    """One logrus TextFormatter line (terminal: ``FATA[0000] msg``; else key=value)."""
    isatty = getattr(err, "isatty", lambda: False)()
    if isatty:
        color = {"fatal": 31, "error": 31, "warning": 33, "info": 36}.get(level, 37)
        text = {"warning": "WARN"}.get(level, level.upper()[:4])
        err.write(f"\x1b[{color}m{text}\x1b[0m[{int(time.monotonic() - _START):04d}] {message:<44} \n")
        return
    ts = datetime.now().astimezone().isoformat(timespec="seconds").replace("+00:00", "Z")
    safe = message and all(c.isalnum() or c in "-._/@^+" for c in message)
    err.write(f'time="{ts}" level={level} msg={message if safe else _go_quote(message)}\n')


def _info_data() -> dict[str, Any]:
    return {
        "ID": fw.hostname(),
        "Driver": "overlayfs",
        "Plugins": {"Log": ["fluentd", "journald", "json-file", "none", "syslog"], "Storage": ["native", "overlayfs", "fuse-overlayfs"]},
        "MemoryLimit": True,
        "SwapLimit": True,
        "CpuCfsPeriod": True,
        "CpuCfsQuota": True,
        "CPUShares": True,
        "CPUSet": True,
        "PidsLimit": True,
        "IPv4Forwarding": True,
        "LoggingDriver": "json-file",
        "CgroupDriver": "systemd",
        "CgroupVersion": "2",
        "KernelVersion": platform.release(),
        "OperatingSystem": "Debian GNU/Linux 12 (bookworm)",
        "OSType": "linux",
        "Architecture": platform.machine(),
        "NCPU": os.cpu_count() or 1,
        "MemTotal": 8 * 1024**3,
        "Name": fw.hostname(),
        "ServerVersion": CONTAINERD_VERSION,
        "SecurityOptions": ["name=seccomp,profile=builtin", "name=cgroupns", "name=rootless"],
    }


def _version_text() -> str:
    return (
        "Client:\n"
        f" Version:\tv{version()}\n"
        f" OS/Arch:\tlinux/amd64\n"
        " Git commit:\t3dd6e5b4e1c2ba6c1ba8a3b2bd4b3d0a3b1de6a1\n"
        " buildctl:\n"
        "  Version:\tv0.23.2\n"
        "  GitCommit:\tf5c70a5e6d3bbb8bfd6e8fe7e1e4a1d6f9a6d7e8\n"
        "\n"
        "Server:\n"
        " containerd:\n"
        f"  Version:\t{CONTAINERD_VERSION}\n"
        "  GitCommit:\t75cb2b7193e4e490e9fbdc236c0e811ccaba3376\n"
        " runc:\n"
        "  Version:\t1.3.0\n"
        "  GitCommit:\tv1.3.0-0-g4ca628d1\n"
    )


def _format_inspect(fmt: str, entries: list[Any], out: IO[str]) -> None:
    """``formatter.FormatSlice``: indented JSON array, or one template line per entry."""
    if not entries:
        return
    if fmt == "":
        out.write(json.dumps(entries, indent=4, ensure_ascii=False) + "\n\n")
        return
    tmpl = gt.parse(fmt)
    for e in entries:
        out.write(tmpl.execute(e) + "\n")


# --- network (kind's ensureNetwork) ------------------------------------------------------------------


def _network(args: list[str], out: IO[str]) -> None:
    sub, rest = (args[0], args[1:]) if args else ("", [])
    if sub == "inspect":
        p = cf.parse(rest, [cf.Flag("format", short="f", default=""), cf.Flag("mode", default="dockercompat")])
        entries, missing = [], []
        for name in p.args:
            rec = fw.read_json(fw.networks_dir() / f"{name}.json")
            if rec is None and name == "bridge":
                rec = {"name": "bridge", "id": "0" * 64, "subnet": "10.4.0.0/24"}
            if rec is None:
                missing.append(name)
                continue
            entries.append({"Name": rec["name"], "Id": rec["id"], "IPAM": {"Config": [{"Subnet": rec["subnet"]}]},
                            "Labels": {}, "Options": {"com.docker.network.driver.mtu": "1500"} if name == "bridge" else {}})
        _format_inspect(p.values["format"], entries, out)
        if missing:
            raise ctr.NerdctlError(f"{len(missing)} errors:\n" + "\n".join(f"no network found matching: {m}" for m in missing))
    elif sub == "create":
        p = cf.parse(rest, [cf.Flag("driver", short="d", default="bridge"), cf.Flag("opt", "list", short="o"),
                            cf.Flag("subnet", "list"), cf.Flag("ipv6", "bool", default=False), cf.Flag("label", "list")])
        cf.min_args(p, 1)
        name = p.args[0]
        path = fw.networks_dir() / f"{name}.json"
        if path.exists():
            raise ctr.NerdctlError(f"network with name {name} already exists")
        rec = {"name": name, "id": os.urandom(32).hex(), "subnet": f"10.89.{sum(map(ord, name)) % 200}.0/24"}
        fw.write_json_atomic(path, rec)
        out.write(rec["id"] + "\n")
    elif sub in ("rm", "remove"):
        for name in args[1:]:
            (fw.networks_dir() / f"{name}.json").unlink(missing_ok=True)
            out.write(name + "\n")
    else:
        raise cf.FlagError(f'unknown command "{sub}" for "nerdctl network"')


# --- dispatch -------------------------------------------------------------------------------------------

RUN_FLAGS = [
    cf.Flag("name", default=""), cf.Flag("hostname", short="h", default=""), cf.Flag("label", "list", short="l"),
    cf.Flag("privileged", "bool", default=False), cf.Flag("security-opt", "list"), cf.Flag("tmpfs", "list"),
    cf.Flag("volume", "list", short="v"), cf.Flag("env", "list", short="e"), cf.Flag("detach", "bool", short="d", default=False),
    cf.Flag("tty", "bool", short="t", default=False), cf.Flag("interactive", "bool", short="i", default=False),
    cf.Flag("net", "list"), cf.Flag("network", "list"), cf.Flag("restart", default="no"), cf.Flag("init", "bool", default=False),
    cf.Flag("sysctl", "list"), cf.Flag("device", "list"), cf.Flag("publish", "list", short="p"),
    cf.Flag("annotation", "list"), cf.Flag("cgroupns", default=""), cf.Flag("rm", "bool", default=False),
    cf.Flag("entrypoint", default=""), cf.Flag("pull", default="missing"),
]


def _dispatch(cmd: str, rest: list[str], out: IO[str], err: IO[str]) -> None:
    if cmd == "ps" or cmd == "container ls":
        p = cf.parse(rest, [cf.Flag("all", "bool", short="a", default=False), cf.Flag("filter", "list", short="f"),
                            cf.Flag("format", default=""), cf.Flag("quiet", "bool", short="q", default=False),
                            cf.Flag("no-trunc", "bool", default=False), cf.Flag("size", "bool", short="s", default=False)])
        cf.no_args(p, "nerdctl ps")
        v = p.values
        ctr.ps(v["all"], v["filter"], v["format"], v["quiet"], v["no-trunc"], out)
    elif cmd == "run":
        p = cf.parse(rest, RUN_FLAGS, interspersed=False)
        cf.min_args(p, 1)
        v = dict(p.values)
        v["net"] = v["net"] + v["network"]
        v["_argv"] = ["run", *rest]
        ctr.run(v, p.args[0], p.args[1:], out, err)
    elif cmd == "inspect" or cmd == "container inspect":
        p = cf.parse(rest, [cf.Flag("format", short="f", default=""), cf.Flag("type", default=""),
                            cf.Flag("mode", default="dockercompat"), cf.Flag("size", "bool", short="s", default=False)])
        cf.min_args(p, 1)
        kind = p.values["type"] if cmd == "inspect" else "container"
        if kind not in ("", "container", "image"):
            raise ctr.NerdctlError(f'"{kind}" is not a valid value for --type')
        entries, errors = [], []
        for req in p.args:
            found = ctr.walk([req])[0] if kind in ("", "container") else []
            img = imgs.find_image(req) if kind in ("", "image") and not found else None
            if found:
                entries.append(ctr.inspect_entry(found[0][1]))
            elif img is not None:
                entries.extend(imgs.inspect_images([req])[0])
            else:
                errors.append(f"no such object {req}" if cmd == "inspect" else f"no such container: {req}")
        if errors:
            raise ctr.NerdctlError(f"{len(errors)} errors: [{' '.join(errors)}]")
        try:
            _format_inspect(p.values["format"], entries, out)
        except gt.TemplateError as e:
            raise ctr.NerdctlError(str(e)) from e
    elif cmd in ("rm", "container rm"):
        p = cf.parse(rest, [cf.Flag("force", "bool", short="f", default=False), cf.Flag("volumes", "bool", short="v", default=False)])
        cf.min_args(p, 1)
        ctr.remove(p.args, p.values["force"], out)
    elif cmd in ("stop", "container stop"):
        p = cf.parse(rest, [cf.Flag("time", "int", short="t", default=10), cf.Flag("signal", short="s", default="SIGTERM")])
        cf.min_args(p, 1)
        ctr.stop(p.args, float(p.values["time"]), out)
    elif cmd in ("wait", "container wait"):
        p = cf.parse(rest, [])
        cf.min_args(p, 1)
        ctr.wait(p.args, out)
    elif cmd in ("update", "container update"):
        p = cf.parse(rest, [cf.Flag("restart", default=None)])
        cf.min_args(p, 1)
        ctr.update(p.args, p.values["restart"])
    elif cmd in ("logs", "container logs"):
        p = cf.parse(rest, [cf.Flag("follow", "bool", short="f", default=False), cf.Flag("timestamps", "bool", short="t", default=False)])
        cf.min_args(p, 1)
        ctr.logs(p.args[0], out)
    elif cmd in ("images", "image ls", "image list"):
        p = cf.parse(rest, [cf.Flag("quiet", "bool", short="q", default=False), cf.Flag("all", "bool", short="a", default=True),
                            cf.Flag("format", default=""), cf.Flag("no-trunc", "bool", default=False)])
        imgs.list_images(p.values["quiet"], out)
    elif cmd == "image inspect":
        p = cf.parse(rest, [cf.Flag("format", short="f", default=""), cf.Flag("mode", default="dockercompat"), cf.Flag("platform", default="")])
        cf.min_args(p, 1)
        entries, missing = imgs.inspect_images(p.args)
        if missing:
            raise ctr.NerdctlError(f"{len(missing)} errors:\n" + "\n".join(f"no such image: {m}" for m in missing))
        _format_inspect(p.values["format"], entries, out)
    elif cmd in ("pull", "image pull"):
        p = cf.parse(rest, [cf.Flag("quiet", "bool", short="q", default=False), cf.Flag("platform", "list"),
                            cf.Flag("all-platforms", "bool", default=False), cf.Flag("unpack", default="auto")])
        cf.min_args(p, 1)
        try:
            imgs.pull(p.args[0], err, p.values["platform"] or None, p.values["all-platforms"])
        except (imgs.ReferenceError, LookupError) as e:
            raise ctr.NerdctlError(str(e)) from e
    elif cmd in ("load", "image load"):
        p = cf.parse(rest, [cf.Flag("input", short="i", default=""), cf.Flag("quiet", "bool", short="q", default=False),
                            cf.Flag("platform", "list"), cf.Flag("all-platforms", "bool", default=False)])
        if not p.values["input"]:
            raise ctr.NerdctlError("stdin is empty and input flag is not specified")
        try:
            imgs.load_archive(Path(p.values["input"]), out)
        except (OSError, ValueError) as e:
            raise ctr.NerdctlError(str(e)) from e
    elif cmd in ("save", "image save"):
        p = cf.parse(rest, [cf.Flag("output", short="o", default=""), cf.Flag("platform", "list"),
                            cf.Flag("all-platforms", "bool", default=False)])
        cf.min_args(p, 1)
        if not p.values["output"]:
            raise ctr.NerdctlError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
        try:
            imgs.save_archive(Path(p.values["output"]), p.args, p.values["platform"] or None,
                              p.values["all-platforms"])
        except ValueError as e:
            raise ctr.NerdctlError(str(e)) from e
    elif cmd == "version":
        p = cf.parse(rest, [cf.Flag("format", short="f", default="")])
        cf.no_args(p, "nerdctl version")
        out.write(_version_text())
    elif cmd in ("info", "system info"):
        p = cf.parse(rest, [cf.Flag("format", short="f", default=""), cf.Flag("mode", default="dockercompat")])
        data = _info_data()
        if p.values["format"]:
            out.write(gt.parse(p.values["format"]).execute(data) + "\n")
        else:
            out.write(
                "Client:\n Namespace:\tdefault\n Debug Mode:\tfalse\n\nServer:\n"
                f" Server Version: {data['ServerVersion']}\n Storage Driver: overlayfs\n Logging Driver: json-file\n"
                " Cgroup Driver: systemd\n Cgroup Version: 2\n Security Options:\n  seccomp\n   Profile: builtin\n"
                f"  cgroupns\n  rootless\n Kernel Version: {data['KernelVersion']}\n OSType: linux\n"
                f" Architecture: {data['Architecture']}\n CPUs: {data['NCPU']}\n Name: {data['Name']}\n"
            )
    elif cmd == "network":
        _network(rest, out)
    else:
        raise cf.FlagError(f'unknown command "{cmd.split()[-1]}" for "nerdctl"')


GROUPS = {"container": {"ls", "list", "ps", "inspect", "rm", "remove", "stop", "wait", "update", "logs", "run"},
          "image": {"ls", "list", "inspect", "pull", "load", "save"}, "system": {"info"}}
ALIASES = {"container ps": "container ls", "container list": "container ls", "container remove": "container rm",
           "container run": "run", "image list": "image ls"}


def main(argv: list[str], out: IO[str] = sys.stdout, err: IO[str] = sys.stderr) -> int:
    """Run one nerdctl command; returns the exit status (1 on any error, like logrus Fatal)."""
    # global flags come before the subcommand (cobra TraverseChildren)
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i += 1
        if argv[i - 1] in ("-n", "--namespace", "-a", "--address", "-H", "--host", "--snapshotter", "--cgroup-manager", "--data-root"):
            i += 1
    try:
        fw.root()
        head = cf.parse(argv[:i], GLOBAL_FLAGS)
        if head.values["version"]:
            out.write(f"nerdctl version {version()}\n")
            return 0
        rest = argv[i:]
        if not rest:
            out.write("nerdctl is a command line interface for containerd\n")
            return 0
        cmd, rest = rest[0], rest[1:]
        if cmd in GROUPS and rest and rest[0] in GROUPS[cmd]:
            cmd, rest = f"{cmd} {rest[0]}", rest[1:]
            cmd = ALIASES.get(cmd, cmd)
        _dispatch(cmd, rest, out, err)
        return 0
    except (cf.FlagError, ctr.NerdctlError) as e:
        if isinstance(e, ctr.NerdctlError) and e.warn_only:
            logrus("error", str(e), err)
            return 0
        logrus("fatal", str(e), err)
        return 1
    except BrokenPipeError:
        return 1

