#!/usr/bin/env bash
#
# install-ksi.sh -- install ksi for the user who runs it, so that `ksi` is on PATH in login
# shells and in batch jobs.  See setup/README.md ("Installing ksi").
#
# Usage: setup/install-ksi.sh [--dry-run]
#
# Finds a Python >= 3.11 with venv (KSI_PYTHON, else python3.13, python3.12, python3.11,
# python3 -- node-debian.sh/node-rhel.sh install one), makes a private virtual environment
# KSI_VENV (default ~/.local/share/ksi/venv), installs this repository's ksi into it with pip,
# and links ~/.local/bin/ksi to it.  Debian's and Ubuntu's ~/.profile and RHEL's ~/.bashrc put
# ~/.local/bin on PATH for login shells; where a login shell would not have it, a line is added
# to ~/.profile (~/.bash_profile if it exists).  sbatch passes PATH on to the job.  Run it again
# to upgrade (after `git pull`).  It needs no root.
#
# Environment: KSI_PYTHON=/path/to/python3.x, KSI_VENV=DIR, KSI_BIN_DIR (~/.local/bin), DRY_RUN=1.
set -euo pipefail

usage() { sed -n '3,16s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
for arg in "$@"; do
    case $arg in
        -n | --dry-run) DRY_RUN=1 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "install-ksi.sh: unknown argument: $arg (see --help)" >&2; exit 2 ;;
    esac
done

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${KSI_VENV:-$HOME/.local/share/ksi/venv}
bin_dir=${KSI_BIN_DIR:-$HOME/.local/bin}
run() { if [[ ${DRY_RUN:-0} == 1 ]]; then printf 'would run: %s\n' "$*"; else "$@"; fi; }

# usable PYTHON: Python >= 3.11 with the venv module (Debian: python3-venv / python3.11-venv).
usable() {
    "$1" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}

python=""
for candidate in ${KSI_PYTHON:-python3.13 python3.12 python3.11 python3}; do
    if command -v "$candidate" >/dev/null && usable "$candidate"; then
        python=$(command -v "$candidate")
        break
    fi
done
if [[ -z $python ]]; then
    echo "install-ksi.sh: no Python >= 3.11 with venv found (tried ${KSI_PYTHON:-python3.13 python3.12 python3.11 python3});" \
        "install one as in setup/README.md (RHEL 9: dnf install python3.11 python3.11-pip;" \
        "Ubuntu 22.04: apt install python3.11 python3.11-venv; Debian 12: apt install python3-venv)," \
        "or set KSI_PYTHON" >&2
    exit 1
fi
echo "Python: $("$python" -c 'import sys; print(sys.version.split()[0])') at $python"

if [[ ! -x $venv/bin/python ]] || ! usable "$venv/bin/python"; then
    run mkdir -p "$(dirname "$venv")"
    run "$python" -m venv --clear "$venv"
fi
run "$venv/bin/python" -m pip install -q --upgrade "$repo"
run mkdir -p "$bin_dir"
run ln -sfn "$venv/bin/ksi" "$bin_dir/ksi"
echo "ksi: $bin_dir/ksi -> $venv/bin/ksi"

# A login shell (and so a batch job submitted from one) must find ksi: Debian's and Ubuntu's
# ~/.profile and RHEL's ~/.bashrc add ~/.local/bin; where they do not, add it, as pipx ensurepath does.
# shellcheck disable=SC2016  # $PATH is the login shell's, not ours
login_path=$(env -i HOME="$HOME" USER="${USER:-}" bash -lc 'printf %s "$PATH"' 2>/dev/null || true)
if [[ :$login_path: != *:$bin_dir:* ]]; then
    profile=$HOME/.profile
    [[ -f $HOME/.bash_profile ]] && profile=$HOME/.bash_profile
    line="export PATH=\"$bin_dir:\$PATH\"  # added by ksi's setup/install-ksi.sh"
    if [[ ${DRY_RUN:-0} == 1 ]]; then
        echo "would add to $profile: $line"
    else
        printf '\n%s\n' "$line" >>"$profile"
        echo "added $bin_dir to PATH in $profile (for new login shells and batch jobs)"
    fi
fi
if [[ :$PATH: != *:$bin_dir:* ]]; then
    echo "note: this shell does not have $bin_dir on PATH yet; new login shells do." \
        "Now: export PATH=\"$bin_dir:\$PATH\"" >&2
fi
