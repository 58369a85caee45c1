"""Output folders: checked writable before work starts; operating-system errors told in one line.

A long job that only finds out at its first write that its output folder is read-only (or on a
full disk) wastes the work done before it, and a Python traceback hides the one thing the user
needs: *which* path and *what* the system said. Commands therefore call :func:`ensure_writable` on
their output folder before any work, and the command line answers every ``OSError`` with
:func:`describe_oserror`: ``<path>: <meaning> (<ERRNO NAME>)``.
"""

from __future__ import annotations

import errno as _errno
import os
import tempfile
from pathlib import Path

__all__ = ["OUTPUT_ERRNOS", "describe_oserror", "ensure_writable", "with_path"]

#: Errors that concern the output (disk full, quota, read-only file system), never one bad input
#: sample: a job stops at the first one instead of recording it for every remaining sample.
OUTPUT_ERRNOS = frozenset({_errno.ENOSPC, _errno.EDQUOT, _errno.EROFS})


def _probe(folder: Path) -> None:
    """Create and remove a hidden empty file in ``folder`` (raises the ``OSError`` a write would).

    A real write, not ``os.access``: access() ignores read-only mounts and answers "yes" to root.
    """
    fd, name = tempfile.mkstemp(prefix=".fervlm-write-test.", dir=folder)
    os.close(fd)
    os.unlink(name)


def ensure_writable(folder: str | os.PathLike[str]) -> Path:
    """Create ``folder`` (and its parents) when missing and check that files can be written in it.

    Raises:
        OSError: with ``filename`` set to the folder (e.g. ``PermissionError`` for a read-only
            folder, ``errno.EROFS`` for a read-only file system).
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise with_path(exc, folder) from exc
    try:
        _probe(folder)
    except OSError as exc:  # name the folder, not the probe's random file name
        raise type(exc)(exc.errno, exc.strerror or str(exc), str(folder)) from exc
    return folder


def with_path(exc: OSError, path: str | os.PathLike[str]) -> OSError:
    """``exc`` when it names a file, else the same kind of error naming ``path``.

    Writes to an open file (``ENOSPC`` while PIL writes a PNG) raise errors without a file name.
    """
    if exc.filename is not None or exc.errno is None:
        return exc
    return type(exc)(exc.errno, exc.strerror or os.strerror(exc.errno), str(path))


def describe_oserror(exc: OSError) -> str:
    """One line: the path(s), the meaning of the error number and its name.

    >>> describe_oserror(PermissionError(13, "Permission denied", "/data/out"))
    '/data/out: Permission denied (EACCES)'
    """
    code = exc.errno
    meaning = os.strerror(code) if code is not None else (str(exc) or type(exc).__name__)
    name = _errno.errorcode.get(code, "") if code is not None else ""
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    where = " -> ".join(paths) if paths else "(no file named by the system)"
    return f"{where}: {meaning}" + (f" ({name})" if name else "")
