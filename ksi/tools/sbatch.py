"""sbatch: submit a batch script and read the job id it answers (Slurm ``sbatch --parsable``:
``ID`` or ``ID;CLUSTER`` on stdout, warnings on stderr; src/sbatch/sbatch.c)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Mapping

from ksi.errors import BringUpError
from ksi.exec import Runner

#: seconds for sbatch to answer; it retries on its own while the controller is busy
SBATCH_TIMEOUT = 120.0


def parse_job_id(stdout: str) -> str:
    """The job id in ``sbatch --parsable`` output: ``ID`` or ``ID;CLUSTER``."""
    line = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    job_id = line.split(";", 1)[0].strip()
    if not job_id.isdigit():
        raise BringUpError(f"sbatch answered without a job id: {stdout.strip()[:200]!r}")
    return job_id


class Sbatch:
    def __init__(self, runner: Runner, env: Mapping[str, str] | None = None) -> None:
        self.runner = runner
        self.env = dict(os.environ if env is None else env)

    def submit(self, script: str, timeout: float = SBATCH_TIMEOUT) -> tuple[str, str]:
        """Submit ``script``; return the job id and sbatch's warnings (its stderr).

        The Runner gives commands no stdin, so the script goes through a private file
        (sbatch keeps its own copy with the job), removed right after.
        """
        with tempfile.TemporaryDirectory(prefix="ksi-submit-") as tmp:
            path = Path(tmp) / "ksi-job.sh"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(script)
            result = self.runner.run(["sbatch", "--parsable", str(path)], timeout=timeout,
                                     env=self.env)
        return parse_job_id(result.stdout), result.stderr.strip()
