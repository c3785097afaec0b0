# shellcheck shell=bash
# shellcheck source-path=SCRIPTDIR
#
# common.sh -- sourced by node-debian.sh, node-rhel.sh (with node-steps.sh) and user.sh; does
# nothing on its own.
#
# What the scripts share:
#
#  * Steps.  `step NAME` opens a step.  A step first checks whether its result is already in
#    place; if so it says "already done" and changes nothing, so every script can be run again at
#    any time (after a bump of versions.env, on a node that drifted, ...).  The summary at the end
#    lists each step as "already done", "changed", "would change", "not needed" or "FAILED"; the
#    exit code is 1 when a step failed.  A failed step does not stop the steps after it.
#
#  * DRY_RUN=1 (or --dry-run).  Every action that would change the system is printed instead of
#    run: commands in a form you can paste, files with their full content.  Read-only checks
#    still run, so the plan lists only what is missing.  Needs no root and writes nothing, not
#    even a temporary file.
#
#  * ROOT_PREFIX=DIR.  Every file the scripts write, and every file their checks read back, is
#    under DIR instead of /.  Commands (apt-get, dnf, curl, systemctl, modprobe, sysctl,
#    loginctl) still run as they are: ROOT_PREFIX is for tests, with doubles of those commands
#    first on PATH, and for looking at the files before installing them on a node.
#
#  * KSI_SKIP_APPLY=1.  Write the files but do not apply them to the running system (no
#    daemon-reload, modprobe, sysctl -p, apparmor_parser, restorecon; lingering becomes its file):
#    for building a node image in a chroot, where they take effect at boot.
#
#  * Downloads.  Versions and checksums come from versions.env (KSI_VERSIONS_FILE); each file is
#    verified against its pinned sha256 before anything is installed from it.  An artifact whose
#    checksum is a placeholder, or does not match, is refused: that step fails and says why.
#    KSI_ARTIFACTS_DIR=DIR takes the files from DIR (upstream file names) instead of downloading
#    them, for nodes without internet access; they are verified the same way.

set -euo pipefail
umask 022

KSI_SETUP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KSI_VERSIONS_FILE=${KSI_VERSIONS_FILE:-$KSI_SETUP_DIR/versions.env}
KSI_PREFIX=${KSI_PREFIX:-/usr/local}
KSI_ARTIFACTS_DIR=${KSI_ARTIFACTS_DIR:-}
ROOT_PREFIX=${ROOT_PREFIX:-}
DRY_RUN=${DRY_RUN:-0}
ARCH=""

STEP=""
STEP_STATE=""
SUMMARY=()
FAILED_STEPS=0
WORK_DIR=""
FETCHED=""
FILE_CHANGED=0
FILE_PATH=""
FILE_BACKUP=""

# --- logging -------------------------------------------------------------------------------------
say() { printf '    %s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() {
    printf 'ERROR: %s\n' "$*" >&2
    exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }
dry_run() { [[ $DRY_RUN == 1 ]]; }
quote_cmd() {
    local q
    printf -v q '%q ' "$@"
    printf '%s' "${q% }"
}

# --- settings ------------------------------------------------------------------------------------
init_common() {
    case ${DRY_RUN,,} in
        1 | true | yes | on) DRY_RUN=1 ;;
        0 | false | no | off | '') DRY_RUN=0 ;;
        *) die "DRY_RUN must be 0 or 1, not '$DRY_RUN'" ;;
    esac
    if [[ -n $ROOT_PREFIX ]]; then
        [[ $ROOT_PREFIX == /* ]] || die "ROOT_PREFIX must be an absolute path, not '$ROOT_PREFIX'"
        ROOT_PREFIX=${ROOT_PREFIX%/}
    fi
    [[ $KSI_PREFIX == /* ]] || die "KSI_PREFIX must be an absolute path, not '$KSI_PREFIX'"
    KSI_PREFIX=${KSI_PREFIX%/}
    trap cleanup EXIT
}

detect_arch() {
    local machine=${KSI_ARCH:-$(uname -m)}
    case $machine in
        x86_64 | amd64) ARCH=amd64 ;;
        aarch64 | arm64) ARCH=arm64 ;;
        *) die "unsupported architecture '$machine': versions.env pins amd64 and arm64 only" ;;
    esac
}

load_versions() {
    [[ -r $KSI_VERSIONS_FILE ]] || die "cannot read the pinned versions: $KSI_VERSIONS_FILE"
    # shellcheck source=versions.env
    source "$KSI_VERSIONS_FILE"
    local name
    for name in NERDCTL_FULL_VERSION KIND_VERSION KUBECTL_VERSION LIQOCTL_VERSION; do
        [[ -n ${!name:-} ]] || die "$KSI_VERSIONS_FILE does not set $name"
    done
}

# pinned_sha NAME: the checksum versions.env pins for NAME on this architecture (may be empty).
pinned_sha() {
    local var="${1}_SHA256_${ARCH}"
    printf '%s' "${!var:-}"
}
valid_sha256() { [[ $1 =~ ^[0-9a-f]{64}$ ]]; }

ensure_work_dir() {
    [[ -n $WORK_DIR ]] || WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ksi-setup.XXXXXX")
}
cleanup() {
    if [[ -n $WORK_DIR ]]; then rm -rf -- "$WORK_DIR"; fi
}

# --- steps ---------------------------------------------------------------------------------------
step() {
    end_step
    STEP=$1
    STEP_STATE=ok
    printf '==> %s\n' "$STEP"
}

_rank() {
    case $1 in
        ok) echo 0 ;;
        skipped) echo 1 ;;
        changed | planned) echo 2 ;;
        failed) echo 3 ;;
    esac
}
# A step's state only goes up: ok (already done) < skipped (not needed) < changed < failed.
_set_state() {
    if (($(_rank "$1") > $(_rank "$STEP_STATE"))); then STEP_STATE=$1; fi
}
mark_changed() {
    if dry_run; then _set_state planned; else _set_state changed; fi
}
already() { say "already done: $*"; }
not_needed() {
    say "not needed: $*"
    _set_state skipped
}
failed() {
    printf 'ERROR: %s: %s\n' "$STEP" "$*" >&2
    _set_state failed
}

end_step() {
    [[ -n $STEP ]] || return 0
    local word
    case $STEP_STATE in
        ok) word="already done" ;;
        skipped) word="not needed" ;;
        changed) word="changed" ;;
        planned) word="would change" ;;
        failed)
            word="FAILED"
            FAILED_STEPS=$((FAILED_STEPS + 1))
            ;;
    esac
    SUMMARY+=("$(printf '%-44s %s' "$STEP" "$word")")
    STEP=""
}

# finish: print the summary; exit 1 when a step failed.
finish() {
    end_step
    if dry_run; then
        printf '\nSummary (dry run: nothing was changed):\n'
    else
        printf '\nSummary:\n'
    fi
    local line
    for line in "${SUMMARY[@]}"; do printf '  %s\n' "$line"; done
    if ((FAILED_STEPS > 0)); then
        printf 'ERROR: %d step(s) failed, see the ERROR lines above\n' "$FAILED_STEPS" >&2
        exit 1
    fi
}

# act DESCRIPTION COMMAND [ARG...]: the one place where a command that changes the system runs.
# In a dry run it is printed instead.  Returns the command's exit code (and marks the step failed).
act() {
    local what=$1
    shift
    mark_changed
    if dry_run; then
        say "would $what: $(quote_cmd "$@")"
        return 0
    fi
    say "$what: $(quote_cmd "$@")"
    local rc=0
    "$@" || rc=$?
    if ((rc != 0)); then failed "command failed (exit $rc): $(quote_cmd "$@")"; fi
    return "$rc"
}

# apply DESCRIPTION COMMAND [ARG...]: like act, for a command that applies files just written to
# the running system (systemctl daemon-reload, modprobe, sysctl -p, ...).  KSI_SKIP_APPLY=1 skips
# it, for building a node image, where the files take effect at boot.
apply() {
    if [[ ${KSI_SKIP_APPLY:-0} == 1 ]]; then
        say "skipped (KSI_SKIP_APPLY=1): $(quote_cmd "${@:2}")"
        return 0
    fi
    act "$@"
}

# put_file DEST MODE CONTENT: make the file DEST (under ROOT_PREFIX) hold exactly CONTENT (plus a
# final newline) with MODE.  Sets FILE_CHANGED=1 when it wrote (or, dry run, would write) it.
# The previous content is kept until the end of the run, for revert_file.
put_file() {
    local dest=$1 mode=$2 content=$3
    local path=$ROOT_PREFIX$dest
    FILE_CHANGED=0
    FILE_PATH=$path
    FILE_BACKUP=""
    if [[ -f $path && ! -L $path ]] && [[ $(<"$path") == "$content" ]] &&
        [[ $(stat -c %a -- "$path") == "${mode#0}" ]]; then
        already "$dest"
        return 0
    fi
    FILE_CHANGED=1
    mark_changed
    if dry_run; then
        say "would write $dest (mode $mode):"
        printf '%s\n' "$content" | sed 's/^/        | /'
        return 0
    fi
    if [[ -e $path || -L $path ]]; then
        ensure_work_dir
        FILE_BACKUP=$(mktemp "$WORK_DIR/backup.XXXXXX")
        cp -a -- "$path" "$FILE_BACKUP"
    fi
    mkdir -p -- "$(dirname -- "$path")"
    local tmp
    tmp=$(mktemp "$path.XXXXXX")
    printf '%s\n' "$content" >"$tmp"
    chmod "$mode" "$tmp"
    mv -f -- "$tmp" "$path"
    say "wrote $dest"
}

# revert_file: undo the last put_file (after the command that applies the file failed), so the
# next run sees the file as missing and tries again instead of reporting "already done".
revert_file() {
    if dry_run || ((FILE_CHANGED == 0)); then return 0; fi
    if [[ -n $FILE_BACKUP ]]; then
        mv -f -- "$FILE_BACKUP" "$FILE_PATH"
    else
        rm -f -- "$FILE_PATH"
    fi
    say "restored the previous ${FILE_PATH#"$ROOT_PREFIX"}"
}

# --- downloads -----------------------------------------------------------------------------------
# fetch NAME VERSION URL SHA256: set FETCHED to a verified local copy of URL (empty in a dry run).
# Returns 1 (and fails the step) when the checksum is not pinned, the download fails or the file
# does not match.
fetch() {
    local name=$1 version=$2 url=$3 sha=$4
    local base=${url##*/} src=""
    FETCHED=""
    if ! valid_sha256 "$sha"; then
        failed "refusing to install $name $version: $KSI_VERSIONS_FILE has no verified sha256 for" \
            "$base but '$sha'; fill in the value from the release's own checksum file"
        return 1
    fi
    if [[ -n $KSI_ARTIFACTS_DIR ]]; then
        src=$KSI_ARTIFACTS_DIR/$base
        if [[ ! -f $src ]]; then
            failed "$base is not in KSI_ARTIFACTS_DIR ($KSI_ARTIFACTS_DIR); download it from $url"
            return 1
        fi
    fi
    mark_changed
    if dry_run; then
        if [[ -n $src ]]; then
            say "would use $src ($name $version)"
        else
            say "would download $url ($name $version)"
        fi
        say "would verify sha256 $sha"
        return 0
    fi
    ensure_work_dir
    local out=$WORK_DIR/$base
    if [[ -n $src ]]; then
        say "use $src ($name $version)"
        cp -- "$src" "$out"
    else
        say "download $url ($name $version)"
        if ! curl -fsSL --retry 3 --proto '=https' --tlsv1.2 -o "$out" "$url"; then
            failed "download failed: curl -fsSL $url"
            return 1
        fi
    fi
    local got
    got=$(sha256sum -- "$out")
    got=${got%% *}
    if [[ $got != "$sha" ]]; then
        rm -f -- "$out"
        failed "checksum mismatch for $base: versions.env pins $sha, the file has $got;" \
            "not installing $name"
        return 1
    fi
    say "verified sha256 $sha"
    FETCHED=$out
}

stamp_path() { printf '%s/share/ksi-setup/%s.installed' "$KSI_PREFIX" "$1"; }

# stamp_ok NAME WANT [FILE...]: NAME's stamp says WANT and every FILE exists (under ROOT_PREFIX).
stamp_ok() {
    local stamp
    stamp=$ROOT_PREFIX$(stamp_path "$1")
    local want=$2
    shift 2
    [[ -f $stamp && $(<"$stamp") == "$want" ]] || return 1
    local file
    for file in "$@"; do [[ -e $ROOT_PREFIX$file ]] || return 1; done
}

# install_binary NAME VERSION URL SHA256 DEST: a single-file release (the file is the artifact,
# so "already done" means DEST has the pinned checksum).
install_binary() {
    local name=$1 version=$2 url=$3 sha=$4 dest=$5
    local path=$ROOT_PREFIX$dest
    step "$name $version"
    if valid_sha256 "$sha" && [[ -f $path ]]; then
        local have_sha
        have_sha=$(sha256sum -- "$path")
        have_sha=${have_sha%% *}
        if [[ $have_sha == "$sha" ]]; then
            already "$dest is $name $version (sha256 $sha)"
            return 0
        fi
        say "$dest is another build (sha256 $have_sha): replacing it"
    fi
    fetch "$name" "$version" "$url" "$sha" || return 0
    if dry_run; then
        say "would install it as $dest (mode 0755)"
        return 0
    fi
    install_exe "$FETCHED" "$path"
    say "installed $dest"
}

# install_exe SRC PATH: install SRC as PATH (0755) by rename, so a running copy is not disturbed.
install_exe() {
    mkdir -p -- "$(dirname -- "$2")"
    local tmp
    tmp=$(mktemp "$2.XXXXXX")
    install -m 0755 -- "$1" "$tmp"
    mv -f -- "$tmp" "$2"
}
