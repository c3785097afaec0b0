#!/usr/bin/env bash
# The Kubernetes API with curl and the service-account token, verifying TLS with the cluster's
# CA ($K8S_CLUSTER_CA) -- the original KSI example used --insecure; ksi never needs it.
#
# The token never goes on a command line: every user of the node can read any process's argv in
# /proc/<pid>/cmdline.  curl reads its header from stdin (`--config -`), written by `printf`, a
# bash builtin (no process of its own).
set -euo pipefail
auth() { printf 'header = "Authorization: Bearer %s"\n' "$K8S_CLUSTER_API_TOKEN"; }
auth | curl -sS --fail --cacert "$K8S_CLUSTER_CA" --config - "$K8S_CLUSTER_API/version"
echo
auth | curl -sS --fail --cacert "$K8S_CLUSTER_CA" --config - "$K8S_CLUSTER_API/api/v1/nodes" |
  python3 -c 'import json,sys; [print(n["metadata"]["name"]) for n in json.load(sys.stdin)["items"]]'
