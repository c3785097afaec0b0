#!/usr/bin/env bash
# PyTorch: train a tiny model in a Job; the result lands in ./results/pytorch.json on the
# shared filesystem (the work directory is /app inside the cluster).  Run it from the
# repository root (or pass --workdir to ksi) so /app/workloads/pytorch/train.py exists.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
kubectl --context "$K8S_CLUSTER_NAME" apply -f "$here/job.yaml"
kubectl --context "$K8S_CLUSTER_NAME" wait --for=condition=complete job/pytorch-train --timeout=900s
kubectl --context "$K8S_CLUSTER_NAME" logs job/pytorch-train
echo "result: $(cat results/pytorch.json)"
