"""The fake world's shared ground: state paths, container records, faults, delays, atomic writes.

Every double (``bin/kind``, ``bin/nerdctl``, ``bin/liqoctl``, ``bin/systemd-run``, the API server
``kubeapi/server.py``) reads and writes
state only through these paths, so their view of the world agrees.  Nothing here is a fake of a
real tool; it is the "containerd + kernel" underneath the fakes.

State layout (``$KSI_FAKE_ROOT`` is required: the doubles refuse to run without it)::

    $KSI_FAKE_ROOT/hosts/<hostname>/<uid>/        one "containerd" per host and user
        lock                                      flock(2) taken by every mutation below
        containers/<name>.json                    container records (schema below)
        containers/<name>.log                     the container's stdout/stderr (`nerdctl logs`)
        images/<sanitised-ref>.json               image records: {"ref", "id", "created", "size"}
        networks/<name>.json                      network records: {"name", "id", "subnet"}
        clusters/<cluster>/                       node-internal files of one kind cluster
            kubeadm.json     what kind's "Writing configuration" step leaves in the node
            ca.pem ca-key.pem server.pem admin.pem   PKI ("kubeadm init"); *.pem hold key+cert
            initialized      exists once "kubeadm init" is done: the API server starts serving
            state.json       snapshot of the API server's object store (debugging only)
            apiserver.log    the API server's request log
            images.json      image references loaded with `kind load image-archive`

Container record schema (``containers/<name>.json``) -- a stable contract, other doubles read it:

    id            str   64 hex digits (``nerdctl ps`` shows the first 12)
    name          str   container name, e.g. ``ksi-1-control-plane``
    image         str   image reference as given to ``nerdctl run``
    labels        dict  str -> str, e.g. ``io.x-k8s.kind.cluster``, ``io.x-k8s.kind.role``
    annotations   dict  str -> str (``--annotation``), e.g. ``nerdctl/bypass4netns``
    hostname      str   the container's hostname (kind: the container name)
    ip            str   the container's address on its network (not reachable from the host)
    network       str   network name (kind: ``kind``)
    ports         list  of {"hostPort": int, "containerPort": int,
                         "protocol": "tcp"|"udp"|"sctp" (lower case, as nerdctl stores it),
                         "listenAddress": str (``0.0.0.0`` when not given)}
    mounts        list  of {"hostPath", "containerPath", "options"}
    env           list  of "KEY=VALUE" / "KEY"
    restart       str   restart policy, e.g. ``on-failure:1``
    argv          list  the full ``nerdctl run`` argument list
    created       float epoch seconds;   createdAt  str  RFC 3339 with nanoseconds
    pid           int   pid of the process that *is* the container (``python -m tests.fakeworld.kubeapi``)
    pidStartTime  int   that process's start time (/proc/<pid>/stat field 22), against pid reuse
    exitCode      int|None   set when the container was stopped through nerdctl
    finishedAt    str|None

A container is running while ``pid`` is alive with the same ``pidStartTime``
(:func:`container_running`).

Faults (``KSI_FAKE_FAIL``, ``KSI_FAKE_HANG``): comma lists of ``op`` or ``op@hostname``; an
entry without ``@`` applies on every host.  Delays: ``KSI_FAKE_*_SECONDS`` (float, default 0).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import signal
import socket
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

#: The doubles' package (tests/fakeworld) and the repository root the shims put on PYTHONPATH.
PACKAGE = Path(__file__).resolve().parent.parent
REPO_ROOT = PACKAGE.parent.parent
#: The shims ksi executes (kind, nerdctl, liqoctl, systemd-run): first on PATH in the tests.
BIN = PACKAGE / "bin"

ENV_ROOT = "KSI_FAKE_ROOT"
ENV_FAIL = "KSI_FAKE_FAIL"
ENV_HANG = "KSI_FAKE_HANG"
ENV_MISSING_IMAGES = "KSI_FAKE_MISSING_IMAGES"

#: Operations named in KSI_FAKE_FAIL / KSI_FAKE_HANG (README.md).
OPERATIONS = frozenset(
    {
        "kind-create",
        "kind-delete",
        "node-never-ready",
        "liqo-install",
        "liqo-peer",
        "liqo-offload",
        "kind-load",
        "kind-export-logs",
        "systemd-run",
    }
)

CLUSTER_LABEL = "io.x-k8s.kind.cluster"
ROLE_LABEL = "io.x-k8s.kind.role"


class NoFakeRoot(SystemExit):
    """Raised (as a SystemExit) when ``$KSI_FAKE_ROOT`` is missing."""


def root() -> Path:
    """The state root; exits with a message when ``$KSI_FAKE_ROOT`` is unset."""
    value = os.environ.get(ENV_ROOT, "")
    if not value:
        sys.stderr.write(
            f"fakeworld: {ENV_ROOT} is not set; the test doubles refuse to run outside a fake world\n"
        )
        raise NoFakeRoot(1)
    return Path(value)


def hostname() -> str:
    """This "machine": each Slurm node of the harness has its own UTS namespace."""
    return socket.gethostname()


def host_dir(host: str | None = None, uid: int | None = None) -> Path:
    """``$KSI_FAKE_ROOT/hosts/<host>/<uid>``: one containerd per host and user."""
    return root() / "hosts" / (host or hostname()) / str(os.getuid() if uid is None else uid)


def containers_dir(host: str | None = None) -> Path:
    return host_dir(host) / "containers"


def images_dir(host: str | None = None) -> Path:
    return host_dir(host) / "images"


def networks_dir(host: str | None = None) -> Path:
    return host_dir(host) / "networks"


def cluster_dir(cluster: str, host: str | None = None) -> Path:
    return host_dir(host) / "clusters" / cluster


def container_path(name: str, host: str | None = None) -> Path:
    return containers_dir(host) / f"{name}.json"


def image_path(ref: str, host: str | None = None) -> Path:
    return images_dir(host) / (re.sub(r"[^A-Za-z0-9_.-]", "_", ref) + ".json")


# --- files -------------------------------------------------------------------------------------


def write_json_atomic(path: Path, data: Any, mode: int = 0o644) -> None:
    """Write JSON to a temporary file in the same directory, then rename it over ``path``."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n", mode)


def write_text_atomic(path: Path, text: str | bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode() if isinstance(text, str) else text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_json(path: Path) -> Any | None:
    """The JSON in ``path``, or None when it does not exist (or is being replaced)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


@contextlib.contextmanager
def host_lock(host: str | None = None) -> Iterator[None]:
    """Serialise mutations of one host's containerd (like containerd's own metadata lock)."""
    d = host_dir(host)
    d.mkdir(parents=True, exist_ok=True)
    with open(d / "lock", "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# --- containers --------------------------------------------------------------------------------


def load_containers(host: str | None = None) -> list[dict[str, Any]]:
    """All container records of a host, oldest first."""
    d = containers_dir(host)
    if not d.is_dir():
        return []
    records = [read_json(p) for p in d.glob("*.json")]
    return sorted((r for r in records if r), key=lambda r: r.get("created", 0.0))


def load_container(name: str, host: str | None = None) -> dict[str, Any] | None:
    return read_json(container_path(name, host))


def proc_start_time(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat (start time in clock ticks), None if no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    fields = stat[stat.rfind(")") + 2 :].split()
    try:
        if fields[0] == "Z":  # a zombie is dead for our purposes
            return None
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def pid_alive(pid: int | None, start_time: int | None) -> bool:
    if not pid:
        return False
    now = proc_start_time(pid)
    return now is not None and (start_time is None or now == start_time)


def container_running(record: dict[str, Any]) -> bool:
    return pid_alive(record.get("pid"), record.get("pidStartTime"))


def kill_process(pid: int | None, start_time: int | None, grace: float = 10.0) -> bool:
    """SIGTERM, wait up to ``grace`` s, then SIGKILL; True if it was alive at all."""
    if not pid_alive(pid, start_time):
        return False
    assert pid is not None
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        end = time.monotonic() + wait
        while time.monotonic() < end:
            _reap(pid)
            if not pid_alive(pid, start_time):
                return True
            time.sleep(0.01)
    return True


def _reap(pid: int) -> None:
    """Reap ``pid`` if it happens to be our child (a zombie child would look alive otherwise)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


# --- faults and delays ---------------------------------------------------------------------------


def _fault_list(variable: str) -> list[tuple[str, str | None]]:
    entries = []
    for item in os.environ.get(variable, "").split(","):
        item = item.strip()
        if not item:
            continue
        op, _, host = item.partition("@")
        entries.append((op.strip(), host.strip() or None))
    return entries


def _matches(variable: str, op: str) -> bool:
    me = hostname()
    return any(o == op and (h is None or h == me) for o, h in _fault_list(variable))


def should_fail(op: str) -> bool:
    """True when ``KSI_FAKE_FAIL`` names ``op`` for this host."""
    return _matches(ENV_FAIL, op)


def should_hang(op: str) -> bool:
    """True when ``KSI_FAKE_HANG`` names ``op`` for this host."""
    return _matches(ENV_HANG, op)


def hang_forever() -> None:
    """Block until a signal ends the process (default dispositions, like a stuck Go program)."""
    while True:
        time.sleep(3600)


def delay(variable: str) -> float:
    """Seconds from a ``KSI_FAKE_*_SECONDS`` variable (0 when unset or invalid), times this host's
    factor in ``KSI_FAKE_SLOW_HOSTS`` (``host=factor,...``: a slower node, e.g. one whose image
    cache is cold, as real allocations have)."""
    try:
        seconds = max(0.0, float(os.environ.get(variable, "0") or 0))
    except ValueError:
        return 0.0
    host = socket.gethostname()
    for item in os.environ.get("KSI_FAKE_SLOW_HOSTS", "").split(","):
        name, _, factor = item.partition("=")
        if name.strip() == host:
            try:
                return seconds * max(0.0, float(factor))
            except ValueError:
                return seconds
    return seconds


def missing_images() -> set[str]:
    return {i.strip() for i in os.environ.get(ENV_MISSING_IMAGES, "").split(",") if i.strip()}


# --- time ----------------------------------------------------------------------------------------


def rfc3339(ts: float | None = None, nanos: bool = False) -> str:
    """UTC timestamp as Kubernetes (seconds) or Go's RFC3339Nano (``nanos=True``) prints it."""
    ts = time.time() if ts is None else ts
    dt = datetime.fromtimestamp(ts, tz=timezone.utc)
    if not nanos:
        return dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    frac = f"{int(round((ts % 1) * 1e9)):09d}".rstrip("0")
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"
