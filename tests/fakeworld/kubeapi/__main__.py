"""``python -m tests.fakeworld.kubeapi``: a kind node container's process (the nerdctl double
starts it on ``nerdctl run``)."""

import sys

from tests.fakeworld.kubeapi.server import main

sys.exit(main())
