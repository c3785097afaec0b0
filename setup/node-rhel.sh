#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
#
# node-rhel.sh -- prepare a RHEL 9-like node (RHEL, Rocky, Alma, CentOS Stream) for ksi (the
# root part).  See setup/README.md.
#
# Usage: sudo setup/node-rhel.sh [--dry-run] [USER...]
#
# Installs (idempotently, pinned and checksummed in versions.env): the packages rootless
# containers need, nerdctl-full (nerdctl, containerd, RootlessKit, slirp4netns, bypass4netns, CNI
# plugins), kind, kubectl, liqoctl; restores SELinux labels of what it unpacked; delegates cgroup
# v2 controllers to users; loads the kernel modules; sets the sysctls.  For each USER: subordinate
# uid/gid ranges and lingering.
#
# Environment: DRY_RUN=1, ROOT_PREFIX=DIR, KSI_PREFIX (/usr/local), KSI_USERS, KSI_ARTIFACTS_DIR,
# KSI_VERSIONS_FILE, KSI_ARCH, KSI_UNPRIVILEGED_PORT_START, KSI_SKIP_APPLY=1, KSI_SETUP_ANY_OS=1
# (see common.sh and README.md).

# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=node-steps.sh
source "$(dirname "${BASH_SOURCE[0]}")/node-steps.sh"

# Capabilities as dnf resolves them (curl is satisfied by RHEL 9's curl-minimal).
# shadow-utils: newuidmap/newgidmap.
# python3.11 (+ pip for its venv): ksi needs Python >= 3.11, RHEL 9's python3 is 3.9; RHEL 9's
# own AppStream has python3.11 (since 9.2), supported by Red Hat for the life of RHEL 9.
RHEL_PACKAGES=(shadow-utils iptables-nft kmod procps-ng curl ca-certificates tar gzip
    python3.11 python3.11-pip)

rpm_installed() { rpm -q --quiet --whatprovides "$1" >/dev/null 2>&1; }

step_packages() {
    step "packages"
    if ! have rpm; then
        failed "rpm not found: is this a RHEL-like host?"
        return 0
    fi
    local missing=() package
    for package in "${RHEL_PACKAGES[@]}"; do
        rpm_installed "$package" || missing+=("$package")
    done
    if ((${#missing[@]} == 0)); then
        already "installed: ${RHEL_PACKAGES[*]}"
        return 0
    fi
    say "missing: ${missing[*]}"
    act "install the missing packages" dnf install -y -q "${missing[@]}" || return 0
}

# With SELinux enforcing, binaries unpacked or copied into KSI_PREFIX must carry the labels the
# policy gives that path (a file moved from elsewhere keeps its old label): check, and restore.
step_distro() {
    step "SELinux labels in $KSI_PREFIX"
    if ! have selinuxenabled || ! selinuxenabled; then
        not_needed "SELinux is disabled"
        return 0
    fi
    local dirs=("$ROOT_PREFIX$KSI_PREFIX/bin" "$ROOT_PREFIX$KSI_PREFIX/libexec")
    local wrong
    wrong=$(restorecon -R -n -v "${dirs[@]}" 2>/dev/null || true)
    if [[ -z $wrong ]]; then
        already "every file has its default label"
        return 0
    fi
    apply "restore the default labels" restorecon -R "${dirs[@]}" || return 0
}

usage() { sed -n '4,18s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

args=()
for arg in "$@"; do
    case $arg in
        -n | --dry-run) DRY_RUN=1 ;;
        -h | --help)
            usage
            exit 0
            ;;
        -*) die "unknown option: $arg (see --help)" ;;
        *) args+=("$arg") ;;
    esac
done

node_main "RHEL 9-like systems" "rhel centos rocky almalinux fedora" "${args[@]}"
