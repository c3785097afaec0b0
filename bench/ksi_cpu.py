#!/usr/bin/env python3
"""Run ``ksi`` and, when it exits, append its own CPU time to ``$KSI_BENCH_CPU_LOG`` (bench only).

One JSON line per process: ``self`` is the user + system time of the ksi process itself (its
threads included), ``tools`` that of the commands it ran and waited for (the doubles of kind,
nerdctl, liqoctl, systemd-run, and kubectl... whatever it reaped).  Not counted: the doubles' API
server daemons (they leave ksi's process tree, like real containers) and ksi's guardian (started
through systemd-run, outside the job).

    srun ... python bench/ksi_cpu.py run workload.sh
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import time

STARTED = time.time()


def _report() -> None:
    path = os.environ.get("KSI_BENCH_CPU_LOG")
    if not path:
        return
    t = os.times()
    line = json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                       "self": round(t.user + t.system, 3),
                       "tools": round(t.children_user + t.children_system, 3),
                       "start": STARTED, "end": time.time()})
    with open(path, "a") as handle:
        handle.write(line + "\n")


if __name__ == "__main__":
    atexit.register(_report)
    from ksi.cli import main

    main()
