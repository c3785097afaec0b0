"""Where ksi keeps files, and how it writes and reads them: private directories, atomic private
files, and files read back only when they are provably ours.

Node-local state (per-run kubeconfigs, CA, port claims, the cluster registry) lives in the
user's runtime directory: ``$XDG_RUNTIME_DIR/ksi`` when that exists and is ours, else
``/tmp/ksi-<uid>``, else (somebody else planted that one in the shared ``/tmp``) a private
``/tmp/ksi-<uid>-XXXXXXXX`` (``mkdtemp``; the first one of ours found is reused, so ``ksi list``
finds the registry again).

The shared directory is checked like ``ssh`` checks ``~/.ssh`` with ``StrictModes``: every
ancestor must belong to root or to us and be writable by nobody else, unless it has the sticky
bit (``/tmp``), else another user could rename our directory and plant one of theirs.  Every
directory ksi creates is 0700 whatever the umask; an existing directory of ours that others can
read is made 0700; one that others can write, or that is not ours, is refused.  Files read back
from the job directory are opened with ``O_NOFOLLOW`` and checked with ``fstat`` (a regular file
of ours, writable by nobody else): see ``read_private``.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from ksi.errors import UsageError


def _mkdir_private(path: Path) -> None:
    """``mkdir`` with mode 0700 whatever the umask (FileExistsError when it exists)."""
    os.mkdir(path, 0o700)
    os.chmod(path, 0o700)  # the umask may have taken bits away from the owner too


def check_ancestors(path: Path, *, what: str) -> None:
    """Refuse ``path`` when an existing ancestor could let another user swap it (ssh's
    StrictModes rule): owned by neither root nor us, or group/other-writable without sticky."""
    me = os.getuid()
    path = Path(path)
    for ancestor in reversed(path.parents):
        try:
            st = os.stat(ancestor)
        except FileNotFoundError:
            return  # what is missing, we create 0700
        except OSError:
            continue
        if st.st_uid not in (0, me):
            raise UsageError(
                f"the {what} {path} is inside {ancestor}, which belongs to another user "
                f"(uid {st.st_uid}) who could replace it",
                hint="choose a location whose parent directories only you (or root) own")
        if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
            raise UsageError(
                f"the {what} {path} is inside {ancestor}, which other users can write to "
                "(they could rename it and plant their own)",
                hint=f"run `chmod go-w {ancestor}` (or `chmod +t` it), or choose another location")


def shared_root(path: Path, *, create: bool = True) -> Path:
    """The shared directory (``--shared-dir``), checked (ancestors, then itself) before anything
    is created in it; missing parents are created 0700."""
    what = "shared directory (--shared-dir)"
    path = Path(path)
    check_ancestors(path, what=what)
    if not create and not os.path.lexists(path):
        return path
    return private_dir(path, what=what)


def private_dir(path: Path, *, what: str = "directory") -> Path:
    """Create ``path`` (and parents) with mode 0700, or check an existing one is ours and private.

    Refuses symlinks, directories of other users and group/world-writable ones; makes one of ours
    that others can read or enter 0700.
    """
    path = Path(path)
    try:
        missing = []
        for parent in path.parents:
            if os.path.lexists(parent):
                break
            missing.append(parent)
        for parent in reversed(missing):
            try:
                _mkdir_private(parent)
            except FileExistsError:
                pass
        _mkdir_private(path)
    except FileExistsError:
        pass
    except OSError as exc:
        raise UsageError(
            f"cannot create the {what} {path}: {exc.strerror}",
            hint="choose a writable location",
        ) from None
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise UsageError(f"the {what} {path} is not a directory (or is a symlink)",
                         hint="remove it or choose another location")
    if st.st_uid != os.getuid():
        raise UsageError(f"the {what} {path} belongs to another user (uid {st.st_uid})",
                         hint="choose a location you own")
    if st.st_mode & 0o022:
        raise UsageError(f"the {what} {path} is writable by other users",
                         hint=f"run `chmod go-w {path}` or choose another location")
    if st.st_mode & 0o077:  # readable by others: the README promises 0700
        try:
            os.chmod(path, 0o700)
        except OSError as exc:
            raise UsageError(f"cannot make the {what} {path} private: {exc.strerror}",
                             hint=f"run `chmod 700 {path}`") from None
    return path


def stat_of(path: Path, what: str) -> os.stat_result | None:
    """``os.stat(path)``, None when it does not exist; a path the OS cannot even look at
    (``ENAMETOOLONG``, ``ELOOP``, ``EACCES`` on a parent) is bad input named as such, not an
    internal error."""
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise UsageError(f"cannot look at the {what} {path}: {exc.strerror}",
                         hint="give a shorter or accessible path") from None


def is_dir(path: Path, what: str) -> bool:
    """``path.is_dir()``, with ``stat_of``'s errors."""
    st = stat_of(path, what)
    return st is not None and stat.S_ISDIR(st.st_mode)


def is_file(path: Path, what: str) -> bool:
    """``path.is_file()``, with ``stat_of``'s errors."""
    st = stat_of(path, what)
    return st is not None and stat.S_ISREG(st.st_mode)


def why_not_creatable(path: Path) -> str | None:
    """Why ``private_dir(path)`` would fail to create a missing ``path``, or None if it could
    (the nearest existing parent is a writable directory): for ``--dry-run``, which creates
    nothing but should say so."""
    parent = Path(path)
    while True:
        parent = parent.parent
        try:
            st = os.stat(parent)
        except FileNotFoundError:
            continue
        except OSError as exc:
            return f"{parent}: {exc.strerror}"
        if not stat.S_ISDIR(st.st_mode):
            return f"{parent} is not a directory"
        if not os.access(parent, os.W_OK | os.X_OK):
            return f"{parent} is not writable"
        return None


def runtime_root() -> Path:
    """The node-local private directory of this user's ksi state."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isdir(xdg) and os.stat(xdg).st_uid == os.getuid():
        return private_dir(Path(xdg) / "ksi", what="runtime directory")
    tmp = Path(tempfile.gettempdir())
    try:
        return private_dir(tmp / f"ksi-{os.getuid()}", what="runtime directory")
    except UsageError:
        pass  # planted by somebody else (or not a directory): never use, never remove it
    for candidate in sorted(tmp.glob(f"ksi-{os.getuid()}-*")):
        try:
            return private_dir(candidate, what="runtime directory")
        except UsageError:
            continue
    return Path(tempfile.mkdtemp(prefix=f"ksi-{os.getuid()}-", dir=tmp))  # 0700, ours


class ForeignFile(Exception):
    """A file read back from a shared directory is not provably ours (see ``read_private``)."""


def read_private(path: Path) -> str:
    """Read a file ksi wrote itself: no symlink followed (``O_NOFOLLOW``), and ``fstat`` of the
    open file says a regular file owned by us, writable by nobody else.  Raises
    FileNotFoundError when it is missing, ForeignFile (naming the file and why) otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ForeignFile(f"{path} cannot be opened without following links: "
                          f"{exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(handle.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ForeignFile(f"{path} is not a regular file")
        if st.st_uid != os.getuid():
            raise ForeignFile(f"{path} belongs to another user (uid {st.st_uid})")
        if st.st_mode & 0o022:
            raise ForeignFile(f"{path} is writable by other users "
                              f"(mode {stat.S_IMODE(st.st_mode):04o})")
        return handle.read().decode(errors="replace")


def write_private(path: Path, data: str | bytes) -> Path:
    """Write a file atomically with mode 0600 from creation (temp file in the same dir + rename)."""
    path = Path(path)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mkstemp: 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
