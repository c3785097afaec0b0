#!/usr/bin/env bash
# CPU benchmark in a pod: sysbench's prime test, its report printed here.
set -euo pipefail
threads="${1:-2}"
kubectl --context "$K8S_CLUSTER_NAME" run sysbench --restart=Never \
  --image=severalnines/sysbench:latest -- \
  sysbench cpu --threads="$threads" --cpu-max-prime=20000 --time=20 run
kubectl --context "$K8S_CLUSTER_NAME" wait --for=jsonpath='{.status.phase}'=Succeeded \
  pod/sysbench --timeout=300s
kubectl --context "$K8S_CLUSTER_NAME" logs pod/sysbench
