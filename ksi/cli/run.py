"""``ksi run``: bring up the cluster(s), run the workload once, tear everything down."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ksi import constants as C
from ksi.cli._common import App, pass_app, runs_workload, shared_dir_option, verbose_option
from ksi.cli._types import Seconds

E = C.ENV


#: The API server refuses a TokenRequest longer than 2^32 s (k8s.io/kubernetes
#: pkg/apis/authentication/validation: expirationSeconds "may not specify a duration larger than
#: 2^32 seconds"); refuse it before a cluster is made.
MAX_TOKEN_TTL = 2**32


# Options stop at WORKLOAD: everything after it is the workload's (allow_interspersed_args off),
# and an unknown option before it is an error with click's "Did you mean" (no
# ignore_unknown_options, which would take `--prot` for the workload).
@click.command(context_settings={"allow_interspersed_args": False})
@click.argument("workload", type=click.Path(path_type=Path))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--workdir", envvar=E["workdir"], type=click.Path(path_type=Path),
              default=Path("."), show_default="current directory",
              help=f"Directory mounted at /app in the cluster. [env {E['workdir']}]")
@click.option("--image", envvar=E["image"], default=C.DEFAULT_NODE_IMAGE, show_default=True,
              help=f"kind node image. [env {E['image']}]")
@click.option("--port", envvar=E["port"], type=int, default=None,
              help=f"Host port mapped to the same NodePort (30000-32767); exported as K8S_PORT. "
              f"Default: a free one. [env {E['port']}]")
@click.option("--timeout", envvar=E["timeout"], type=Seconds(min=1), default=C.DEFAULT_TIMEOUT,
              show_default=True, help=f"Seconds allowed for bring-up. [env {E['timeout']}]")
@click.option("--keep", envvar=E["keep"], is_flag=True,
              help=f"Leave the cluster running for debugging (delete it with `ksi delete NAME`). "
              f"[env {E['keep']}]")
@click.option("--dry-run", envvar=E["dry_run"], is_flag=True,
              help=f"Print the kind config and the plan; create nothing. [env {E['dry_run']}]")
@shared_dir_option("Directory on a filesystem all nodes share (rendezvous, events, "
                   "diagnostics).")
@click.option("--api-address", envvar=E["api_address"], default=None,
              help=f"Address the API server is published on. Default: the node's Slurm "
              f"NodeAddr, else its host address. [env {E['api_address']}]")
@click.option("--grace", envvar=E["grace"], type=Seconds(min=0), default=C.DEFAULT_GRACE,
              show_default=True, help=f"Seconds between SIGTERM and SIGKILL for the workload. "
              f"[env {E['grace']}]")
@click.option("--token-ttl", envvar=E["token_ttl"], type=click.IntRange(min=C.MIN_TOKEN_TTL, max=MAX_TOKEN_TTL),
              default=None, help=f"Token lifetime in seconds. Default: the job's remaining time, "
              f"else {C.DEFAULT_TOKEN_TTL}. [env {E['token_ttl']}]")
@click.option("--federation/--no-federation", envvar=E["federation"], default=True,
              show_default=True, help=f"Join the members' clusters with Liqo (multi-node). "
              f"[env {E['federation']}]")
@click.option("--teardown-margin", envvar=E["teardown_margin"], type=Seconds(min=0),
              default=C.TEARDOWN_MARGIN, show_default=True,
              help=f"Inside a job with a time limit, stop the workload and tear down this many "
              f"seconds before the limit. [env {E['teardown_margin']}]")
@click.option("--teardown-timeout", envvar=E["teardown_timeout"], type=Seconds(min=1),
              default=C.TEARDOWN_TIMEOUT, show_default=True,
              help=f"Seconds the whole teardown may take; keep it below Slurm's KillWait "
              f"(`scontrol show config | grep KillWait`). [env {E['teardown_timeout']}]")
@click.option("--collect-logs", envvar=E["collect_logs"], is_flag=True,
              help=f"Save kind logs, events and pod logs into the job directory even on "
              f"success (always done on failure). [env {E['collect_logs']}]")
@click.option("--load-image", "load_images", envvar=E["load_images"], multiple=True,
              type=click.Path(path_type=Path),
              help=f"Image archive (from `nerdctl save` or `ksi images save`) to load into every "
              f"member's cluster; repeatable. [env {E['load_images']}, several separated by ':' "
              f"as in PATH]")
@click.option("--bypass4netns", envvar=E["bypass4netns"], is_flag=True,
              help=f"Start kind's node containers with bypass4netns (needs bypass4netnsd). "
              f"[env {E['bypass4netns']}]")
@click.option("--liqo-chart", envvar=E["liqo_chart"], type=click.Path(path_type=Path),
              default=None, help=f"Local Liqo chart directory, for nodes without internet. "
              f"[env {E['liqo_chart']}]")
@click.option("--for", "for_seconds", envvar=E["for_duration"], default=None, metavar="DURATION",
              callback=lambda _c, _p, v: _duration(v),
              help=f"Manifest workloads: how long Deployments and Services run when there is no "
              f"Job or Pod to wait for (90s, 5m, 1h); with Jobs, an upper limit. Default: until "
              f"Ctrl-C. [env {E['for_duration']}]")
@click.option("--liqo-set", "liqo_set", envvar=E["liqo_set"], multiple=True, metavar="KEY=VALUE",
              help=f"Liqo chart value for `liqoctl install --set`, e.g. "
              f"networking.gatewayTemplates.wireguard.implementation=userspace; repeatable. "
              f"[env {E['liqo_set']}, space-separated]")
@verbose_option()
@pass_app
@runs_workload
def run(app: App, /, **options: Any) -> int:
    """Run WORKLOAD (a script using kubectl, or Kubernetes manifests) against an ephemeral
    cluster.

    \b
    Options go before WORKLOAD; everything after it (ARGS, options too) is the workload's.
    Under srun, every node of the step gets a cluster and the clusters are joined with Liqo;
    the script runs once, on the leader, with K8S_CLUSTER_NAME, K8S_CLUSTER_API,
    K8S_CLUSTER_API_TOKEN, K8S_CLUSTER_CA, K8S_PORT, KUBECONFIG and KSI_NAMESPACE set.
    An executable WORKLOAD runs by its shebang (#!/usr/bin/env python3); one that is not
    executable runs with bash.

    \b
    Manifests (WORKLOAD and ARGS are .yaml/.yml/.json files, directories, or - for stdin):
    ksi applies them (server-side) to KSI_NAMESPACE, prints one line per pod state change,
    streams the pods' logs prefixed [pod/POD/CONTAINER], and exits 0 when every Job
    succeeded, else the failed container's exit code.  Without Jobs or Pods (Deployments,
    Services) it runs until Ctrl-C or --for DURATION.

    \b
    Exit code (as timeout(1) and env(1)); the last line on stderr says whose it is:
      0-123  the workload's own exit code
      124    ksi gave up on time (--timeout, or the job's time limit came near)
      125    ksi failed (bad input, missing tool, bring-up, member, could not delete)
      126    the workload cannot be run      127  the workload was not found
      128+N  ksi was stopped by signal N (130 Ctrl-C, 143 SIGTERM)
    A workload's own 124-255 passes through unchanged.
    """
    from ksi.orchestrator import run_member
    from ksi.plan import RunOptions

    # the parameters are RunOptions' fields, by name: the one list of run options
    return run_member(RunOptions(verbose=app.verbose, **options))


def _duration(value: str | None) -> float | None:
    if value is None:
        return None
    from ksi.manifests import parse_duration

    try:
        return parse_duration(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
