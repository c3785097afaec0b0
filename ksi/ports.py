"""Choosing host ports on this node without colliding with other runs.

A port is taken when something already binds it (any user), or when another ksi run of this user
has claimed it and is still alive.  Claims are ``O_EXCL`` files in the runtime directory holding
the claimer's pid, so ten concurrent ``ksi run`` on one node never choose the same port between
choosing it and kind publishing it.  Runs of other users are caught by the bind probe, and a race
lost anyway shows up as kind failing to publish the port, which the caller retries with new ports.
"""

from __future__ import annotations

import errno
import os
import random
import socket
import tempfile
from pathlib import Path

from ksi import constants as C
from ksi.errors import UsageError
from ksi.paths import private_dir, remove_quietly


def bind_error(port: int, proto: str = "tcp", address: str = "0.0.0.0") -> OSError | None:
    """Why ``port`` cannot be bound on ``address`` right now; None when it can."""
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, kind) as sock:
        try:
            sock.bind((address, port))
        except OSError as exc:
            return exc
    return None


def bindable(port: int, proto: str = "tcp", address: str = "0.0.0.0") -> bool:
    """True when ``port`` can be bound on ``address`` right now."""
    return bind_error(port, proto, address) is None


def kernel_port(proto: str = "tcp", address: str = "0.0.0.0") -> int:
    """A port the kernel considers free right now (bind to port 0)."""
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, kind) as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


class PortClaims:
    """Ports this run holds, as ``O_EXCL`` files under ``<runtime>/ports``."""

    def __init__(self, root: Path) -> None:
        self.dir = private_dir(root / "ports", what="port-claim directory")
        self.held: list[Path] = []

    def _path(self, port: int, proto: str) -> Path:
        return self.dir / f"{proto}-{port}"

    def claim(self, port: int, proto: str) -> bool:
        """Claim ``port``: True when this run now holds it.

        The claim file appears whole, holding our pid, through ``link(2)`` of a private temp
        file (atomic, fails when the name exists): a claim created empty and written afterwards
        would look dead to a concurrent claimer in between, which would take it over too.
        A claim whose owner is gone is taken over (two runs taking over the same dead claim at
        the same instant can both win; kind then fails to publish the port for one of them,
        and ``ksi run`` retries with new ports).
        """
        path = self._path(port, proto)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=self.dir)  # 0600
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(str(os.getpid()))
            for _ in range(2):
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    if _claim_alive(path):
                        return False
                    remove_quietly(path)  # its owner died: take it over
                    continue
                self.held.append(path)
                return True
            return False
        finally:
            remove_quietly(Path(tmp))

    def pick(self, proto: str, address: str, low: int | None = None, high: int | None = None,
             tries: int = 200) -> int:
        """Claim a free port: random in [low, high], or one the kernel offers."""
        for _ in range(tries):
            port = random.randint(low, high) if low and high else kernel_port(proto, address)
            if bindable(port, proto, address) and self.claim(port, proto):
                return port
        raise UsageError(f"found no free {proto.upper()} port on {address}",
                         hint="free some ports or pass one explicitly")

    def require(self, port: int, proto: str, address: str, option: str) -> int:
        """Claim a port the user asked for, or say clearly why it cannot be used."""
        if not bindable(port, proto, address) or not self.claim(port, proto):
            raise UsageError(f"port {port} is already in use on this node",
                             hint=f"choose another with {option}, or leave it unset")
        return port

    def release(self) -> None:
        for path in self.held:
            remove_quietly(path)
        self.held.clear()


def sweep_claims(root: Path) -> list[str]:
    """Remove port claims whose owner process is gone (a SIGKILLed run); return their names."""
    swept = []
    directory = root / "ports"
    for path in directory.iterdir() if directory.is_dir() else []:
        if path.name.startswith("."):
            continue  # a claim being made (see ``PortClaims.claim``)
        if not _claim_alive(path):
            remove_quietly(path)
            swept.append(path.name)
    return swept


def _claim_alive(path: Path) -> bool:
    try:
        pid = int(path.read_text().strip() or "0")
    except (OSError, ValueError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True


def check_nodeport(port: int) -> int:
    if not C.NODEPORT_MIN <= port <= C.NODEPORT_MAX:
        raise UsageError(
            f"port {port} is outside the NodePort range {C.NODEPORT_MIN}-{C.NODEPORT_MAX}",
            hint="K8S_PORT is mapped to the same NodePort, so pick one in that range",
        )
    return port
