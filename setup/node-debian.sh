#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
#
# node-debian.sh -- prepare a Debian or Ubuntu node for ksi (the root part).  See setup/README.md.
#
# Usage: sudo setup/node-debian.sh [--dry-run] [USER...]
#
# Installs (idempotently, pinned and checksummed in versions.env): the packages rootless
# containers need, nerdctl-full (nerdctl, containerd, RootlessKit, slirp4netns, bypass4netns, CNI
# plugins), kind, kubectl, liqoctl; delegates cgroup v2 controllers to users; loads the kernel
# modules; sets the sysctls; on Ubuntu 24.04+ adds the AppArmor profile RootlessKit needs.  For
# each USER: subordinate uid/gid ranges and lingering.
#
# Environment: DRY_RUN=1, ROOT_PREFIX=DIR, KSI_PREFIX (/usr/local), KSI_USERS, KSI_ARTIFACTS_DIR,
# KSI_VERSIONS_FILE, KSI_ARCH, KSI_APPARMOR_PROFILE=auto|yes|no, KSI_UNPRIVILEGED_PORT_START,
# KSI_SKIP_APPLY=1, KSI_SETUP_ANY_OS=1 (see common.sh and README.md).

# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=node-steps.sh
source "$(dirname "${BASH_SOURCE[0]}")/node-steps.sh"

# ksi needs Python >= 3.11 with venv (setup/install-ksi.sh): Debian 12+ and Ubuntu 24.04+ ship
# it as python3; Ubuntu 22.04's python3 is 3.10, so there python3.11 from Ubuntu's own archive
# (jammy-updates, universe) -- no third-party repository, no download outside apt.
python_packages() {
    local release
    release=$(grep -E '^(ID|VERSION_ID)=' /etc/os-release 2>/dev/null | tr -d '"' | sort | tr '\n' ' ')
    if [[ $release == "ID=ubuntu VERSION_ID=22.04 " ]]; then
        echo python3.11 python3.11-venv
    else
        echo python3 python3-venv
    fi
}
read -r -a PYTHON_PACKAGES <<<"$(python_packages)"

# uidmap: newuidmap/newgidmap; dbus-user-session: `systemctl --user` outside a desktop session.
DEBIAN_PACKAGES=(uidmap dbus-user-session iptables kmod procps curl ca-certificates tar gzip
    "${PYTHON_PACKAGES[@]}")

dpkg_installed() {
    local status
    # shellcheck disable=SC2016  # ${db:Status-Status} is dpkg-query's format, not ours
    status=$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) || return 1
    [[ $status == installed ]]
}

step_packages() {
    step "packages"
    if ! have dpkg-query; then
        failed "dpkg-query not found: is this a Debian or Ubuntu host?"
        return 0
    fi
    local missing=() package
    for package in "${DEBIAN_PACKAGES[@]}"; do
        dpkg_installed "$package" || missing+=("$package")
    done
    if ((${#missing[@]} == 0)); then
        already "installed: ${DEBIAN_PACKAGES[*]}"
        return 0
    fi
    say "missing: ${missing[*]}"
    act "update the package lists" env DEBIAN_FRONTEND=noninteractive apt-get update -q || return 0
    act "install the missing packages" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}" || return 0
}

apparmor_profile() {
    local exe=$1 name=$2
    cat <<EOF
# Written by ksi setup.  Ubuntu 24.04+ restricts unprivileged user namespaces to programs whose
# AppArmor profile allows "userns"; RootlessKit at $exe needs one.
# https://rootlesscontaine.rs/getting-started/common/apparmor/
abi <abi/4.0>,
include <tunables/global>

$exe flags=(unconfined) {
  userns,

  # Site-specific additions and overrides. See local/README for details.
  include if exists <local/$name>
}
EOF
}

# Ubuntu only: an AppArmor profile for RootlessKit when the kernel restricts user namespaces.
step_distro() {
    step "AppArmor profile for RootlessKit"
    local knob=/proc/sys/kernel/apparmor_restrict_unprivileged_userns
    case ${KSI_APPARMOR_PROFILE:-auto} in
        auto)
            if [[ ! -r $knob || $(<"$knob") != 1 ]]; then
                not_needed "this kernel does not restrict unprivileged user namespaces ($knob)"
                return 0
            fi
            ;;
        yes | 1) ;;
        no | 0)
            not_needed "KSI_APPARMOR_PROFILE=${KSI_APPARMOR_PROFILE}"
            return 0
            ;;
        *) die "KSI_APPARMOR_PROFILE must be auto, yes or no, not '${KSI_APPARMOR_PROFILE}'" ;;
    esac
    local exe=$KSI_PREFIX/bin/rootlesskit name
    name=${exe#/}
    name=${name//\//.}
    put_file "/etc/apparmor.d/$name" 0644 "$(apparmor_profile "$exe" "$name")"
    ((FILE_CHANGED)) || return 0
    apply "load the profile" apparmor_parser -r "$ROOT_PREFIX/etc/apparmor.d/$name" || {
        revert_file
        return 0
    }
}

usage() { sed -n '4,17s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

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

node_main "Debian or Ubuntu" "debian ubuntu" "${args[@]}"
