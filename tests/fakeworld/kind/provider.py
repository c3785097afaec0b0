"""kind's logger/status output and its nerdctl provider, for the kind double.

Upstream (kubernetes-sigs/kind v0.29.0): ``pkg/internal/cli/status.go`` + ``logger.go`` (`` • X  ...``
/ `` ✓ X`` / `` ✗ X`` without a terminal; colours and a spinner with one), ``pkg/exec/types.go`` +
``helpers.go`` (``command "nerdctl ps ..." failed with error: exit status 1``, shell-quoted like
``shellescape.Quote``), ``cmd/kind/app/main.go`` (``ERROR: ...`` then ``\\nCommand Output: ...``),
``pkg/internal/runtime/runtime.go`` (``using nerdctl due to KIND_EXPERIMENTAL_PROVIDER``),
``pkg/cluster/internal/providers/nerdctl/{provider,provision,images,network,util}.go`` (every
nerdctl command line below, in the same order with the same arguments).

Commands run through :meth:`Nerdctl.run`: when the ``nerdctl`` found on ``PATH`` is this repository's
double it is called in-process (fast); anything else (e.g. a shim that adds bypass4netns annotations)
runs as a real subprocess.  Commands kind runs *inside* nodes (kubeadm, kubectl, ctr) are simulated by
the caller, which words their failures as ``nerdctl exec --privileged NODE ...`` would fail.
"""

from __future__ import annotations

import io
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

from tests.fakeworld.common import world as fw

DOUBLE = (fw.BIN / "nerdctl").resolve()


class KindError(Exception):
    """An error kind prints as ``ERROR: <message>`` (plus the output of the command that failed)."""

    def __init__(self, message: str, output: str | None = None):
        super().__init__(message)
        self.output = output

    def wrap(self, prefix: str) -> KindError:
        return KindError(f"{prefix}: {self}", self.output)


def pretty(argv: list[str]) -> str:
    """``exec.PrettyCommand`` (shellescape.Quote has the same rules as shlex.quote)."""
    return " ".join(shlex.quote(a) for a in argv)


def run_error(argv: list[str], inner: str, output: str) -> KindError:
    return KindError(f'command "{pretty(argv)}" failed with error: {inner}', output)


class Logger:
    """kind's CLI logger on stderr; ``quiet`` discards, ``verbosity`` enables V(n) lines."""

    def __init__(self, err: IO[str], quiet: bool = False, verbosity: int = 0):
        self.err, self.quiet, self.verbosity = err, quiet, verbosity
        self.tty = bool(getattr(err, "isatty", lambda: False)())

    def info(self, message: str, level: int = 0) -> None:
        if self.quiet or level > self.verbosity:
            return
        if level > 0:
            message = f"DEBUG: kind.py:1] {message}"
        self.err.write(message if message.endswith("\n") else message + "\n")
        self.err.flush()

    def error(self, message: str) -> None:
        self.info(message)


class Status:
    """``cli.Status``: one phase at a time; starting the next ends the previous as a success."""

    def __init__(self, log: Logger):
        self.log, self.status = log, ""
        ok, bad = (" \x1b[32m✓\x1b[0m %s\n", " \x1b[31m✗\x1b[0m %s\n") if log.tty else (" ✓ %s\n", " ✗ %s\n")
        self.formats = {True: ok, False: bad}

    def start(self, status: str) -> None:
        self.end(True)
        self.status = status
        self.log.info(f" • {status}  ...\n")

    def end(self, success: bool) -> None:
        if self.status:
            self.log.info(self.formats[success] % self.status)
            self.status = ""


class _Tee(io.StringIO):
    def __init__(self, combined: list[str]):
        super().__init__()
        self.combined = combined

    def write(self, s: str) -> int:
        self.combined.append(s)
        return super().write(s)


class Nerdctl:
    """The provider's seam to ``nerdctl`` (the value of KIND_EXPERIMENTAL_PROVIDER)."""

    def __init__(self, binary: str):
        self.binary = binary

    def run(self, args: list[str]) -> str:
        """Run ``binary args``; stdout on success, else a KindError holding the combined output."""
        argv = [self.binary, *args]
        # the fake world has no docker or podman: they are as absent as on the test machines
        path = shutil.which(self.binary) if self.binary not in ("docker", "podman") else None
        if path is None:
            raise run_error(argv, f'exec: "{self.binary}": executable file not found in $PATH', "")
        if Path(path).resolve() == DOUBLE:
            from tests.fakeworld.nerdctl import core as nerdctlcore

            combined: list[str] = []
            out, err = _Tee(combined), _Tee(combined)
            code = nerdctlcore.main(args, out, err)
            if code != 0:
                raise run_error(argv, f"exit status {code}", "".join(combined))
            return out.getvalue()
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
        if proc.returncode != 0:
            inner = f"exit status {proc.returncode}" if proc.returncode > 0 else f"signal: {-proc.returncode}"
            raise run_error(argv, inner, proc.stdout + proc.stderr)
        return proc.stdout

    # --- provider.go ---------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        import json

        try:
            return dict(json.loads(self.run(["info", "--format", "{{json .}}"])))
        except KindError as e:
            raise e.wrap("failed to get nerdctl info") from None

    def list_clusters(self) -> list[str]:
        try:
            out = self.run(["ps", "-a", "--filter", f"label={fw.CLUSTER_LABEL}", "--format", f'{{{{.Label "{fw.CLUSTER_LABEL}"}}}}'])
        except KindError as e:
            raise e.wrap("failed to list clusters") from None
        return sorted(set(out.splitlines()))

    def list_nodes(self, cluster: str) -> list[str]:
        try:
            out = self.run(["ps", "-a", "--filter", f"label={fw.CLUSTER_LABEL}={cluster}", "--format", "{{.Names}}"])
        except KindError as e:
            raise e.wrap("failed to list nodes") from None
        return [line for line in out.splitlines() if line]

    def delete_nodes(self, names: list[str]) -> None:
        if not names:
            return
        for args, what in ((["update", "--restart=no", *names], "failed to update restart policy to 'no'"),
                           (["stop", *names], "failed to stop nodes"), (["wait", *names], "failed to wait for node exit"),
                           (["rm", "-f", "-v", *names], "failed to delete nodes")):
            try:
                self.run(args)
            except KindError as e:
                raise e.wrap(what) from None

    def api_server_endpoint(self, node: str) -> str:
        try:
            label = self.run(["inspect", "--format", '{{ index .Config.Labels "desktop.docker.io/ports/6443/tcp" }}', node])
            if label.strip():
                return label.strip()
            line = self.run(["inspect", "--format",
                             '{{ with (index (index .NetworkSettings.Ports "6443/tcp") 0) }}{{ printf "%s\t%s" .HostIp .HostPort }}{{ end }}', node])
        except KindError as e:
            raise e.wrap("failed to get api server port") from None
        lines = line.splitlines()
        if len(lines) != 1:
            raise KindError(f"network details should only be one line, got {len(lines)} lines")
        parts = lines[0].split("\t")
        if len(parts) != 2:
            raise KindError(f"network details should only be two parts, got {len(parts)}")
        host, port = parts
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    # --- images.go / network.go -------------------------------------------------------------------------
    def pull_if_not_present(self, image: str, log: Logger, retries: int = 4) -> None:
        try:
            self.run(["inspect", "--type=image", image])
            log.info(f"Image: {image} present locally", 1)
            return
        except KindError:
            pass
        log.info(f"Pulling image: {image} ...", 1)
        error: KindError | None = None
        for attempt in range(retries + 1):
            try:
                self.run(["pull", image])
                return
            except KindError as e:
                error = e
                if attempt < retries:
                    log.info(f'Trying again to pull image: "{image}" ... {e}', 1)
        assert error is not None
        raise error.wrap(f'failed to pull image "{image}"')

    def ensure_network(self, name: str = "kind") -> None:
        try:
            exists = self.run(["network", "inspect", name, "--format={{.Name}}"]).startswith(name)
        except KindError:
            exists = False
        if exists:
            return
        try:
            mtu_out = self.run(["network", "inspect", "bridge", "-f", '{{ index .Options "com.docker.network.driver.mtu" }}'])
            mtu = int(mtu_out.strip()) if mtu_out.strip().isdigit() else 0
        except KindError:
            mtu = 0
        args = ["network", "create", "-d=bridge"]
        if mtu > 0:
            args += ["-o", f"com.docker.network.driver.mtu={mtu}"]
        args += ["--ipv6", "--subnet", _ula_subnet(name), name]
        try:
            self.run(args)
        except KindError as e:
            raise e.wrap("failed to ensure nerdctl network") from None


def _ula_subnet(name: str, attempt: int = 0) -> str:
    """``generateULASubnetFromName``."""
    import hashlib
    import ipaddress
    import struct

    h = hashlib.sha1(name.encode() + struct.pack("<i", attempt)).digest()
    ip = bytes([0xFC, 0x00]) + h[2:8] + bytes(8)
    return str(ipaddress.IPv6Network((ip, 64)))


def provider_from_env(log: Logger) -> Nerdctl:
    """``runtime.GetDefault`` + ``cluster.NewProvider`` for the values the fake world supports."""
    value = os.environ.get("KIND_EXPERIMENTAL_PROVIDER", "")
    if value in ("nerdctl", "finch", "nerdctl.lima"):
        log.info(f"using {value} due to KIND_EXPERIMENTAL_PROVIDER")
        return Nerdctl(value)
    if value == "podman":
        log.info("using podman due to KIND_EXPERIMENTAL_PROVIDER")
        return Nerdctl("podman")
    if value == "docker":
        log.info("using docker due to KIND_EXPERIMENTAL_PROVIDER")
        return Nerdctl("docker")
    if value:
        log.info(f'ignoring unknown value "{value}" for KIND_EXPERIMENTAL_PROVIDER')
    # auto-detection: docker first (absent from the fake world), then nerdctl (`nerdctl -v`)
    if shutil.which("docker"):
        return Nerdctl("docker")
    if shutil.which("nerdctl"):
        return Nerdctl("nerdctl")
    return Nerdctl("docker")


def write_stdout(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()
