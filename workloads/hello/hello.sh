#!/usr/bin/env bash
# Hello: run one Job that prints a greeting, wait for it, print its log.
set -euo pipefail
# shellcheck disable=SC2016  # $(hostname) is for the pod's shell, not this one
kubectl --context "$K8S_CLUSTER_NAME" create job hello --image=busybox:1.36 -- \
  sh -c 'echo "Hello from Kubernetes on $(hostname), inside a Slurm job"'
kubectl --context "$K8S_CLUSTER_NAME" wait --for=condition=complete job/hello --timeout=300s
kubectl --context "$K8S_CLUSTER_NAME" logs job/hello
