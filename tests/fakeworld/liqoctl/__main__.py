"""``python -m tests.fakeworld.liqoctl``: what ``bin/liqoctl`` runs."""

import os
import sys

from tests.fakeworld.liqoctl.cli import main

os.environ.setdefault("PYTHONUNBUFFERED", "1")
sys.exit(main())
