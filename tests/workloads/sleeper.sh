#!/usr/bin/env bash
# Test workload: announces itself, starts a background child, sleeps; records the signals it gets.
# $1: a directory to write into.  $2: "ignore" to ignore SIGTERM and SIGINT.
out="$1"
mkdir -p "$out"
if [ "${2:-}" = ignore ]; then
  trap 'echo TERM >> "$out/signals"' TERM
  trap 'echo INT >> "$out/signals"' INT
  trap 'echo HUP >> "$out/signals"' HUP
else
  trap 'echo TERM >> "$out/signals"; exit 143' TERM
  trap 'echo INT >> "$out/signals"; exit 130' INT
  trap 'echo HUP >> "$out/signals"; exit 129' HUP
fi
sleep 1000 &
echo $! > "$out/child.pid"
echo $$ > "$out/pid"
echo "$K8S_CLUSTER_NAME" > "$out/cluster"
touch "$out/started"
while :; do sleep 0.1; done
