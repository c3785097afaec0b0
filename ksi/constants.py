"""Every name and default in one place: environment variables, exit codes, pinned versions.

Each option of each command can be set with the environment variable named here; the command line
wins over the environment, the environment over the default.
"""

from __future__ import annotations

from pathlib import Path

# --- pinned versions ---------------------------------------------------------------------------
#: kind v0.29.0's node image for Kubernetes v1.33.1, pinned by digest (kind release notes).
DEFAULT_NODE_IMAGE = (
    "kindest/node:v1.33.1@sha256:050072256b9a903bd914c0b2866828150cb229cea0efe5892e2b644d5dd3b34f"
)
#: Every member must run the same Liqo version, or peering fails.
LIQO_VERSION = "v1.0.0"

# --- names ---------------------------------------------------------------------------------------
CLUSTER_PREFIX = "ksi-"
ADMIN_SERVICE_ACCOUNT = "admin-user"
ADMIN_NAMESPACE = "kube-system"
WORKLOAD_NAMESPACE = "ksi-workload"
NODEPORT_MIN, NODEPORT_MAX = 30000, 32767
#: containerPort of the Liqo WireGuard gateway NodePort on followers (inside the cluster).
GATEWAY_NODE_PORT = 30999

#: The phases of ``ksi run`` in the order they run: the names of the progress lines and events
#: (``ksi.progress``), of the steps that show them (``ksi.orchestrator``, ``ksi.bringup``) and
#: of the rows and colours of ``ksi report``.
PHASES = (
    "rendezvous", "reap stale clusters", "load node image from cache", "create cluster",
    "wait for nodes", "load images", "install Liqo", "wait for members", "peer",
    "virtual nodes", "credentials", "offload namespace", "workload", "wait for leader",
    "collect diagnostics", "delete cluster",
)

# --- environment variables (options) -------------------------------------------------------------
ENV = {
    "workdir": "KSI_WORKDIR",
    "image": "KSI_IMAGE",
    "port": "K8S_PORT",  # the original KSI's name, kept so old job scripts keep working
    "timeout": "KSI_TIMEOUT",
    "keep": "KSI_KEEP",
    "dry_run": "KSI_DRY_RUN",
    "verbose": "KSI_VERBOSE",
    "shared_dir": "KSI_SHARED_DIR",
    "api_address": "KSI_API_ADDRESS",
    "grace": "KSI_GRACE",
    "token_ttl": "KSI_TOKEN_TTL",
    "federation": "KSI_FEDERATION",
    "stale": "KSI_DELETE_STALE",
    "teardown_margin": "KSI_TEARDOWN_MARGIN",
    "teardown_timeout": "KSI_TEARDOWN_TIMEOUT",
    "collect_logs": "KSI_COLLECT_LOGS",
    "load_images": "KSI_LOAD_IMAGES",
    "bypass4netns": "KSI_BYPASS4NETNS",
    "liqo_chart": "KSI_LIQO_CHART",
    "liqo_set": "KSI_LIQO_SET",  # space-separated KEY=VALUE items
    "for_duration": "KSI_FOR",  # manifest workloads: how long Deployments/Services run
    "signal_margin": "KSI_SIGNAL_MARGIN",
    "doctor_json": "KSI_DOCTOR_JSON",
    "doctor_wait": "KSI_DOCTOR_WAIT",  # under srun: how long rank 0 waits for the others
    "doctor_root": "KSI_DOCTOR_ROOT",  # read system files under this root (tests)
}

# --- defaults ------------------------------------------------------------------------------------
#: --shared-dir of every command: on a filesystem all nodes share (rendezvous, events, images)
DEFAULT_SHARED_DIR = Path("~/.ksi")
DEFAULT_TIMEOUT = 600.0  # seconds for the whole bring-up of one member
DEFAULT_GRACE = 10.0  # seconds between SIGTERM and SIGKILL for the workload and tools
DEFAULT_TOKEN_TTL = 24 * 3600  # seconds, outside Slurm (inside: the job's remaining time)
MIN_TOKEN_TTL = 600  # the API server rejects shorter TokenRequests
#: The one deadline of a whole teardown (diagnostics, cluster deletion, files, locks): Slurm's
#: default KillWait is 30 s between SIGTERM and SIGKILL; 25 leaves 5 s for signal delivery
#: slack and the interpreter's exit.  ``--teardown-timeout`` for sites with another KillWait.
TEARDOWN_TIMEOUT = 25.0
#: Stop the workload on our own this long before the job's end, so teardown finishes in time.
TEARDOWN_MARGIN = 45.0

# --- exit codes (documented in README.md) ---------------------------------------------------------
#: ``ksi run`` follows the convention of command wrappers -- timeout(1), env(1), nohup(1): the
#: workload's own code passes through (0-123 can only be the workload's), and ksi's own codes sit
#: above it.  What went wrong (bad input, missing tool, bring-up, member, could not delete) is in
#: the one error line and the job directory's outcome record, not in more codes.
EXIT_OK = 0
WORKLOAD_CODE_MAX = 123  # 0..WORKLOAD_CODE_MAX: always the workload's own exit code
EXIT_TIMEOUT = 124  # ksi gave up on time: bring-up --timeout, or the job's time limit came near
EXIT_KSI_FAILED = 125  # ksi itself failed, before or after the workload
EXIT_CANNOT_RUN = 126  # the workload exists but cannot be run (not readable, a directory, ...)
EXIT_NOT_FOUND = 127  # the workload (or its shebang's interpreter) was not found
EXIT_SIGNAL_BASE = 128  # 128 + signal number when ksi was stopped by a signal

#: The other commands (list, delete, doctor, report, submit, images, clean) run no workload and
#: keep short codes: 0 done, 2 bad input, 3 this node lacks something (`ksi doctor`: a check
#: failed), 4 the operation failed, 6 a step timed out, 7 could not delete, 8 internal error (a bug).
CMD_USAGE = 2
CMD_ENVIRONMENT = 3
CMD_FAILED = 4
CMD_TIMEOUT = 6
CMD_TEARDOWN = 7
EXIT_INTERNAL = 8  # other commands: an internal error in ksi (a bug); `ksi run`: 125
# Old names, kept so code that raises errors does not change: each is a *cause*, and ``ksi run``
# exits 125 (or 124 for a timeout) for all of them.
EXIT_USAGE = CMD_USAGE
EXIT_ENVIRONMENT = CMD_ENVIRONMENT
EXIT_BRINGUP = CMD_FAILED
EXIT_RENDEZVOUS = 5
EXIT_TEARDOWN = CMD_TEARDOWN
