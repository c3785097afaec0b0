"""Rendezvous of the members of one job step in a directory on the shared filesystem.

Protocol (one directory per job step, ``<shared-dir>/jobs/<job>.<step>/``, mode 0700):

0. Every member creates the directory if needed (``mkdir`` is atomic; losing the race is fine).
   ``job.json`` names the job it belongs to (job id and Slurm's start time of the job), created
   exclusively by the first member.  A directory whose ``job.json`` names another job (job ids
   wrap; controllers lose state) is set aside -- renamed ``<job>.<step>.stale-<inode>``, with a
   warning -- and never trusted: its records and outcome do not steer this run.  Renaming to a
   name derived from the stale directory's inode makes concurrent members agree: only the first
   rename succeeds (a second one finds the target non-empty).
1. Election: a member takes ``leader.lock`` (``flock`` through ``filelock.FileLock``, never its
   silent soft fallback) without waiting, and *then* creates ``leader.json`` (rank, node, pid)
   exclusively: written whole to a temp file and ``link``-ed to its name, which fails when the
   name exists -- atomic on local filesystems and on NFS, whatever the lock semantics.  The
   member whose ``link`` succeeds leads, and holds the lock for its whole life; all others follow.
   So exactly one member leads even where ``flock`` is exclusive only within a node (Lustre
   ``localflock``, NFS ``nolock``).  A member that got the lock but lost the ``link`` has learnt
   that the lock does not cover other nodes: it says so once and does not use the lock to watch
   the leader (the leader's guardian and the timeouts still do).
2. Every member publishes ``members/<rank>.json``: node, address, cluster name, ports, and a
   ``status`` that only moves forward (joined -> cluster-ready -> liqo-ready -> done, or
   failed with the phase and a one-line error).  Every file is written whole: a temp file in the
   same directory, then ``rename`` (atomic on POSIX and on NFS), so a reader never sees half.
3. Credentials another member needs (a follower's kubeconfig, for the leader's ``liqoctl
   peer``) go to ``secrets/<rank>.kubeconfig``, mode 0600 from creation, only when federating,
   and are deleted once the leader has peered (and at teardown).  Records hold no secret.
   A member that fails also writes ``failed.json`` (its rank), so that a waiting follower
   looks at one file, not at N records, to learn of a failure.
4. The leader publishes ``outcome.json`` once: the workload's exit code, or the failure that
   ended the run (node, rank, phase).  Followers wait for it, then tear down.
5. Liveness: a follower that can take ``leader.lock`` knows the leader's process is gone (the
   kernel, or the NFS lock manager, drops a dead process's locks) and tears down.  The leader
   learns of a follower's death from Slurm (the step ends) or from a record that stops moving
   past the bring-up timeout.

Trust: every file read back here (records, leader record, outcome, ``job.json``) is opened
without following links and checked with ``fstat`` -- a regular file of ours that nobody else
can write (``paths.read_private``); anything else stops the run with one line naming the file.
The shared directory and its ancestors are checked first (``paths.shared_root``).

Why the lock holds on NFS: ``filelock.FileLock`` is ``UnixFileLock``, i.e. ``flock(2)``; Linux
NFS clients (since 2.6.12) implement ``flock`` as a whole-file POSIX lock forwarded to the server
(NLM for NFSv3, in-protocol for NFSv4), so it is exclusive across nodes.  A filesystem without
any lock support answers ENOLCK/ENOSYS; ksi then stops with an error naming the directory
(filelock's soft fallback is refused: ``fallback_to_soft=False``).
Not guaranteed: leader election across a network partition, and anything on a filesystem that
is not in fact shared (``ksi doctor`` checks that; the missing-member timeout names it).

Other files of the job directory: ``events/<rank>.jsonl`` (each member appends its phase events
to its own file: ``open(2)`` warns that ``O_APPEND`` may corrupt a file several NFS clients
append to; older runs wrote one ``events.jsonl``, which ``event_files`` still returns) and
``diagnostics/<node>-r<rank>/``.  Every name of this layout is spelled in ``layout.py`` only.

Every wait here is bounded and watches the shutdown flag.  Unreadable or foreign files in the
directory are ignored with one warning each.

The package, one module per part of the protocol (``from ksi.rendezvous import X`` for all):

* ``records.py``  -- ``MemberRecord``, ``Outcome``: what the members tell each other;
* ``layout.py``   -- the names of the job directory, and what non-members need of it
  (``job_dirs``, ``ended``, ``event_files``, ``read_members``, ``mark_dead``, ``forget_member``);
* ``election.py`` -- step 1 and the lock probe of step 5;
* ``waiting.py``  -- the leader's wait for every member, a follower's wait for the outcome;
* ``jobdir.py``   -- ``JobDir``: one member's view of the directory, built of the above.
"""

from ksi.rendezvous.election import Election
from ksi.rendezvous.jobdir import JobDir
from ksi.rendezvous.layout import (
    DIAGNOSTICS_DIR,
    EVENTS_DIR,
    FAILED_FILE,
    JOB_FILE,
    JOBS_DIR,
    LEADER_FILE,
    LEADER_LOCK,
    MEMBER_FILE_RE,
    MEMBERS_DIR,
    OLD_EVENTS_FILE,
    OUTCOME_FILE,
    SECRETS_DIR,
    ended,
    event_files,
    forget_member,
    job_dirs,
    mark_dead,
    read_members,
)
from ksi.rendezvous.records import STATUSES, MemberRecord, Outcome, describe, member_failed
from ksi.rendezvous.waiting import OUTCOME_POLL, POLL

__all__ = [
    "DIAGNOSTICS_DIR", "EVENTS_DIR", "FAILED_FILE", "JOB_FILE", "JOBS_DIR", "LEADER_FILE",
    "LEADER_LOCK", "MEMBER_FILE_RE", "MEMBERS_DIR", "OLD_EVENTS_FILE", "OUTCOME_FILE",
    "OUTCOME_POLL", "POLL", "SECRETS_DIR", "STATUSES", "Election", "JobDir", "MemberRecord",
    "Outcome", "describe", "ended", "event_files", "forget_member", "job_dirs", "mark_dead",
    "member_failed", "read_members",
]
