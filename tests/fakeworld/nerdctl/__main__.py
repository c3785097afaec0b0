"""``python -m tests.fakeworld.nerdctl``: what ``bin/nerdctl`` runs."""

import sys

from tests.fakeworld.nerdctl.core import main

sys.exit(main(sys.argv[1:]))
