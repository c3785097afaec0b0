"""The shims' client in the cheap mode (``KSI_FAKE_CHEAP=1``): hand this call to the host's fork server.

    python3 -I -S tests/fakeworld/common/forkclient.py <tool> [args...]

Stdlib only and started without ``site`` (a few ms of CPU instead of a double's ~0.1 s): it
connects to the server at ``$KSI_FAKE_FORKSERVER`` (the bench starts one for all its nodes) or
else to ``$KSI_FAKE_ROOT/forkserver/<host>-<uid>.sock`` (``forkserver.py`` says why and what the
protocol is), starting that one first when there is none (once: under a lock), sends argv,
environment, cwd, umask and its stdin/stdout/stderr, forwards the signals a caller sends to a
tool, and exits with the tool's exit code or dies of its signal.  When no server can be had
(no ``KSI_FAKE_ROOT``, an unusable cwd, a server that does not answer or does not come up within
``START_TIMEOUT``) it runs the double the normal way, which gives the normal answer.
"""

import fcntl
import os
import signal
import socket
import struct
import sys
import time

#: seconds a starting server may take to import the doubles (bounded: then the normal mode)
START_TIMEOUT = 20.0
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
MODULES = {"kind": "kind", "nerdctl": "nerdctl", "liqoctl": "liqoctl", "systemd-run": "systemd_run"}


def encode(tool: str, host: str, cwd: str, umask: int, fds: "list[int]", args: "list[str]") -> bytes:
    """The request (forkserver.py, "Protocol"): argv and environment as the kernel gave them."""
    fields = ["ksi-fork-1", tool, host, cwd, str(umask), ",".join(map(str, fds)), str(len(args)), *args]
    body = b"".join(os.fsencode(f) + b"\0" for f in fields) + b"".join(k + b"=" + v + b"\0" for k, v in os.environb.items())
    return struct.pack(">I", len(body)) + body


def normal(tool: str, args: list[str]) -> None:
    """What the shim runs without the cheap mode (PYTHONPATH is already the repository root)."""
    os.execv(sys.executable, [sys.executable, "-P", "-m", f"tests.fakeworld.{MODULES[tool]}", *args])


def connect(path: str) -> "socket.socket | None":
    """Connect relative to the socket's directory: an AF_UNIX path holds at most 107 bytes, and a
    fake root under pytest's temporary directories can be deeper than that."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    here = os.open(".", os.O_RDONLY)
    try:
        os.chdir(os.path.dirname(path) or ".")
        sock.connect(os.path.basename(path))
        return sock
    except OSError:
        sock.close()
        return None
    finally:
        os.fchdir(here)
        os.close(here)


def start_server(path: str) -> "socket.socket | None":
    """Start the host's server (in this host's namespaces), at most one at a time; connect to it."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    with open(path + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        sock = connect(path)
        if sock:
            return sock
        pid = os.fork()
        if pid == 0:  # detach twice: the server is nobody's child and in no caller's session
            try:
                os.setsid()
                if os.fork() == 0:
                    null = os.open(os.devnull, os.O_RDWR)
                    log = os.open(path[:-5] + ".log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                    os.dup2(null, 0)
                    os.dup2(log, 1)
                    os.dup2(log, 2)
                    os.execv(sys.executable, [sys.executable, "-P", "-m", "tests.fakeworld.common.forkserver", path])
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            sock = connect(path)
            if sock:
                return sock
            time.sleep(0.02)
    return None


def main() -> None:
    tool, args = sys.argv[1], sys.argv[2:]
    root = os.environ.get("KSI_FAKE_ROOT")
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = None
    if not root or cwd is None:
        normal(tool, args)
        return
    host = socket.gethostname()
    shared = os.environ.get("KSI_FAKE_FORKSERVER")  # the bench's server, for every node
    if shared:
        sock = connect(shared)
    else:
        path = os.path.join(root, "forkserver", f"{host}-{os.getuid()}.sock")
        sock = connect(path) or start_server(path)
    if sock is None:
        normal(tool, args)
        return
    umask = os.umask(0)
    os.umask(umask)
    fds: "list[int]" = []
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
            fds.append(fd)
        except OSError:
            pass
    body = encode(tool, host, cwd, umask, fds, args)
    forward = lambda sig, _frame: sock.sendall(f"sig {sig}\n".encode())  # noqa: E731
    for sig in FORWARDED:
        signal.signal(sig, forward)
    sock.sendmsg([body],
                 [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))] if fds else [])
    answer = b""
    while not answer.endswith(b"\n"):
        chunk = sock.recv(64)
        if not chunk:
            sys.stderr.write(f"{tool}: the fake world's fork server went away\n")
            os._exit(70)
        answer += chunk
    kind, _, number = answer.decode().strip().partition(" ")
    if kind == "signal":
        signum = int(number)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        os._exit(128 + signum)
    os._exit(int(number))


if __name__ == "__main__":
    main()
