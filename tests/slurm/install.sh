#!/bin/sh
# Install what tests/slurm/harness.py needs, and shellcheck for tests/setup/test_setup.py (Debian/Ubuntu, as root). Idempotent:
# does nothing when everything is present, runs `apt-get update` only when a package
# cannot be found in the current package lists.
set -eu

PACKAGES="slurmctld slurmd slurm-client munge iproute2 shellcheck"

# kubectl for tests/cli/run/test_workloads_kubectl.py (the real client against the API double): the machine's
# own, else the apt package `kubectl` where apt has one (Debian's `kubernetes-client` is 1.20,
# too old for `kubectl wait --for=jsonpath`); without it those tests skip, saying why.
install_kubectl() {
    command -v kubectl >/dev/null 2>&1 && return 0
    [ "$(id -u)" -eq 0 ] || { echo "install.sh: kubectl missing and not root" >&2; return 0; }
    cand=$(apt-cache policy kubectl 2>/dev/null | awk '/Candidate:/ {print $2}')
    if [ -z "$cand" ] || [ "$cand" = "(none)" ]; then
        apt-get update >/dev/null
        cand=$(apt-cache policy kubectl 2>/dev/null | awk '/Candidate:/ {print $2}')
    fi
    if [ -n "$cand" ] && [ "$cand" != "(none)" ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends kubectl
    else
        echo "install.sh: no kubectl package in apt; tests/cli/run/test_workloads_kubectl.py will be skipped" >&2
    fi
}
install_kubectl

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
        missing="$missing $p"
    fi
done
if [ -z "$missing" ]; then
    echo "install.sh: all present:$(printf ' %s' $PACKAGES)"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    # Not fatal outside CI: the tests marked `slurm` then skip, saying why.
    echo "install.sh: need root to install:$missing; the Slurm tests will be skipped" >&2
    case "${CI:-}" in true|1|yes) exit 1 ;; esac
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
need_update=0
for p in $missing; do
    # no candidate in the local lists (fresh image with empty /var/lib/apt/lists)
    cand=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')
    if [ -z "$cand" ] || [ "$cand" = "(none)" ]; then
        need_update=1
    fi
done
if [ "$need_update" -eq 1 ]; then
    apt-get update
fi
# shellcheck disable=SC2086
apt-get install -y --no-install-recommends $PACKAGES

# The Debian packages may start the system services where an init exists; the harness
# runs its own private daemons and does not use them.
echo "install.sh: installed:$missing"
