#!/usr/bin/env bash
# The Kubernetes API with curl and the service-account token, verifying TLS with the cluster's
# CA ($K8S_CLUSTER_CA) -- the original KSI example used --insecure; ksi never needs it.
set -euo pipefail
auth=(-H "Authorization: Bearer ${K8S_CLUSTER_API_TOKEN}")
curl -sS --fail --cacert "$K8S_CLUSTER_CA" "${auth[@]}" "$K8S_CLUSTER_API/version"
curl -sS --fail --cacert "$K8S_CLUSTER_CA" "${auth[@]}" "$K8S_CLUSTER_API/api/v1/nodes" |
  python3 -c 'import json,sys; [print(n["metadata"]["name"]) for n in json.load(sys.stdin)["items"]]'
