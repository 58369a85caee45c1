"""Small shared helpers: atomic file writes.

Long jobs (`fervlm prepare`, training runs) may be killed at any moment; a reader must then find either the
old file, the complete new file, or nothing — never half a PNG. Every writer therefore writes to a temporary
name in the destination folder (same file system, so the final `os.replace` is an atomic rename). The file
gets the permissions a plain ``open()`` gives (0666 minus the umask), not the temporary file's 0600, so shared
datasets and results stay readable to colleagues.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

TEMP_SUFFIX = ".tmp"


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[Path]:
    """Yield a temporary path next to `path`; on a clean exit rename it onto `path`.

    The caller writes the temporary file however it likes (PIL, numpy, pandas); if the block raises, the
    temporary file is removed and `path` is left untouched.

    Args:
        path: the final destination; its folder is created when missing.
        mode: unused except to document intent ("wb"/"w"); kept so call sites read naturally.

    Yields:
        The temporary path to write to (its name starts with a dot and ends with `.tmp`, keeping the real
        extension before it so format-sniffing writers such as PIL still work).
    """
    del mode
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = f"{path.suffix}{TEMP_SUFFIX}"
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent)
    tmp = Path(tmp_name)
    try:
        # mkstemp creates mode 0600; a plain open() would give 0666 minus the umask, which is what
        # colleagues sharing a dataset or results folder expect.
        os.fchmod(fd, 0o666 & ~_umask())
    finally:
        os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None and exc.errno is not None:
            # A write into an open file (ENOSPC while PIL writes) names no file: name the destination.
            from fervlm.outdir import with_path

            raise with_path(exc, path) from exc
        raise


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (``/proc/self/status``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (briefly visible to other threads)
    os.umask(mask)
    return mask


def atomic_save_image(path: str | Path, array: np.ndarray, **save_options: object) -> Path:
    """Save a uint8 (H, W), (H, W, 3) or (H, W, 4) array as an image atomically; the format follows `path`.

    `save_options` go to `PIL.Image.save` (e.g. ``compress_level=3`` for PNG: about half the time of the
    default level 6 at the same size on rendered faces).
    """
    from PIL import Image

    path = Path(path)
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"{path}: image array must be uint8, got {array.dtype}")
    if array.ndim not in (2, 3):
        raise ValueError(f"{path}: image array must be (H, W) or (H, W, C), got shape {array.shape}")
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: unknown image extension {path.suffix!r}")
    with atomic_write(path) as tmp:
        Image.fromarray(array).save(tmp, format=fmt, **save_options)
    return path


def atomic_save_npy(path: str | Path, array: np.ndarray) -> Path:
    """Save a numpy array to `path` (`.npy`) atomically."""
    path = Path(path)
    with atomic_write(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, np.asarray(array))
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically and return the path."""
    path = Path(path)
    with atomic_write(path) as tmp:
        tmp.write_bytes(data)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 `text` to `path` atomically (no newline translation) and return the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))
