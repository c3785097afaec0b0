#!/usr/bin/env bash
# nginx behind a NodePort on $K8S_PORT: reachable from this node at http://localhost:$K8S_PORT.
set -euo pipefail
kubectl --context "$K8S_CLUSTER_NAME" create deployment web --image=nginx:1.27
kubectl --context "$K8S_CLUSTER_NAME" apply -f - <<YAML
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: NodePort
  selector:
    app: web
  ports:
    - port: 80
      targetPort: 80
      nodePort: ${K8S_PORT}
YAML
kubectl --context "$K8S_CLUSTER_NAME" rollout status deployment/web --timeout=300s
curl -sS --retry 10 --retry-connrefused --retry-delay 1 "http://localhost:${K8S_PORT}/" | head -n 4
