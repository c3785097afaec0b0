"""scontrol: what Slurm says about a node or a job, in its one-line form.

``scontrol show job|node NAME -o`` prints ``Key=Value`` pairs separated by spaces on one line
(src/scontrol/info_job.c, info_node.c); values such as ``Reason=`` may hold spaces, so only
the first occurrence of a key is kept and keys ksi reads (``NodeAddr``, ``EndTime``,
``JobState``) hold none.  A job Slurm forgot (after MinJobAge) is answered on stderr with
``slurm_load_jobs error: Invalid job id specified`` and a non-zero exit.
"""

from __future__ import annotations

import os

from ksi.errors import KsiError
from ksi.exec import Runner

TIMEOUT = 10.0
#: scontrol prints times by the user's ``SLURM_TIME_FORMAT`` (``relative``, a strftime format;
#: Slurm src/common/parse_time.c); ksi asks for the one it parses: ``standard`` is
#: ``%Y-%m-%dT%H:%M:%S`` in local time.
TIME_FORMAT = "standard"


def scontrol_env() -> dict[str, str]:
    """The environment for scontrol: the user's, with times in the format ksi parses."""
    return {**os.environ, "SLURM_TIME_FORMAT": TIME_FORMAT}


def parse_oneliner(text: str) -> dict[str, str]:
    """``Key=Value Key=Value ...`` as a dict, the first occurrence of each key winning."""
    fields: dict[str, str] = {}
    for token in text.split():
        key, sep, value = token.partition("=")
        if sep and key not in fields:
            fields[key] = value
    return fields


class Scontrol:
    def __init__(self, runner: Runner | None = None) -> None:
        self.runner = runner or Runner()

    def show(self, kind: str, name: str, timeout: float = TIMEOUT) -> dict[str, str]:
        """``scontrol show KIND NAME -o`` as a dict; empty when Slurm does not answer."""
        try:
            out = self.runner.run(["scontrol", "show", kind, name, "-o"],
                                  timeout=timeout, env=scontrol_env()).stdout
        except KsiError:
            return {}
        return parse_oneliner(out)

    def job_times(self, job_id: str, timeout: float = TIMEOUT) -> dict[str, str]:
        """``show job`` in a time format ksi chooses (``SLURM_TIME_FORMAT=standard``, see
        src/common/parse_time.c): the job's fields; empty when Slurm does not answer."""
        import os

        try:
            out = self.runner.run(["scontrol", "show", "job", job_id, "-o"], timeout=timeout,
                                  env={**os.environ, "SLURM_TIME_FORMAT": "standard"}).stdout
        except KsiError:
            return {}
        return parse_oneliner(out)

    def job_state(self, job_id: str, timeout: float = TIMEOUT) -> str | None:
        """``PENDING``/``RUNNING``/...; ``GONE`` when Slurm no longer knows the job; None when
        Slurm cannot be asked (then nobody may conclude the job is dead)."""
        try:
            res = self.runner.run(["scontrol", "show", "job", job_id, "-o"], timeout=timeout,
                                  check=False, env=scontrol_env())
        except KsiError:
            return None
        if res.returncode != 0:
            return "GONE" if "invalid job id" in res.stderr.lower() else None
        return parse_oneliner(res.stdout).get("JobState")
