"""What ``ksi run``'s exit code means, and the closing line that says whose code it is.

``ksi run`` follows the command-wrapper convention of timeout(1), env(1) and nohup(1):

==========  =========================================================================
0-123       the workload ran and exited with this code (only the workload uses these)
124         ksi gave up on time: bring-up ``--timeout``, or the job's time limit came near
125         ksi itself failed, before or after the workload: bad input (click usage
            errors of ``ksi run`` included), a missing tool, bring-up, another member,
            could not delete
126         the workload exists but cannot be run (a directory, not readable, its
            shebang's interpreter not executable)
127         the workload (or its shebang's interpreter) was not found
128+N       ksi was stopped by signal N (130 Ctrl-C, 143 SIGTERM from scancel/the limit)
==========  =========================================================================

A workload may itself exit 124-255 (bash gives 127 for a missing command, 128+N when killed);
such a code passes through unchanged, as timeout(1) does, and the closing line (and the job
directory's ``outcome.json``, field ``whose``) says it is the workload's.  If the workload ran and
then teardown failed, the workload's code is kept when it is non-zero; a workload that exited 0
becomes 125, and the closing line says so.  The detail of a 125 is in the one ``ERROR:`` line and
the outcome's ``cause``, not in more codes.
"""

from __future__ import annotations

from ksi import constants as C
from ksi.errors import KsiError


def workload_line(code: int) -> str:
    """The last line of a run whose workload ran to its end."""
    return f"ksi: exit {code} is the workload's"


def error_line(error: KsiError) -> str:
    """The last line of a run that ksi ended with ``error`` (its ``run_code`` is the exit)."""
    code = error.run_code
    if code == C.EXIT_NOT_FOUND:
        return f"ksi: exit {code}: the workload was not found; it did not run"
    if code == C.EXIT_CANNOT_RUN:
        return f"ksi: exit {code}: the workload cannot be run; it did not run"
    if code > C.EXIT_SIGNAL_BASE:
        return f"ksi: exit {code}: ksi was {error.cause}"
    ran = error.workload_code
    after = f" after the workload exited {ran}" if ran is not None else ", not the workload"
    if code == C.EXIT_TIMEOUT:
        where = f" (phase {error.phase})" if error.phase else ""
        return f"ksi: exit {code}: ksi gave up on time{where}{after}"
    return f"ksi: exit {code}: ksi failed ({error.cause}){after}"


def usage_line() -> str:
    """The last line when click rejected the command line of ``ksi run``."""
    return f"ksi: exit {C.EXIT_KSI_FAILED}: ksi failed (bad input), not the workload"
