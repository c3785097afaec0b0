#!/bin/sh
# Test plumbing: give each harness node its own XDG_RUNTIME_DIR (node-local on a real cluster,
# /run/user/UID; the harness nodes share one filesystem), then run the command.
export XDG_RUNTIME_DIR="$KSI_TEST_XDG_BASE/$(hostname)"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
exec "$@"
