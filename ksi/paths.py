"""Where ksi keeps files, and how it writes them: private directories and atomic private files.

Node-local state (per-run kubeconfigs, CA, port claims, the cluster registry) lives in the
user's runtime directory: ``$XDG_RUNTIME_DIR/ksi`` when that exists and is ours, else
``/tmp/ksi-<uid>``.  A directory that exists but is not ours, or is open to others, is refused:
in a shared ``/tmp`` somebody else may have planted it.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from ksi.errors import UsageError


def private_dir(path: Path, *, what: str = "directory") -> Path:
    """Create ``path`` (and parents) with mode 0700, or check an existing one is ours and private.

    Refuses symlinks, directories of other users and group/world-writable ones.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(path, 0o700)
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
    return private_dir(Path(tempfile.gettempdir()) / f"ksi-{os.getuid()}", what="runtime directory")


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
