"""``python -m tests.fakeworld.kind``: what ``bin/kind`` runs."""

import os
import sys

from tests.fakeworld.kind.cli import main

os.environ.setdefault("PYTHONUNBUFFERED", "1")
sys.exit(main())
