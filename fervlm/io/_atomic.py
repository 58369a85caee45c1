"""Atomic file writes: a temporary file in the destination folder, then `os.replace`.

Readers running in parallel (prepare workers, a dataloader) must never see a half-written mesh, so every
writer in `fervlm.io` goes through here.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically and return the path.

    The temporary file lives in the same folder so `os.replace` is a rename on one file system.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        # Leave no stray temporary file behind when the write or the rename fails.
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ASCII/UTF-8 `text` to `path` atomically (no newline translation) and return the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))
