"""Site checks: the shared directory (private, writable, really shared, with working locks)
and free ports in the NodePort range."""

from __future__ import annotations

import os
import random
import socket
import threading
import warnings
from pathlib import Path

from ksi import constants as C
from ksi.doctor.model import FAIL, LOCK_TIMEOUT, PASS, Check, SystemView
from ksi.errors import UsageError
from ksi.paths import private_dir, remove_quietly, write_private
from ksi.ports import bind_error


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


def check_ports(address: str, tries: int = 50) -> Check:
    """A NodePort-range port (K8S_PORT, Liqo's gateway) can be bound on ``address``, TCP and UDP."""
    name = "free ports"
    span = f"{C.NODEPORT_MIN}-{C.NODEPORT_MAX}"
    last: OSError | None = None
    for port in random.sample(range(C.NODEPORT_MIN, C.NODEPORT_MAX + 1), tries):
        last = bind_error(port, "tcp", address) or bind_error(port, "udp", address)
        if last is None:
            return Check(name, PASS, f"TCP and UDP ports in {span} can be bound on {address} "
                         f"(e.g. {port})")
    why = last.strerror if last is not None and last.strerror else str(last)
    return Check(name, FAIL, f"no port in {span} could be bound on {address} ({tries} tried: "
                 f"{why})", "free some ports, or pass the node's own address with --api-address")


