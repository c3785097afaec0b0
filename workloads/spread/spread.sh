#!/usr/bin/env bash
# Multi-node: one Job with one pod per member (KSI_MEMBERS), spread over the leader's node and
# the Liqo virtual nodes, each pod printing where it ran.  Run with `srun -N3 ksi run ...`.
set -euo pipefail
n="${KSI_MEMBERS:-1}"
kubectl --context "$K8S_CLUSTER_NAME" apply -f - <<YAML
apiVersion: batch/v1
kind: Job
metadata:
  name: spread
spec:
  completions: ${n}
  parallelism: ${n}
  backoffLimit: 0
  template:
    metadata:
      labels: {app: spread}
    spec:
      restartPolicy: Never
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: DoNotSchedule
          labelSelector: {matchLabels: {app: spread}}
      tolerations:
        - key: virtual-node.liqo.io/not-allowed
          operator: Exists
          effect: NoExecute
      containers:
        - name: where
          image: busybox:1.36
          command: ["sh", "-c", "echo pod \$(hostname)"]
YAML
kubectl --context "$K8S_CLUSTER_NAME" wait --for=condition=complete job/spread --timeout=600s
kubectl --context "$K8S_CLUSTER_NAME" get pods -l app=spread \
  -o custom-columns=POD:.metadata.name,NODE:.spec.nodeName --no-headers
