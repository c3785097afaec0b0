#!/bin/sh
# Test plumbing: give each harness node its own XDG_RUNTIME_DIR (node-local on a real cluster,
# /run/user/UID; the harness nodes share one filesystem), then run the command.
# KSI_TEST_UNSHARED=1 also gives each node its own --shared-dir: a "shared" directory that is
# not in fact shared, the classic mistake on a real site.
export XDG_RUNTIME_DIR="$KSI_TEST_XDG_BASE/$(hostname)"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
if [ "${KSI_TEST_UNSHARED:-}" = 1 ]; then
    export KSI_SHARED_DIR="$KSI_SHARED_DIR/$(hostname)"
fi
exec "$@"
