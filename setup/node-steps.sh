# shellcheck shell=bash
#
# node-steps.sh -- the root part's steps, shared by node-debian.sh and node-rhel.sh; sourced after
# common.sh (whose step/put_file/act/fetch they use).  Each distro script defines step_packages
# and, optionally, step_distro, then calls node_main.

step_nerdctl_full() {
    local version=$NERDCTL_FULL_VERSION sha
    sha=$(pinned_sha NERDCTL_FULL)
    local url="https://github.com/containerd/nerdctl/releases/download/v$version/nerdctl-full-$version-linux-$ARCH.tar.gz"
    local want="nerdctl-full $version $ARCH $sha" bin=$KSI_PREFIX/bin
    step "nerdctl-full $version"
    say "nerdctl, containerd, RootlessKit, slirp4netns, bypass4netns, CNI plugins, into $KSI_PREFIX"
    if valid_sha256 "$sha" && stamp_ok nerdctl-full "$want" "$bin/nerdctl" "$bin/containerd" \
        "$bin/rootlesskit" "$bin/containerd-rootless-setuptool.sh" "$bin/bypass4netnsd"; then
        already "nerdctl-full $version is installed in $KSI_PREFIX"
        return 0
    fi
    fetch nerdctl-full "$version" "$url" "$sha" || return 0
    if dry_run; then
        say "would unpack it into $KSI_PREFIX (bin/, libexec/cni/, lib/systemd/system/, share/doc/)"
    else
        mkdir -p -- "$ROOT_PREFIX$KSI_PREFIX"
        if ! tar -xzf "$FETCHED" -C "$ROOT_PREFIX$KSI_PREFIX" --no-same-owner; then
            failed "unpacking ${url##*/} into $KSI_PREFIX failed"
            return 0
        fi
        say "unpacked into $KSI_PREFIX"
    fi
    put_file "$(stamp_path nerdctl-full)" 0644 "$want"
}

step_kind() {
    install_binary kind "$KIND_VERSION" \
        "https://github.com/kubernetes-sigs/kind/releases/download/$KIND_VERSION/kind-linux-$ARCH" \
        "$(pinned_sha KIND)" "$KSI_PREFIX/bin/kind"
}

step_kubectl() {
    install_binary kubectl "$KUBECTL_VERSION" \
        "https://dl.k8s.io/release/$KUBECTL_VERSION/bin/linux/$ARCH/kubectl" \
        "$(pinned_sha KUBECTL)" "$KSI_PREFIX/bin/kubectl"
}

step_liqoctl() {
    local version=$LIQOCTL_VERSION sha
    sha=$(pinned_sha LIQOCTL)
    local url="https://github.com/liqotech/liqo/releases/download/$version/liqoctl-linux-$ARCH.tar.gz"
    local want="liqoctl $version $ARCH $sha" dest=$KSI_PREFIX/bin/liqoctl
    step "liqoctl $version"
    if valid_sha256 "$sha" && stamp_ok liqoctl "$want" "$dest"; then
        already "$dest is liqoctl $version"
        return 0
    fi
    fetch liqoctl "$version" "$url" "$sha" || return 0
    if dry_run; then
        say "would install the liqoctl in it as $dest (mode 0755)"
    else
        local unpacked=$WORK_DIR/liqoctl-unpacked
        mkdir -p -- "$unpacked"
        if ! tar -xzf "$FETCHED" -C "$unpacked" --no-same-owner || [[ ! -f $unpacked/liqoctl ]]; then
            failed "${url##*/} has no liqoctl at its top level"
            return 0
        fi
        install_exe "$unpacked/liqoctl" "$ROOT_PREFIX$dest"
        say "installed $dest"
    fi
    put_file "$(stamp_path liqoctl)" 0644 "$want"
}

step_cgroup_delegation() {
    step "cgroup v2 delegation to users"
    put_file /etc/systemd/system/user@.service.d/delegate.conf 0644 "\
# Written by ksi setup (setup/node-*.sh).  Delegate these cgroup v2 controllers to every user's
# systemd manager, so rootless containerd and kind's node containers can use them; kind refuses a
# rootless provider without delegation.  https://rootlesscontaine.rs/getting-started/common/cgroup2/
[Service]
Delegate=cpu cpuset io memory pids"
    ((FILE_CHANGED)) || return 0
    apply "reload systemd" systemctl daemon-reload || {
        revert_file
        return 0
    }
    say "a user's running systemd manager gets the controllers when it restarts (all their" \
        "sessions and jobs end, or the node reboots)"
}

# The modules rootless kind needs for iptables NAT inside its network namespace (kind's rootless
# docs), and wireguard for Liqo's cross-cluster gateway.
KSI_MODULES=(ip_tables ip6_tables iptable_nat ip6table_nat)

step_kernel_modules() {
    step "kernel modules"
    local modules=("${KSI_MODULES[@]}")
    if have modprobe && modprobe -n -q wireguard 2>/dev/null; then
        modules+=(wireguard)
    else
        warn "no wireguard kernel module on this host: Liqo's gateway then needs its userspace" \
            "implementation (--set networking.gatewayTemplates.wireguard.implementation=userspace)"
    fi
    put_file /etc/modules-load.d/ksi.conf 0644 "$(printf '%s\n' \
        "# Written by ksi setup: loaded at boot by systemd-modules-load." \
        "# iptables NAT for rootless kind (kind docs: rootless), wireguard for Liqo." \
        "${modules[@]}")"
    ((FILE_CHANGED)) || return 0
    apply "load them now" modprobe -a "${modules[@]}" || {
        revert_file
        return 0
    }
}

# at_least MIN FILE: MIN, or the number in FILE when that is larger (never lower a site's value).
at_least() {
    local min=$1 current=""
    if [[ -r $2 ]]; then current=$(<"$2"); fi
    if [[ $current =~ ^[0-9]+$ ]] && ((current > min)); then
        printf '%s' "$current"
    else
        printf '%s' "$min"
    fi
}

step_sysctl() {
    step "sysctl"
    local watches instances
    watches=$(at_least 524288 /proc/sys/fs/inotify/max_user_watches)
    instances=$(at_least 512 /proc/sys/fs/inotify/max_user_instances)
    local lines=(
        "# Written by ksi setup.  kind needs more inotify watches and instances than the defaults"
        "# for more than one cluster per host (kind known issues); a larger value is kept."
        "fs.inotify.max_user_watches = $watches"
        "fs.inotify.max_user_instances = $instances"
    )
    if [[ -n ${KSI_UNPRIVILEGED_PORT_START:-} ]]; then
        [[ $KSI_UNPRIVILEGED_PORT_START =~ ^[0-9]+$ ]] ||
            die "KSI_UNPRIVILEGED_PORT_START must be a port number, not '$KSI_UNPRIVILEGED_PORT_START'"
        lines+=(
            "# KSI_UNPRIVILEGED_PORT_START: users may listen on ports from here on (ksi does not need it)."
            "net.ipv4.ip_unprivileged_port_start = $KSI_UNPRIVILEGED_PORT_START"
        )
    fi
    put_file /etc/sysctl.d/90-ksi.conf 0644 "$(printf '%s\n' "${lines[@]}")"
    ((FILE_CHANGED)) || return 0
    apply "apply them now" sysctl -q -p "$ROOT_PREFIX/etc/sysctl.d/90-ksi.conf" || {
        revert_file
        return 0
    }
}

# add_subids FILE USER UID: give USER 65536 subordinate ids in FILE (/etc/subuid or /etc/subgid),
# after the highest range already there, unless USER (or UID) already has one.
add_subids() {
    local file=$1 user=$2 uid=$3
    local path=$ROOT_PREFIX$file old=""
    if [[ -f $path ]]; then old=$(<"$path"); fi
    if [[ -n $old ]] && awk -F: -v u="$user" -v id="$uid" \
        '$1 == u || $1 == id { found = 1 } END { exit !found }' <<<"$old"; then
        already "$file has a range for $user"
        return 0
    fi
    local start
    start=$(awk -F: 'BEGIN { free = 100000 }
        NF >= 3 && $2 ~ /^[0-9]+$/ && $3 ~ /^[0-9]+$/ { if ($2 + $3 > free) free = $2 + $3 }
        END { print free }' <<<"$old")
    say "$file: $user gets $start-$((start + 65535))"
    put_file "$file" 0644 "${old:+$old$'\n'}$user:$start:65536"
}

enable_linger() {
    local user=$1
    if [[ -e $ROOT_PREFIX/var/lib/systemd/linger/$user ]]; then
        already "lingering is enabled for $user"
        return 0
    fi
    if [[ ${KSI_SKIP_APPLY:-0} == 1 ]]; then
        put_file "/var/lib/systemd/linger/$user" 0644 ""
        return 0
    fi
    act "let $user's systemd manager (and rootless containerd) run without a login session" \
        loginctl enable-linger "$user" || return 0
}

step_user() {
    local user=$1 entry uid
    step "user $user"
    if ! entry=$(getent passwd "$user"); then
        failed "no such user: $user"
        return 0
    fi
    uid=$(cut -d: -f3 <<<"$entry")
    add_subids /etc/subuid "$user" "$uid"
    add_subids /etc/subgid "$user" "$uid"
    enable_linger "$user"
}

# check_os DESCRIPTION ID...: this host's /etc/os-release ID or ID_LIKE is one of the IDs.
check_os() {
    local what=$1 ids="" pretty="" id want
    shift
    if [[ -r /etc/os-release ]]; then
        # shellcheck disable=SC1091
        ids=$(. /etc/os-release && printf '%s %s' "${ID:-}" "${ID_LIKE:-}")
        # shellcheck disable=SC1091
        pretty=$(. /etc/os-release && printf '%s' "${PRETTY_NAME:-}")
    fi
    for id in $ids; do
        for want in "$@"; do
            if [[ ${id//\"/} == "$want" ]]; then
                say "os: ${pretty:-$id}"
                return 0
            fi
        done
    done
    if [[ ${KSI_SETUP_ANY_OS:-0} == 1 ]]; then
        warn "this script is for $what; this host is '${pretty:-unknown}' (KSI_SETUP_ANY_OS=1)"
        return 0
    fi
    die "this script is for $what; this host is '${pretty:-unknown}'" \
        "(KSI_SETUP_ANY_OS=1 runs it anyway)"
}

preflight_node() {
    printf '==> preflight\n'
    if ! dry_run && [[ -z $ROOT_PREFIX ]] && ((EUID != 0)); then
        die "run this as root (DRY_RUN=1 shows the plan without root)"
    fi
    check_os "$@"
    say "architecture: $ARCH; install prefix: $KSI_PREFIX${ROOT_PREFIX:+; files under ROOT_PREFIX=$ROOT_PREFIX}"
    say "pinned ($KSI_VERSIONS_FILE): nerdctl-full $NERDCTL_FULL_VERSION, kind $KIND_VERSION," \
        "kubectl $KUBECTL_VERSION, liqoctl $LIQOCTL_VERSION"
    if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
        say "cgroup v2: yes"
    else
        warn "this host does not run cgroup v2, which rootless kind needs: boot it with" \
            "systemd.unified_cgroup_hierarchy=1 (setup/README.md)"
    fi
    local release major minor
    release=$(uname -r)
    IFS=. read -r major minor _ <<<"$release"
    if [[ $major =~ ^[0-9]+$ && $minor =~ ^[0-9]+$ ]] && ((major < 5 || (major == 5 && minor < 11))); then
        warn "kernel $release: rootless overlayfs needs >= 5.11 (5.13 with SELinux), Liqo >= 5.10"
    fi
    if [[ -r /proc/sys/kernel/unprivileged_userns_clone && $(</proc/sys/kernel/unprivileged_userns_clone) == 0 ]]; then
        warn "kernel.unprivileged_userns_clone = 0: rootless containers need 1 (site policy: not changed here)"
    fi
    if [[ -r /proc/sys/user/max_user_namespaces && $(</proc/sys/user/max_user_namespaces) == 0 ]]; then
        warn "user.max_user_namespaces = 0: rootless containers need user namespaces (not changed here)"
    fi
}

# node_main DESCRIPTION "ID..." [USER...]: the root part, in order.  The calling script defines
# step_packages and, optionally, step_distro (run after the installs).
node_main() {
    local what=$1 ids=$2
    shift 2
    local users=() user
    # shellcheck disable=SC2206  # KSI_USERS is a space-separated list on purpose
    users=("$@" ${KSI_USERS:-})
    init_common
    for user in "${users[@]}"; do
        [[ $user =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] || die "not a user name: '$user'"
    done
    detect_arch
    load_versions
    # shellcheck disable=SC2086  # ids is a list of words
    preflight_node "$what" $ids
    step_packages
    step_nerdctl_full
    step_kind
    step_kubectl
    step_liqoctl
    if declare -F step_distro >/dev/null; then step_distro; fi
    step_cgroup_delegation
    step_kernel_modules
    step_sysctl
    for user in "${users[@]}"; do step_user "$user"; done
    finish
    if ((${#users[@]} == 0)); then
        printf '\nNo users given: for each user of ksi, run %s USER... (subordinate ids and\n' "${0##*/}"
        printf 'lingering), unless your site manages /etc/subuid, /etc/subgid and linger itself.\n'
    fi
    printf 'Next, every user runs setup/user.sh once (rootless containerd), then "ksi doctor".\n'
}
