#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
#
# user.sh -- the per-user part: rootless containerd for the user who runs it.  Run it once per
# user, as that user (not root, not through su/sudo), on every node where they will run ksi --
# or once, when home directories are shared and every node gives the user a systemd manager.
#
# Usage: setup/user.sh [--dry-run] [--bypass4netns] [--local-data DIR]
#
# Checks what the admin's part (node-*.sh) provides, then runs
# `containerd-rootless-setuptool.sh install` (a systemd user unit, containerd.service), and with
# --bypass4netns (or KSI_BYPASS4NETNS=1) also `install-bypass4netnsd`, which `ksi run
# --bypass4netns` needs.  Each is skipped when its unit is already active.
#
# --local-data DIR (or KSI_LOCAL_DATA=DIR): keep containerd's images and containers, the CNI
# address allocations and nerdctl's state in DIR, a node-local path, instead of ~/.local/share --
# needed when your home directory is on a shared filesystem (NFS, Lustre, GPFS, ...), which
# every node would otherwise use at once.  Use the same DIR on every node, e.g. /var/tmp/ksi-$USER.
#
# Environment: DRY_RUN=1, KSI_PREFIX (/usr/local), KSI_BYPASS4NETNS=1, KSI_LOCAL_DATA=DIR.

# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SETUPTOOL=containerd-rootless-setuptool.sh

usage() { sed -n '4,21s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

# has_subids FILE: FILE gives this user (by name or uid) a range of subordinate ids.
has_subids() {
    [[ -r $1 ]] && awk -F: -v u="$USER_NAME" -v id="$EUID" \
        '$1 == u || $1 == id { found = 1 } END { exit !found }' "$1"
}

preflight_user() {
    printf '==> preflight\n'
    ((EUID != 0)) || die "run user.sh as the user who will run ksi, not as root:" \
        "rootless containerd belongs to that user"
    [[ -z $ROOT_PREFIX ]] || die "ROOT_PREFIX applies to the node scripts only"
    if [[ :$PATH: != *:$KSI_PREFIX/bin:* ]]; then
        warn "$KSI_PREFIX/bin is not on your PATH: add it (in ~/.bashrc) so ksi finds nerdctl and kind"
        PATH=$KSI_PREFIX/bin:$PATH
    fi
    local tool missing=()
    for tool in "$SETUPTOOL" containerd-rootless.sh containerd rootlesskit nerdctl; do
        have "$tool" || missing+=("$tool")
    done
    if ((${#missing[@]} > 0)); then
        die "not found: ${missing[*]}; ask your admin to run setup/node-debian.sh or node-rhel.sh"
    fi
    for tool in kind kubectl liqoctl newuidmap newgidmap; do
        have "$tool" || warn "$tool not found: ksi needs it (setup/node-*.sh installs it)"
    done
    say "user: $USER_NAME (uid $EUID)"
    has_subids /etc/subuid && has_subids /etc/subgid ||
        (have getsubids && getsubids "$USER_NAME" >/dev/null 2>&1) ||
        warn "no subordinate uid/gid range for $USER_NAME in /etc/subuid and /etc/subgid:" \
            "ask your admin (setup/node-*.sh $USER_NAME)"
    if [[ -z ${XDG_RUNTIME_DIR:-} || ! -d $XDG_RUNTIME_DIR || ! -w $XDG_RUNTIME_DIR ]]; then
        die "XDG_RUNTIME_DIR ('${XDG_RUNTIME_DIR:-}') is not set or not writable: log in" \
            "with ssh (not su or sudo) so that systemd starts your user manager;" \
            "see https://rootlesscontaine.rs/getting-started/common/login/"
    fi
    systemctl --user show-environment >/dev/null 2>&1 ||
        die "no systemd user manager answers (systemctl --user): log in with ssh, and ask your" \
            "admin whether lingering is enabled for you"
    local linger
    linger=$(loginctl show-user "$USER_NAME" --property=Linger --value 2>/dev/null || true)
    if [[ $linger == yes ]]; then
        say "lingering: yes"
    else
        warn "lingering is not enabled for $USER_NAME: your containerd stops with your last" \
            "session, and a Slurm job may find no user manager; ask your admin to run" \
            "loginctl enable-linger $USER_NAME (setup/node-*.sh $USER_NAME does)"
    fi
    local fs
    fs=$(stat -f -c %T "$HOME" 2>/dev/null || true)
    case $fs in
        nfs* | lustre | gpfs | ceph | cifs | smb* | fuse* | beegfs | panfs | afs)
            if [[ -z ${KSI_LOCAL_DATA:-} ]]; then
                warn "your home directory is on $fs, shared by every node: pass --local-data DIR" \
                    "(a node-local directory such as /var/tmp/ksi-$USER_NAME) so that each node's" \
                    "containerd keeps its images, containers and addresses to itself"
            fi
            ;;
    esac
    local controllers_file=/sys/fs/cgroup/user.slice/user-$EUID.slice/user@$EUID.service/cgroup.controllers
    local controllers="" controller
    if [[ -r $controllers_file ]]; then controllers=$(<"$controllers_file"); fi
    for controller in cpu cpuset io memory pids; do
        if [[ " $controllers " != *" $controller "* ]]; then
            warn "cgroup controller '$controller' is not delegated to you ($controllers_file:" \
                "'$controllers'); kind needs delegation: ask your admin (setup/node-*.sh)," \
                "then log out everywhere and back in"
            break
        fi
    done
}

unit_active() { systemctl --user is-active --quiet "$1" 2>/dev/null; }

# containerd-rootless.sh keeps containerd's root and the CNI allocations under $XDG_DATA_HOME
# (~/.local/share by default); nerdctl keeps its own state in data_root (nerdctl docs: config.md).
step_local_data() {
    step "node-local storage"
    local dir=${KSI_LOCAL_DATA:-}
    if [[ -z $dir ]]; then
        not_needed "containerd and nerdctl keep their state under ~/.local/share (--local-data DIR moves it)"
        return 0
    fi
    [[ $dir == /* ]] || die "--local-data needs an absolute path, not '$dir'"
    local config=${XDG_CONFIG_HOME:-$HOME/.config}
    put_file "$config/systemd/user/containerd.service.d/ksi-local-data.conf" 0644 "\
# Written by setup/user.sh --local-data: containerd's state stays on this node.
[Service]
Environment=XDG_DATA_HOME=$dir"
    local unit_changed=$FILE_CHANGED
    local toml=$config/nerdctl/nerdctl.toml line="data_root = \"$dir/nerdctl\""
    if [[ -f $toml ]] && ! grep -qxF "$line" "$toml"; then
        failed "$toml exists: add the line '$line' to it yourself"
    elif [[ ! -f $toml ]]; then
        put_file "$toml" 0644 "# Written by setup/user.sh --local-data: nerdctl's state stays on this node.
$line"
    else
        already "$toml has $line"
    fi
    ((unit_changed)) || return 0
    act "reload your systemd units" systemctl --user daemon-reload || return 0
    if unit_active containerd.service; then
        act "restart containerd to use $dir" systemctl --user restart containerd.service || return 0
    fi
}

step_containerd() {
    step "rootless containerd"
    if unit_active containerd.service; then
        already "your containerd.service (systemd user unit) is active"
        return 0
    fi
    act "install and start rootless containerd" "$SETUPTOOL" install || return 0
}

step_bypass4netnsd() {
    step "bypass4netnsd"
    case ${KSI_BYPASS4NETNS:-0} in
        1 | true | yes) ;;
        *)
            not_needed "optional; --bypass4netns installs it (for \`ksi run --bypass4netns\`)"
            return 0
            ;;
    esac
    if unit_active bypass4netnsd.service; then
        already "your bypass4netnsd.service is active"
        return 0
    fi
    act "install and start bypass4netnsd" "$SETUPTOOL" install-bypass4netnsd || return 0
}

while (($# > 0)); do
    case $1 in
        -n | --dry-run) DRY_RUN=1 ;;
        --bypass4netns) KSI_BYPASS4NETNS=1 ;;
        --local-data=*) KSI_LOCAL_DATA=${1#*=} ;;
        --local-data)
            (($# > 1)) || die "--local-data needs a directory"
            KSI_LOCAL_DATA=$2
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done

init_common
USER_NAME=$(id -un)
preflight_user
step_local_data
step_containerd
step_bypass4netnsd
finish
if ! dry_run; then
    if nerdctl info >/dev/null 2>&1; then
        printf 'nerdctl reaches your rootless containerd.\n'
    else
        warn "nerdctl info failed: see journalctl --user -u containerd.service"
    fi
fi
printf 'Next: "ksi doctor" checks everything ksi needs (run it inside a job too: srun -N1 ksi doctor).\n'
