#!/usr/bin/env bash
# Test workload: records what a KSI-style script sees and can do, then exits with $2 (default 0).
# $1: a directory to write the findings into.
set -u
out="$1"; code="${2:-0}"
mkdir -p "$out"
env | grep -E '^(K8S_|KSI_|KUBECONFIG=)' | grep -v '^K8S_CLUSTER_API_TOKEN=' | sort > "$out/env"
printf '%s' "$K8S_CLUSTER_API_TOKEN" > "$out/token"
pwd > "$out/cwd"
printf '%s\n' "${@:3}" > "$out/args"
stat -c '%a' "$KUBECONFIG" > "$out/kubeconfig.mode"
stat -c '%a' "$K8S_CLUSTER_CA" > "$out/ca.mode"
# The original KSI's API access, but verifying TLS with the cluster CA instead of --insecure.
# The token goes to curl on stdin (printf is a builtin), never in argv.
printf 'header = "Authorization: Bearer %s"\n' "$K8S_CLUSTER_API_TOKEN" |
  curl -sS --fail --cacert "$K8S_CLUSTER_CA" --config - "$K8S_CLUSTER_API/api/v1/namespaces" > "$out/curl.json" 2> "$out/curl.err"
echo $? > "$out/curl.rc"
# Without the token the API must refuse.
curl -sS -o /dev/null -w '%{http_code}' --cacert "$K8S_CLUSTER_CA" \
  "$K8S_CLUSTER_API/api/v1/namespaces" > "$out/anonymous.code" 2>/dev/null
# The original KSI's kubectl usage, unchanged.
kubectl --context "$K8S_CLUSTER_NAME" get nodes -o name > "$out/nodes" 2> "$out/kubectl.err"
echo $? > "$out/kubectl.rc"
exit "$code"
