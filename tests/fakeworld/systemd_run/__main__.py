"""``python -m tests.fakeworld.systemd_run``: what ``bin/systemd-run`` runs (and the supervisor
of a unit it starts, ``--supervise``)."""

import sys

from tests.fakeworld.systemd_run.cli import entry

sys.exit(entry(sys.argv[1:]))
