"""The bench's low-CPU mode of the doubles (``KSI_FAKE_CHEAP=1``): calls forked from a server.

Why: every call of a double is a Python start-up plus the import of its modules (yaml, trustme
and cryptography for kind: ~0.1-0.3 s of CPU) before a few milliseconds of its own work, and
each API server double (``nerdctl run``) is one more.  N members' doubles saturate the bench
machine's 2 cores from N = 8 on, and the bench measures the doubles, not ksi
(docs/performance.md).  In the cheap mode the shims in ``bin/`` run ``forkclient.py`` instead,
which hands the call to a server that imported every module of the doubles once and forks a
child per call that runs exactly what ``python3 -P -m tests.fakeworld.<tool>`` runs; the API
server double that ``nerdctl run`` starts is forked the same way (``spawn_detached``).

Which server: the one at ``$KSI_FAKE_FORKSERVER`` (the bench starts one for all its nodes, as
root), else one per host, user and ``$KSI_FAKE_ROOT``, started by the first call on the host
(``$KSI_FAKE_ROOT/forkserver/<host>-<uid>.sock``).

Fidelity: the child runs the same ``__main__`` module with the caller's argv, environment, working
directory, umask and stdin/stdout/stderr (the descriptors themselves, passed with SCM_RIGHTS), in
the caller's network, UTS and mount namespaces (it joins those of the caller's pid, from
SO_PEERCRED, where they differ from the server's: the Slurm harness's nodes have their own), so
outputs, exit codes and state are those of the normal mode.  What differs is invisible to a
caller: the child is not the caller's process (the client forwards SIGTERM, SIGINT, SIGHUP,
SIGQUIT, SIGUSR1/2 to the child's process group and exits with the child's code, or dies of the
child's signal), and it lives outside the Slurm job's cgroups, like the API server doubles; a
client killed with SIGKILL has its child killed too.  Module state read from the environment at
import time would be the server's: the doubles read their knobs when they run
(``nerdctl.core.version()``).

Protocol (one connection per call; forkclient.c and forkclient.py ``encode`` build it):

    client -> server  4-byte big-endian length + NUL-terminated fields: ksi-fork-1, tool, host,
                      cwd, umask, which of fds 0,1,2 follow, argc, argv..., KEY=VALUE...; the
                      descriptors as SCM_RIGHTS with the first bytes
    client -> server  "sig <n>\\n" for each signal to forward
    server -> client  "exit <code>\\n" or "signal <n>\\n", then closes

Per call the server forks a *waiter* that forks the *child*: the waiter forwards signals, kills
the child's process group if the client vanishes, and reports the exit status and the child's
CPU time (``$KSI_FAKE_ROOT/forkserver/cpu.jsonl``: the bench adds it to the tools' CPU, which
ksi's own ``os.times()`` no longer sees).  The server leaves the job's cgroups (as the API
server double), writes ``<socket name>.pid``, and exits when its socket is removed or replaced
(a per-host server's fake root deleted), when the process named as its parent is gone (the
bench, however it ended), or after ``IDLE_SECONDS`` without a call.  The bench also stops it
in its ``finally``.
"""

from __future__ import annotations

import gc
import importlib
import io
import json
import os
import pkgutil
import runpy
import select
import signal
import socket
import struct
import sys
import time
import traceback
from pathlib import Path
from typing import Any

#: a server with no call for this long exits (the bench kills its servers after each run anyway)
IDLE_SECONDS = 600.0
#: the first field of a request (forkclient.c, forkclient.py)
MAGIC = "ksi-fork-1"
#: the packages whose ``__main__`` the shims run
TOOLS = {"kind": "kind", "nerdctl": "nerdctl", "liqoctl": "liqoctl", "systemd-run": "systemd_run"}
#: libraries the doubles import inside functions (the rest comes with the doubles' modules)
LAZY = ("ctypes", "yaml", "trustme", "ssl", "subprocess", "tarfile", "hashlib", "csv", "struct", "ipaddress",
        "traceback", "http.server", "urllib.request")


#: True in a child of the server (a served call): ``spawn_detached`` can fork instead of exec
SERVED = False


def build_client(dest: Path) -> Path | None:
    """Compile forkclient.c to ``dest`` (the bench does, once); None without a working compiler,
    and the shims then use forkclient.py."""
    import shutil
    import subprocess

    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        return None
    res = subprocess.run([cc, "-O2", "-o", str(dest), str(Path(__file__).with_name("forkclient.c"))],  # noqa: S603
                         capture_output=True, check=False)
    return dest if res.returncode == 0 else None


def preload() -> None:
    """Import every module of the doubles (not their tests) and the libraries they import lazily."""
    import tests.fakeworld as pkg

    for info in pkgutil.walk_packages(pkg.__path__, "tests.fakeworld."):
        leaf = info.name.rsplit(".", 1)[-1]
        if leaf.startswith("test") or leaf in ("__main__", "forkserver", "forkclient", "conftest"):
            continue
        importlib.import_module(info.name)
    for name in LAZY:
        importlib.import_module(name)


def _recv_request(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    head, fds = b"", []
    while len(head) < 4:
        msg, anc, _, _ = conn.recvmsg(4 - len(head), socket.CMSG_SPACE(3 * 4))
        if not msg:
            raise EOFError("client went away")
        head += msg
        fds += _fds(anc)
    size = struct.unpack(">I", head)[0]
    body = b""
    while len(body) < size:
        chunk, anc, _, _ = conn.recvmsg(size - len(body), socket.CMSG_SPACE(3 * 4))
        if not chunk:
            raise EOFError("client went away")
        body += chunk
        fds += _fds(anc)
    return parse_request(body), fds


def parse_request(body: bytes) -> dict[str, Any]:
    """Bytes as the kernel gave them to the client, decoded as the interpreter decodes its argv
    and environment (``os.fsdecode``: undecodable bytes survive the round trip)."""
    fields = [os.fsdecode(f) for f in body.split(b"\0")[:-1]]
    if len(fields) < 7 or fields[0] != MAGIC:
        raise ValueError("not a fork server request")
    count = int(fields[6])
    env = {}
    for entry in fields[7 + count:]:
        key, eq, value = entry.partition("=")
        if eq and key and key not in env:  # as the interpreter's os.environ: the first one wins
            env[key] = value
    return {"tool": fields[1], "host": fields[2], "cwd": fields[3], "umask": int(fields[4]),
            "fds": [int(x) for x in fields[5].split(",") if x], "argv": fields[7:7 + count], "env": env}


def _fds(ancillary: list[tuple[int, int, bytes]]) -> list[int]:
    out: list[int] = []
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(data) - len(data) % 4
            out += list(struct.unpack(f"{usable // 4}i", data[:usable]))
    return out


def _enter_namespaces(pid: int) -> None:
    """Join the caller's network, UTS and mount namespaces where they are not ours (a server that
    the bench started outside the harness's nodes serves them all; needs root, as the harness)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    wanted = []
    for ns in ("net", "uts", "mnt"):  # opened first: joining the mount namespace changes /proc's view
        if os.stat(f"/proc/{pid}/ns/{ns}").st_ino != os.stat(f"/proc/self/ns/{ns}").st_ino:
            wanted.append((ns, os.open(f"/proc/{pid}/ns/{ns}", os.O_RDONLY)))
    for ns, fd in wanted:
        if libc.setns(fd, 0) != 0:
            raise OSError(ctypes.get_errno(), f"setns({ns}) into the namespaces of pid {pid}")
        os.close(fd)


def _run_child(req: dict[str, Any], fds: list[int], peer: int) -> None:
    """In the forked child: become the caller's process and run the tool's ``__main__``; never returns."""
    code = 1
    try:
        global SERVED
        SERVED = True
        _enter_namespaces(peer)
        os.setpgid(0, 0)
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # as any Python start-up
        wanted = list(req["fds"])
        for target in (0, 1, 2):
            if target in wanted:
                os.dup2(fds[wanted.index(target)], target, inheritable=True)
            else:
                os.close(target)
        os.closerange(3, 65536)
        os.chdir(req["cwd"])
        os.umask(req["umask"])
        os.environ.clear()
        os.environ.update(req["env"])
        _stdio(bool(os.environ.get("PYTHONUNBUFFERED")))
        code = _run_main(f"tests.fakeworld.{TOOLS[req['tool']]}", [req["tool"], *req["argv"]])
    finally:
        os._exit(code)


def _stdio(unbuffered: bool) -> None:
    """New ``sys.std*`` on descriptors 0-2, as an interpreter's start-up makes them."""
    sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)), encoding="utf-8",
                                  line_buffering=os.isatty(1), write_through=unbuffered)
    sys.stderr = io.TextIOWrapper(io.BufferedWriter(io.FileIO(2, "w", closefd=False)), encoding="utf-8",
                                  errors="backslashreplace", line_buffering=True, write_through=unbuffered)


def _run_main(module: str, argv: list[str]) -> int:
    """``python -m module`` after start-up: run its ``__main__``, the exit code as the interpreter's."""
    sys.argv = argv
    code = 1
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as e:
        if e.code is None:
            code = 0
        elif isinstance(e.code, int):
            code = e.code & 0xFF
        else:
            print(e.code, file=sys.stderr)
    except KeyboardInterrupt:  # the interpreter prints it, then dies of SIGINT (bpo-1054041)
        traceback.print_exc()
        _flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    except BaseException:  # noqa: BLE001 - what the interpreter prints for an uncaught error
        traceback.print_exc()
    _flush()
    return code


def spawn_detached(module: str, args: list[str], log_fd: int, keep_fd: int = -1,
                   env: dict[str, str] | None = None, cwd: str | None = None) -> int:
    """In a served call: ``Popen([python, -m, module, *args], start_new_session=True, stdin
    /dev/null, stdout and stderr log_fd, pass_fds=(keep_fd,), env=env, cwd=cwd).pid`` as a fork of
    this already-imported process (the daemons the doubles start -- the API server double of
    ``nerdctl run``, the unit supervisor of ``systemd-run`` -- whose imports are most of their CPU)."""
    pid = os.fork()
    if pid != 0:
        return pid
    code = 1
    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        if keep_fd >= 3:
            os.closerange(3, keep_fd)
            os.closerange(keep_fd + 1, 65536)
        else:
            os.closerange(3, 65536)
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        if cwd is not None:
            os.chdir(cwd)
        _stdio(bool(os.environ.get("PYTHONUNBUFFERED")))
        code = _run_main(module, [module, *args])
    finally:
        os._exit(code)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def _wait_child(conn: socket.socket, req: dict[str, Any], fds: list[int]) -> None:
    """In the waiter: fork the child, forward the client's signals, report its end; never returns."""
    try:
        child = os.fork()
        if child == 0:
            peer = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[0]
            conn.close()
            _run_child(req, fds, peer)
        with _quiet():  # also here, so that a signal forwarded at once finds the group
            os.setpgid(child, child)
        for fd in fds:
            os.close(fd)
        pidfd = os.pidfd_open(child)
        buf = b""
        client = True
        while True:
            ready, _, _ = select.select([pidfd, conn.fileno()] if client else [pidfd], [], [])
            if pidfd in ready:
                break
            data = conn.recv(256)
            if not data:  # the client is gone (SIGKILL): so is its command, as with the real tool
                client = False
                with _quiet():
                    os.killpg(child, signal.SIGKILL)
                continue
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.startswith(b"sig "):
                    with _quiet():
                        os.killpg(child, int(line[4:]))
        _, status, usage = os.wait4(child, 0)
        root = req["env"].get("KSI_FAKE_ROOT")  # without one the double refused to run: nothing to log
        with _quiet():
            if not root:
                raise FileNotFoundError("no KSI_FAKE_ROOT")
            cpu_log = Path(root) / "forkserver" / "cpu.jsonl"
            cpu_log.parent.mkdir(mode=0o700, exist_ok=True)
            with open(cpu_log, "a") as log:
                log.write(json.dumps({"host": req["host"], "tool": req["tool"], "args": req["argv"][:2],
                                      "cpu": round(usage.ru_utime + usage.ru_stime, 4)}) + "\n")
        answer = f"signal {os.WTERMSIG(status)}\n" if os.WIFSIGNALED(status) else f"exit {os.WEXITSTATUS(status)}\n"
        with _quiet():
            conn.sendall(answer.encode())
        os._exit(0)
    finally:
        os._exit(1)


class _quiet:
    """Ignore the ``OSError`` of a process or client that is already gone."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> bool:
        return kind is not None and issubclass(kind, OSError)


def serve(path: Path, parent: int = 0) -> int:
    """Listen on ``path`` and fork a waiter per call, until the socket is gone, nobody calls, or
    the process ``parent`` (the bench that started it, when given) is gone."""
    from tests.fakeworld.kubeapi.server import escape_slurm_cgroups

    escape_slurm_cgroups(os.getpid())
    preload()
    gc.freeze()  # the children's collections then skip the preloaded objects: no copy-on-write of them
    _flush()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tmp = path.with_name(f"{path.name}.{os.getpid()}")
    os.chdir(path.parent)  # bound by name in its directory: a deep path exceeds AF_UNIX's 107 bytes
    listener.bind(tmp.name)
    listener.listen(64)
    listener.settimeout(1.0)
    os.replace(tmp, path)  # clients connect only once the server has imported everything
    ident = os.stat(path).st_ino
    path.with_suffix(".pid").write_text(f"{os.getpid()}\n")
    last = time.monotonic()
    while True:
        with _quiet():
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            try:
                gone = os.stat(path).st_ino != ident
            except OSError:
                gone = True
            if gone or time.monotonic() - last > IDLE_SECONDS or parent and not _alive(parent):
                return 0
            continue
        last = time.monotonic()
        conn.settimeout(10.0)
        try:
            req, fds = _recv_request(conn)
        except (OSError, EOFError, ValueError):
            conn.close()
            continue
        conn.settimeout(None)
        if os.fork() == 0:
            listener.close()
            _wait_child(conn, req, fds)
        conn.close()
        for fd in fds:
            os.close(fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def main(argv: list[str]) -> int:
    """``python -m tests.fakeworld.common.forkserver SOCKET [PARENT_PID]``."""
    return serve(Path(argv[0]).absolute(), int(argv[1]) if len(argv) > 1 else 0)


if __name__ == "__main__":
    # run as the imported module, not as ``__main__``: the served code finds SERVED under its name
    from tests.fakeworld.common import forkserver

    sys.exit(forkserver.main(sys.argv[1:]))
