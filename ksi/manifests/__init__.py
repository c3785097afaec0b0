"""Manifest workloads: ``ksi run job.yaml`` applies Kubernetes manifests and follows what they start.

A workload is a manifest workload when it is ``-`` (stdin; on one node only: under ``srun -N2+``
the task with stdin may not be the leader), a directory (its ``*.yaml``,
``*.yml`` and ``*.json`` files, sorted, not recursive -- like ``kubectl apply -f DIR``) or a file
ending in ``.yaml``/``.yml``/``.json``; its "arguments" are then more of the same.  Anything else
(``.sh`` or no suffix) stays a bash script (``ksi/workload.py``).

Before anything is created (``load``), every document is parsed and checked: it must be a mapping
with ``apiVersion``, ``kind`` and ``metadata.name``, of a namespaced built-in kind ksi knows
(``KINDS``: custom resources and cluster-scoped kinds need a script), and without a namespace or
with the workload namespace.  A bad document is one line naming the file and the document
(``job.yaml, document 2 (Job/hello)``) and the bad-input exit code; nothing is created.

On the leader, in the workload step (``run``), with the workload's own credentials (the token and
kubeconfig a script gets): server-side apply (field manager ``ksi``) of every document into the
workload namespace, first all as a dry run -- so a document the API server rejects creates
nothing -- then for real.  Then ksi follows the namespace's pods:

* one line per pod state change on stderr (``pod/hello-x2b4k: scheduled on node N`` or ``on member
  cluster N`` for a Liqo virtual node, ``pulled IMAGE``, ``running``, ``succeeded``, ``failed``);
* every container's log on stdout, each line prefixed ``[pod/POD/CONTAINER]`` as ``kubectl logs
  --prefix`` does (a restarted container's new log too);
* a pod that can never start (its image cannot be pulled, no node fits it) is reported with its
  reason and the run ends with ``EXIT_CANNOT_RUN`` instead of waiting silently for a time limit.

It ends when every Job has completed or failed and every bare Pod has terminated: exit 0 when all
succeeded, else the exit code of the failed container (one line naming the pod and container; 1
when no container exited non-zero, e.g. a Job's deadline).  Manifests with neither Jobs nor bare
Pods (Deployments, Services, ...) run until Ctrl-C or ``--for DURATION``; with Jobs or Pods,
``--for`` is an upper limit (a timeout).  Ctrl-C, SIGTERM and the job's time limit stop it like a
script.  The work directory is ``/app`` in the nodes, as for scripts (a ``hostPath`` volume).

The package: ``documents.py`` reads and checks the documents (bad input, before anything is
created), ``api.py`` applies them through the workload's credentials, ``follow.py`` follows the
pods they start and decides the exit code (``run``).
"""

from ksi.manifests.api import FIELD_MANAGER, Api, ApiFailure, apply
from ksi.manifests.documents import (
    CLUSTER_SCOPED,
    KINDS,
    SUFFIXES,
    Document,
    is_manifest,
    load,
    parse_duration,
)
from ksi.manifests.follow import NEVER_STARTS, Follower, run

__all__ = [
    "CLUSTER_SCOPED", "FIELD_MANAGER", "KINDS", "NEVER_STARTS", "SUFFIXES", "Api", "ApiFailure",
    "Document", "Follower", "apply", "is_manifest", "load", "parse_duration", "run",
]
