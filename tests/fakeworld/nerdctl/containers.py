"""Containers in the fake containerd: ``run``, ``ps``, ``inspect``, ``rm``, ``stop``, ``wait``, ``update``.

Upstream (containerd/nerdctl v2.x): ``cmd/nerdctl/container/container_list.go`` (table, ``--format``,
``-q``, ``format and quiet must not be specified together``), ``pkg/cmd/container/list.go``
(``ListItem`` fields, ``Label`` method, newest first), ``pkg/cmd/container/list_util.go`` (filters:
``label=K`` / ``label=K=V`` ANDed, ``invalid filter 'x'``), ``pkg/formatter/formatter.go`` (``Up`` /
``Exited (N) ... ago``, ``FormatPorts``), ``pkg/idutil/containerwalker`` (``no such container: X``,
``N errors:\\n...``), ``pkg/cmd/container/remove.go`` (``container ID is in running status.
unpause/stop container first or force removal``; with ``-f`` errors are logged, exit 0),
``pkg/portutil/portutil.go`` (``bind for IP:PORT failed: port is already allocated``),
``pkg/namestore`` (``name "x" is already used by ID "..."``).

A container *is* one API server process (``python -m tests.fakeworld.kubeapi``): ``run`` starts it in its own session, waits until it
holds every published port, and records its pid (see :mod:`fakeworld` for the record schema).
"""

from __future__ import annotations

import contextlib
import re
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

from tests.fakeworld.common import world as fw
from tests.fakeworld.common import gotemplate as gt

NODE_COMMAND = "/usr/local/bin/entrypoint /sbin/init"


class NerdctlError(Exception):
    """A failure nerdctl reports with ``FATA``; ``warn_only`` ones are ``ERRO`` and exit 0."""

    def __init__(self, message: str, warn_only: bool = False):
        super().__init__(message)
        self.warn_only = warn_only


# --- formatting helpers ----------------------------------------------------------------------------


def human_duration(seconds: float) -> str:
    """docker/go-units ``HumanDuration``."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def tabwrite(rows: list[list[str]], minwidth: int = 4, padding: int = 4) -> str:
    """Go's ``text/tabwriter`` as nerdctl configures it (cells padded, last column not)."""
    if not rows:
        return ""
    ncols = max(len(r) for r in rows)
    widths = [max(minwidth, max(len(r[c]) for r in rows if c < len(r)) + padding) for c in range(ncols - 1)]
    lines = []
    for r in rows:
        cells = [cell.ljust(widths[c]) if c < len(r) - 1 else cell for c, cell in enumerate(r)]
        lines.append("".join(cells))
    return "\n".join(lines) + "\n"


def format_ports(ports: list[dict[str, Any]]) -> str:
    """``formatter.FormatPorts``: grouped by (host IP, protocol), consecutive ranges merged."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for p in ports:
        groups.setdefault((p["listenAddress"], p["protocol"]), []).append(p)
    shown = []
    for (ip, proto), items in groups.items():
        items.sort(key=lambda p: p["hostPort"])
        ranges, i = [], 0
        while i < len(items):
            start = end = items[i]
            while (
                i + 1 < len(items)
                and items[i + 1]["hostPort"] == end["hostPort"] + 1
                and items[i + 1]["containerPort"] == end["containerPort"] + 1
            ):
                i += 1
                end = items[i]
            if start is end:
                ranges.append(f"{start['hostPort']}->{start['containerPort']}")
            else:
                ranges.append(f"{start['hostPort']}-{end['hostPort']}->{start['containerPort']}-{end['containerPort']}")
            i += 1
        shown.append(f"{ip}:{', '.join(ranges)}/{proto}")
    return ", ".join(sorted(shown))


def status_of(rec: dict[str, Any]) -> tuple[str, str]:
    """(containerd status, the text ``nerdctl ps`` shows)."""
    if fw.container_running(rec):
        return "running", "Up"
    if not rec.get("pid"):
        return "created", "Created"
    code = rec.get("exitCode")
    code = 137 if code is None else code
    finished = rec.get("finishedTs") or rec.get("created", time.time())
    return "exited", f"Exited ({code}) {human_duration(time.time() - finished)} ago"


def _command(rec: dict[str, Any], trunc: bool) -> str:
    cmd = NODE_COMMAND if not rec.get("command") else " ".join(rec["command"])
    if trunc and len(cmd) > 20:
        cmd = cmd[:19] + "…"
    return '"' + cmd.replace("\\", "\\\\").replace('"', '\\"') + '"'


def list_item(rec: dict[str, Any], trunc: bool = True) -> gt.GoStruct:
    labels = dict(rec.get("labels", {}))
    fields = {
        "Command": _command(rec, trunc),
        "CreatedAt": gt.GoTime(rec["created"]),
        "ID": rec["id"][:12] if trunc else rec["id"],
        "Image": rec["image"],
        "Platform": "linux/amd64",
        "Names": rec["name"],
        "Ports": format_ports(rec.get("ports", [])),
        "Status": status_of(rec)[1],
        "Runtime": "io.containerd.runc.v2",
        "Size": "",
        "Labels": ",".join(f"{k}={v}" for k, v in labels.items()),
    }
    return gt.GoStruct("*container.ListItem", fields, {"Label": lambda k: labels.get(k, "")})


def inspect_entry(rec: dict[str, Any]) -> dict[str, Any]:
    """``nerdctl container inspect`` (dockercompat) for one record."""
    state, _ = status_of(rec)
    running = state == "running"
    ports: dict[str, list[dict[str, str]]] = {}
    for p in rec.get("ports", []):
        ports.setdefault(f"{p['containerPort']}/{p['protocol']}", []).append(
            {"HostIp": p["listenAddress"], "HostPort": str(p["hostPort"])}
        )
    command = rec.get("command") or NODE_COMMAND.split()
    return {
        "Id": rec["id"],
        "Created": rec["createdAt"],
        "Path": command[0],
        "Args": command[1:],
        "State": {
            "Status": state,
            "Running": running,
            "Paused": False,
            "Restarting": False,
            "Pid": rec.get("pid") if running else 0,
            "ExitCode": 0 if running else (rec.get("exitCode") if rec.get("exitCode") is not None else 137),
            "Error": "",
            "StartedAt": rec["createdAt"],
            "FinishedAt": rec.get("finishedAt") or "",
        },
        "Image": rec["image"],
        "ResolvConfPath": "",
        "HostnamePath": "",
        "LogPath": str(fw.containers_dir() / f"{rec['name']}.log"),
        "Name": rec["name"],
        "RestartCount": 0,
        "Driver": "overlayfs",
        "Platform": "linux",
        "AppArmorProfile": "",
        "Mounts": [
            {"Type": "bind", "Source": m["hostPath"], "Destination": m["containerPath"], "Mode": m.get("options", ""), "RW": "ro" not in m.get("options", "")}
            for m in rec.get("mounts", [])
        ],
        "Config": {
            "Hostname": rec.get("hostname", ""),
            "AttachStdin": False,
            "Labels": rec.get("labels", {}),
            "Env": rec.get("env", []),
            "Annotations": rec.get("annotations", {}),
        },
        "NetworkSettings": {
            "Ports": ports,
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "IPAddress": rec.get("ip", ""),
            "IPPrefixLen": 24,
            "MacAddress": "",
            "Networks": {rec.get("network", "bridge"): {"IPAddress": rec.get("ip", ""), "IPPrefixLen": 24}},
        },
    }


# --- lookups -----------------------------------------------------------------------------------------


def walk(reqs: list[str]) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """containerwalker: match by name or ID prefix; returns (found, error strings)."""
    records = fw.load_containers()
    found, errors = [], []
    for req in reqs:
        matches = [r for r in records if r["name"] == req or r["id"].startswith(req)]
        if not matches:
            errors.append(f"no such container: {req}")
        elif len(matches) > 1:
            errors.append(f"multiple IDs found with provided prefix: {req}")
        else:
            found.append((req, matches[0]))
    return found, errors


def _walk_errors(errors: list[str]) -> str:
    return f"{len(errors)} errors:\n" + "\n".join(errors)


# --- ps -------------------------------------------------------------------------------------------


def ps(all_: bool, filters: list[str], fmt: str, quiet: bool, no_trunc: bool, out: IO[str]) -> None:
    label_filters: list[tuple[str, str | None]] = []
    name_filters: list[str] = []
    status_filters: list[str] = []
    for f in filters:
        kind, eq, value = f.partition("=")
        if kind not in ("label", "name", "status", "id"):
            raise NerdctlError(f"invalid filter '{f}'")
        if not eq:
            raise NerdctlError(f'invalid argument "{kind}" for "-f, --filter": bad format of filter (expected name=value)')
        if kind == "label":
            k, has, v = value.partition("=")
            label_filters.append((k, v if has else None))
        elif kind in ("name", "id"):
            name_filters.append(value)
        else:
            status_filters.append(value)
    records = sorted(fw.load_containers(), key=lambda r: r["created"], reverse=True)
    shown = []
    for rec in records:
        labels = rec.get("labels", {})
        if any(k not in labels or (v is not None and labels[k] != v) for k, v in label_filters):
            continue
        if name_filters and not any(n in rec["name"] or rec["id"].startswith(n) for n in name_filters):
            continue
        state = status_of(rec)[0]
        if status_filters and not any(s == state or (s == "exited" and state == "exited") for s in status_filters):
            continue
        if not (all_ or status_filters) and state != "running":
            continue
        shown.append(rec)
    if fmt in ("", "table", "wide"):
        if quiet:
            out.write("".join((r["id"] if no_trunc else r["id"][:12]) + "\n" for r in shown))
            return
        rows = [["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]]
        for rec in shown:
            item = list_item(rec, trunc=not no_trunc)
            rows.append(
                [item["ID"], item["Image"], item["Command"], human_duration(time.time() - rec["created"]) + " ago",
                 item["Status"], item["Ports"], item["Names"]]
            )
        out.write(tabwrite(rows))
        return
    if fmt == "raw":
        raise NerdctlError('unsupported format: "raw"')
    if quiet:
        raise NerdctlError("format and quiet must not be specified together")
    try:
        tmpl = gt.parse(fmt)
        text = "".join(tmpl.execute(list_item(r, trunc=not no_trunc)) + "\n" for r in shown)
    except gt.TemplateError as e:
        raise NerdctlError(str(e)) from e
    out.write(text)


# --- run ------------------------------------------------------------------------------------------


def _port_in_use(ip: str, port: int, proto: str) -> bool:
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(family, kind) as s:
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((ip or "0.0.0.0", port))
        except OSError:
            return True
    return False


def proc_root() -> Path:
    """Where the double reads ``/proc/net`` (``KSI_FAKE_PROC_ROOT``, for a node without IPv6)."""
    return Path(os.environ.get("KSI_FAKE_PROC_ROOT", "/proc"))


def used_ports(proto: str) -> None:
    """``getUsedPorts`` as nerdctl before 2.3.0 does it for every ``--publish`` with a host port:
    read ``/proc/net/<proto>`` and ``/proc/net/<proto>6``; a missing file (``ipv6.disable=1``)
    fails the run with Go's ``open`` error (nerdctl ``pkg/portutil/portutil.go``,
    ``procnet/procnet_linux.go``).  nerdctl 2.3.0 ignores the missing IPv6 files (PR 4824)."""
    from tests.fakeworld.nerdctl import core as nerdctlcore

    version = tuple(int(n) for n in re.findall(r"\d+", nerdctlcore.version())[:2])
    names = [proto, f"{proto}6"] if proto in ("tcp", "udp") else []
    for name in names:
        path = proc_root() / "net" / name
        if not path.exists() and (version < (2, 3) or not name.endswith("6")):
            raise NerdctlError(f"open /proc/net/{name}: no such file or directory")


def parse_publish(spec: str) -> dict[str, Any]:
    """``portutil.ParseFlagP`` for ``[ip:]hostPort:containerPort[/proto]`` (no ranges)."""
    proto = "tcp"
    body, slash, p = spec.partition("/")
    if slash:
        proto = p.lower()
        if proto not in ("tcp", "udp", "sctp"):
            raise NerdctlError(f'invalid protocol "{p}"')
    head, _, container_port = body.rpartition(":")
    ip, host_port = "", head
    if head.startswith("["):
        ip, _, host_port = head[1:].partition("]:")
    elif head.count(":") >= 1:
        ip, _, host_port = head.rpartition(":")
    if not container_port.isdigit():
        raise NerdctlError(f"invalid containerPort: {container_port}")
    if not host_port:
        raise NerdctlError(
            "automatic port allocation is not implemented for rootless mode "
            f'(Hint: specify the port like "12345:{container_port}", not just "{container_port}")'
        )
    if not host_port.isdigit():
        raise NerdctlError(f"invalid hostPort: {host_port}")
    used_ports(proto)
    if ip:
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in ip else socket.AF_INET, ip)
        except OSError as e:
            raise NerdctlError(f"invalid ip address: {ip}") from e
    return {"hostPort": int(host_port), "containerPort": int(container_port), "protocol": proto,
            "listenAddress": ip or "0.0.0.0", "_ip": ip}


def run(opts: dict[str, Any], image: str, command: list[str], out: IO[str], err: IO[str]) -> None:
    from tests.fakeworld.nerdctl import images as imgs

    try:
        imgs.parse_reference(image)
    except imgs.ReferenceError as e:
        raise NerdctlError(str(e)) from e
    if imgs.find_image(image) is None:
        try:
            imgs.pull(image, err)
        except (imgs.ReferenceError, LookupError) as e:
            raise NerdctlError(str(e)) from e
    ports = [parse_publish(p) for p in opts["publish"]]
    labels = dict(kv.partition("=")[::2] for kv in opts["label"])
    annotations = dict(kv.partition("=")[::2] for kv in opts["annotation"])
    with fw.host_lock():
        name = opts["name"] or f"{image.split('/')[-1].split(':')[0].split('@')[0]}-{secrets.token_hex(3)[:5]}"
        existing = fw.load_container(name)
        if existing is not None:
            raise NerdctlError(f'name "{name}" is already used by ID "{existing["id"]}"')
        for p in ports:
            if _port_in_use(p["_ip"], p["hostPort"], p["protocol"]):
                raise NerdctlError(f"bind for {p['_ip']}:{p['hostPort']} failed: port is already allocated")
        network = (opts["net"] or ["bridge"])[0]
        others = [r for r in fw.load_containers() if r.get("network") == network]
        now = time.time()
        rec: dict[str, Any] = {
            "id": secrets.token_hex(32),
            "name": name,
            "image": image,
            "labels": labels,
            "annotations": annotations,
            "hostname": opts["hostname"] or name,
            "ip": f"10.89.{sum(map(ord, network)) % 200}.{len(others) + 2}",
            "network": network,
            "ports": [{k: v for k, v in p.items() if not k.startswith("_")} for p in ports],
            "mounts": [_mount(v) for v in opts["volume"] if ":" in v],
            "env": opts["env"],
            "restart": opts["restart"] or "no",
            "argv": opts["_argv"],
            "command": command,
            "created": now,
            "createdAt": fw.rfc3339(now, nanos=True),
            "pid": None,
            "pidStartTime": None,
            "exitCode": None,
            "finishedAt": None,
        }
        fw.write_json_atomic(fw.container_path(name), rec)
        problem = _start(name)
        if problem is not None:
            fw.container_path(name).unlink(missing_ok=True)
            raise NerdctlError(problem)
    out.write(rec["id"] + "\n")


def _mount(spec: str) -> dict[str, str]:
    parts = spec.split(":")
    return {"hostPath": parts[0], "containerPath": parts[1], "options": ":".join(parts[2:])}


def _start(name: str) -> str | None:
    """Start the container's process; None when it holds its ports, else the problem."""
    read_fd, write_fd = os.pipe()
    log = open(fw.containers_dir() / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
    try:
        # -P: not the cwd (ksi's, maybe a project with its own tests/) but PYTHONPATH, which the
        # shims set, finds tests.fakeworld
        args = ["--host-dir", str(fw.host_dir()), "--container", name, "--ready-fd", str(write_fd)]
        served = sys.modules.get("tests.fakeworld.common.forkserver")
        if served is not None and served.SERVED:  # the bench's cheap mode: the same, forked
            served.spawn_detached("tests.fakeworld.kubeapi", args, log.fileno(), keep_fd=write_fd)
        else:
            subprocess.Popen(  # noqa: S603 - our own daemon
                [sys.executable, "-P", "-m", "tests.fakeworld.kubeapi", *args],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, pass_fds=(write_fd,),
                start_new_session=True, close_fds=True,
            )
    finally:
        os.close(write_fd)
        log.close()
    with os.fdopen(read_fd, "r") as ready:
        line = ready.readline().strip()
    if line == "ok":
        return None
    return line.removeprefix("error ") or "failed to start container: the process exited early"


# --- rm / stop / wait / update -------------------------------------------------------------------


def _stop_record(rec: dict[str, Any], timeout: float) -> None:
    if fw.container_running(rec):
        start = time.monotonic()
        fw.kill_process(rec["pid"], rec.get("pidStartTime"), grace=timeout)
        rec["exitCode"] = 0 if time.monotonic() - start < timeout else 137
        rec["finishedTs"] = time.time()
        rec["finishedAt"] = fw.rfc3339(rec["finishedTs"], nanos=True)
        fw.write_json_atomic(fw.container_path(rec["name"]), rec)


def remove(reqs: list[str], force: bool, out: IO[str]) -> None:
    with fw.host_lock():
        found, errors = walk(reqs)
        for req, rec in found:
            if fw.container_running(rec) and not force:
                errors.append(
                    f"container {rec['id']} is in running status. unpause/stop container first or force removal"
                )
                continue
            _stop_record(rec, timeout=0.0 if force else 10.0)
            fw.container_path(rec["name"]).unlink(missing_ok=True)
            (fw.containers_dir() / f"{rec['name']}.log").unlink(missing_ok=True)
            cluster = rec.get("labels", {}).get(fw.CLUSTER_LABEL)
            if cluster and not any(
                r.get("labels", {}).get(fw.CLUSTER_LABEL) == cluster for r in fw.load_containers()
            ):
                shutil.rmtree(fw.cluster_dir(cluster), ignore_errors=True)
            out.write(req + "\n")
    if errors:
        raise NerdctlError(_walk_errors(errors), warn_only=force)


def stop(reqs: list[str], timeout: float, out: IO[str]) -> None:
    found, errors = walk(reqs)
    for req, rec in found:
        _stop_record(rec, timeout)
        out.write(req + "\n")
    if errors:
        raise NerdctlError(_walk_errors(errors))


def wait(reqs: list[str], out: IO[str]) -> None:
    found, errors = walk(reqs)
    if errors:
        raise NerdctlError(_walk_errors(errors))
    for _, rec in found:
        while fw.container_running(rec):
            time.sleep(0.05)
        latest = fw.load_container(rec["name"]) or rec
        code = latest.get("exitCode")
        out.write(f"{137 if code is None else code}\n")


def update(reqs: list[str], restart: str | None) -> None:
    with fw.host_lock():
        found, errors = walk(reqs)
        if errors:
            raise NerdctlError(errors[0])
        for _, rec in found:
            if restart is not None:
                rec["restart"] = restart
            fw.write_json_atomic(fw.container_path(rec["name"]), rec)


def logs(req: str, out: IO[str]) -> None:
    found, errors = walk([req])
    if errors:
        raise NerdctlError(errors[0])
    with contextlib.suppress(FileNotFoundError):
        out.write((fw.containers_dir() / f"{found[0][1]['name']}.log").read_text(errors="replace"))
