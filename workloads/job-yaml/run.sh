#!/usr/bin/env bash
# A Job described in YAML next to this script: apply it, wait, print its log.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
kubectl --context "$K8S_CLUSTER_NAME" apply -f "$here/job.yaml"
kubectl --context "$K8S_CLUSTER_NAME" wait --for=condition=complete job/countdown --timeout=300s
kubectl --context "$K8S_CLUSTER_NAME" logs job/countdown
