"""Test double of ``systemd-run --user`` (systemd v252, src/run/run.c): a transient user service.

What ksi relies on, mirrored: the command runs *outside the caller's process tree and Slurm job*
(a child of the user's systemd manager: its own session, out of every Slurm cgroup), with the
manager's environment (not the caller's!) plus ``--setenv`` ones, in the home directory; a unit
name already in use is refused; ``--collect`` forgets the unit when it ends.  Options outside the
subset below are refused like getopt does (``systemd-run: unrecognized option '--x'``).

``--property=EnvironmentFile=PATH`` (``-p``) as upstream: systemd-run passes it as the unit's
``EnvironmentFiles`` (``a(sb)``, a leading ``-`` = may be missing; src/shared/bus-unit-util.c,
``bus_append_execute_property``); the manager refuses a relative path ("Path ... is not
absolute.", src/core/dbus-execute.c) and reads the file when the service starts, with the rules
of src/basic/env-file.c (``KEY=VALUE`` lines, ``#``/``;`` comments, single and double quotes,
backslash escapes); a missing file fails the unit ("Failed to load environment files: No such
file or directory" in its journal) after systemd-run has returned 0 (a ``Type=simple`` start job
is done once the process is forked).

State: ``$KSI_FAKE_ROOT/hosts/<host>/<uid>/units/<unit>.json`` (pid, argv) and ``<unit>.log``
(the unit's journal).  ``KSI_FAKE_FAIL=systemd-run[@host]`` plays a node without a user manager:
``Failed to connect to bus: No medium found``, exit 1, as systemd-run says when
``$XDG_RUNTIME_DIR/bus`` is missing.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.fakeworld.common import world as fw
from tests.fakeworld.kubeapi.server import escape_slurm_cgroups

#: The user manager's own environment (systemd --user), which a transient unit starts from.
MANAGER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
WITH_VALUE = {"--unit", "-u", "--setenv", "-E", "--property", "-p", "--description",
              "--working-directory", "--slice", "-M", "--machine", "--uid", "--gid", "--nice"}
FLAGS = {"--user", "--system", "--collect", "-G", "--quiet", "-q", "--same-dir", "-d",
         "--no-block", "--wait", "--scope", "--pty", "-t", "--pipe", "-P", "--no-ask-password"}


def units_dir() -> Path:
    d = fw.host_dir() / "units"
    d.mkdir(parents=True, exist_ok=True)
    return d


def fail(message: str, code: int = 1) -> int:
    print(message, file=sys.stderr)
    return code


def parse(argv: list[str]) -> tuple[dict[str, list[str]], set[str], list[str]] | str:
    values: dict[str, list[str]] = {}
    flags: set[str] = set()
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return values, flags, argv[i + 1:]
        if not arg.startswith("-") or arg == "-":
            return values, flags, argv[i:]
        name, eq, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in WITH_VALUE:
            if eq:
                value = inline
            else:
                i += 1
                if i >= len(argv):
                    return f"systemd-run: option '{name}' requires an argument"
                value = argv[i]
            values.setdefault(name.lstrip("-"), []).append(value)
        elif name in FLAGS and not eq:
            flags.add(name)
        else:
            return f"systemd-run: unrecognized option '{arg}'"
        i += 1
    return values, flags, []


def parse_env_file(text: str) -> dict[str, str]:
    """systemd's env-file grammar (src/basic/env-file.c, parse_env_file_internal), enough of it:
    comments, ``export``-less ``KEY=VALUE``, quotes, backslash escapes, trailing blanks cut."""
    env: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        key, eq, rest = line.partition("=")
        key = key.strip()
        if not eq or not key:
            continue
        value, i, quote = [], 0, None
        rest = rest.lstrip()
        while i < len(rest):
            c = rest[i]
            if quote is None and c in "'\"":
                quote = c
            elif quote is not None and c == quote:
                quote = None
            elif c == "\\" and quote != "'" and i + 1 < len(rest):
                i += 1
                nxt = rest[i]
                value.append(nxt if quote is None or nxt in '"\\`$' else "\\" + nxt)
            else:
                value.append(c)
            i += 1
        env[key] = "".join(value).rstrip() if quote is None else "".join(value)
    return env


def main(argv: list[str]) -> int:
    parsed = parse(argv)
    if isinstance(parsed, str):
        return fail(parsed)
    values, flags, command = parsed
    if not command:
        return fail("Command line to execute required.")
    if "--user" not in flags:
        return fail("Failed to start transient service unit: Access denied")
    if fw.should_fail("systemd-run") or not os.environ.get("XDG_RUNTIME_DIR"):
        return fail("Failed to connect to bus: No medium found")
    unit = (values.get("unit") or values.get("u") or [f"run-r{secrets.token_hex(16)}"])[-1]
    if not unit.endswith((".service", ".scope")):
        unit += ".service"
    exe = shutil.which(command[0], path=MANAGER_PATH) if "/" not in command[0] else command[0]
    if not exe or not os.access(exe, os.X_OK):
        return fail(f"Failed to find executable {command[0]}: No such file or directory")
    env = {"PATH": MANAGER_PATH, "HOME": os.environ.get("HOME", "/"),
           "USER": os.environ.get("USER", ""), "LANG": "C.UTF-8",
           "XDG_RUNTIME_DIR": os.environ["XDG_RUNTIME_DIR"]}
    env_files: list[tuple[str, bool]] = []
    for prop in values.get("property", []) + values.get("p", []):
        name, _, value = prop.partition("=")
        if name == "EnvironmentFile" and value:
            path, optional = (value[1:], True) if value.startswith("-") else (value, False)
            if not os.path.isabs(path):
                return fail(f"Failed to start transient service unit: Path {path} is not "
                            "absolute.")
            env_files.append((path, optional))
    for item in values.get("setenv", []) + values.get("E", []):
        key, eq, value = item.partition("=")
        if eq:
            env[key] = value
        elif key in os.environ:
            env[key] = os.environ[key]
    record_path = units_dir() / f"{unit}.json"
    with fw.host_lock():
        current = fw.read_json(record_path)
        if current and fw.pid_alive(current.get("pid"), current.get("pidStartTime")):
            return fail(f"Failed to start transient service unit: Unit {unit} was already "
                        "loaded or has a fragment file.")
        cwd = os.getcwd() if flags & {"--same-dir", "-d"} else env["HOME"]
        log = open(units_dir() / f"{unit}.log", "ab")  # noqa: SIM115 - handed to the child
        for path, optional in env_files:  # read by the manager as the service starts
            try:
                with open(path) as handle:
                    env.update(parse_env_file(handle.read()))
            except FileNotFoundError:
                if optional:
                    continue
                log.write(b"Failed to load environment files: No such file or directory\n")
                log.close()
                if not flags & {"--quiet", "-q"}:
                    print(f"Running as unit: {unit}", file=sys.stderr)
                return 0
        # The supervisor plays the user manager: out of the Slurm job, it starts the command and
        # forgets the unit when it ends (--collect).
        args = ["--supervise", str(record_path), "1" if flags & {"--collect", "-G"} else "0", cwd, "--",
                exe, *command[1:]]
        served = sys.modules.get("tests.fakeworld.common.forkserver")
        if served is not None and served.SERVED:  # the bench's cheap mode: the same, forked
            supervisor = served.spawn_detached("tests.fakeworld.systemd_run", args, log.fileno(), env=env,
                                               cwd=str(fw.REPO_ROOT))
        else:
            supervisor = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "tests.fakeworld.systemd_run", *args],
                # cwd: ``python -m`` finds tests.fakeworld there (the unit's env has no PYTHONPATH of
                # ours); the command itself runs in the unit's cwd (supervise).
                env=env, cwd=fw.REPO_ROOT, stdin=subprocess.DEVNULL, stdout=log,
                stderr=log, start_new_session=True, close_fds=True).pid
        fw.write_json_atomic(record_path, {"unit": unit, "argv": command, "pid": None,
                                            "supervisor": supervisor, "env": sorted(env)})
    if not flags & {"--quiet", "-q"}:
        print(f"Running as unit: {unit}; invocation ID: {secrets.token_hex(16)}", file=sys.stderr)
    return 0


def supervise(record_path: Path, collect: bool, cwd: str, command: list[str]) -> int:
    escape_slurm_cgroups(os.getpid())
    child = subprocess.Popen(command, cwd=cwd)  # noqa: S603 - env: the unit's, as we got it
    for _ in range(100):  # the record is written right after we start
        record = fw.read_json(record_path)
        if record is not None:
            record.update(pid=child.pid, pidStartTime=fw.proc_start_time(child.pid))
            fw.write_json_atomic(record_path, record)
            break
        time.sleep(0.01)
    code = child.wait()
    if collect:
        record_path.unlink(missing_ok=True)
    else:
        record = fw.read_json(record_path) or {}
        record.update(pid=None, exitCode=code)
        fw.write_json_atomic(record_path, record)
    return 0


def entry(argv: list[str]) -> int:
    """``python -m tests.fakeworld.systemd_run``: the CLI, or the supervisor it starts."""
    if argv[:1] == ["--supervise"]:
        sep = argv.index("--")
        return supervise(Path(argv[1]), argv[2] == "1", argv[3], argv[sep + 1:])
    return main(argv)
