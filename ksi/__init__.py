"""ksi: an ephemeral, rootless Kubernetes cluster inside a Slurm job.

The data flows one way: CLI -> plan -> Slurm context -> rendezvous -> cluster -> federation ->
workload -> teardown.  Heavy imports (kubernetes, jinja2, sh) happen inside the commands, never
at ``ksi --help``.
"""

__version__ = "0.1.0"
