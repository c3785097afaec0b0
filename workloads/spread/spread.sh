#!/usr/bin/env bash
# Multi-node: one Job with one pod per member of the run (KSI_MEMBERS, 1 when unset), spread over
# the leader's kind node and the Liqo virtual nodes (one per follower); prints which node ran each
# pod.  Run it on several nodes: `srun -N3 --ntasks-per-node=1 ksi run workloads/spread/spread.sh`.
#
# Why the pods spread: ksi offloads $KSI_NAMESPACE with Liqo, whose webhook gives every pod created
# there the toleration for the virtual nodes' taint.  Liqo labels each virtual node
# kubernetes.io/hostname=<its name>, so a topology spread constraint over that key with maxSkew 1
# and DoNotSchedule puts one pod on each node when there are as many pods as nodes (and no node
# more than one pod ahead of another when there are more).
set -euo pipefail

members="${KSI_MEMBERS:-1}"
namespace="${KSI_NAMESPACE:?KSI_NAMESPACE is not set: run this script with ksi run}"
timeout="${SPREAD_TIMEOUT:-600}"
case $members in
  '' | *[!0-9]* | 0)
    echo "spread: KSI_MEMBERS must be a positive integer, not '$members'" >&2
    exit 2
    ;;
esac
k=(kubectl --context "$K8S_CLUSTER_NAME" --namespace "$namespace")

# A cluster kept with `ksi run --keep` may still have the Job of an earlier run.
"${k[@]}" delete job spread --ignore-not-found --cascade=foreground --wait=true >/dev/null
"${k[@]}" apply -f - <<YAML
apiVersion: batch/v1
kind: Job
metadata:
  name: spread
spec:
  completions: ${members}
  parallelism: ${members}
  backoffLimit: 0
  template:
    metadata:
      labels: {app: ksi-spread}
    spec:
      restartPolicy: Never
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: DoNotSchedule
          # Count only nodes the pod may run on: a NotReady node (tainted) would otherwise hold
          # its share and keep a pod Pending.
          nodeTaintsPolicy: Honor
          labelSelector: {matchLabels: {app: ksi-spread}}
      containers:
        - name: where
          image: busybox:1.36
          env:
            # On a virtual node the pod really runs in a follower's cluster: its kubelet fills in
            # the name of the follower's own kind node.
            - name: NODE_NAME
              valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
          command: ["sh", "-c", "echo \"pod \$(hostname) ran on node \$NODE_NAME\""]
YAML

# Wait for success or failure (kubectl wait takes one condition only).
deadline=$((SECONDS + timeout))
while :; do
  status=$("${k[@]}" get job spread -o jsonpath='{.status.succeeded}/{.status.failed}')
  succeeded=${status%/*}
  failed=${status#*/}
  if ((${succeeded:-0} >= members)); then
    break
  fi
  if ((${failed:-0} > 0)) || ((SECONDS >= deadline)); then
    echo "spread: the Job did not complete (succeeded ${succeeded:-0}/${members}, failed ${failed:-0})" >&2
    "${k[@]}" get pods -l app=ksi-spread -o wide >&2 || true
    "${k[@]}" get nodes -L liqo.io/type >&2 || true
    exit 1
  fi
  sleep 2
done

echo "Nodes (liqo.io/type=virtual-node marks a follower's cluster):"
"${k[@]}" get nodes -L liqo.io/type
echo
echo "Pods and the nodes that ran them:"
"${k[@]}" get pods -l app=ksi-spread \
  -o custom-columns=POD:.metadata.name,NODE:.spec.nodeName,STATUS:.status.phase
echo
"${k[@]}" logs -l app=ksi-spread --prefix --max-log-requests "$((members > 5 ? members : 5))"

nodes=$("${k[@]}" get pods -l app=ksi-spread -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' |
  sort -u | grep -c . || true)
echo
echo "spread: ${members} pod(s) ran on ${nodes} node(s)"
if ((nodes < members)); then
  echo "spread: fewer nodes than pods: is every follower's virtual node Ready? (kubectl get nodes)" >&2
fi
