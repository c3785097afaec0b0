"""systemd-run: start a command as a transient unit of the user's systemd manager.

``systemd-run --user --unit NAME --collect --quiet --setenv=K=V ... -- ARGV`` returns once the
unit started (``--quiet``: no "Running as unit" line), exits non-zero with systemd's reason on
stderr when there is no user manager or bus ("Failed to connect to bus", systemd
src/run/run.c), and refuses a unit name already in use.  A unit gets the manager's
environment, not ours, hence ``--setenv`` (no credential may ever be passed that way: it
would show in ``ps``).
"""

from __future__ import annotations

from typing import Mapping, Sequence

from ksi.exec import Result, Runner

TIMEOUT = 15.0


class SystemdRun:
    def __init__(self, runner: Runner, env: Mapping[str, str]) -> None:
        self.runner = runner
        self.env = dict(env)

    def start_unit(self, unit: str, argv: Sequence[str], setenv: Mapping[str, str],
                   timeout: float = TIMEOUT) -> Result:
        """Start ``argv`` as transient user unit ``unit`` with ``setenv`` in its environment;
        raises the ``CommandError`` whose message holds systemd's reason."""
        return self.runner.run(
            ["systemd-run", "--user", "--unit", unit, "--collect", "--quiet",
             *[f"--setenv={k}={v}" for k, v in sorted(setenv.items())], "--", *argv],
            timeout=timeout, env=self.env)
