"""Listing the frames of a 4D sequence folder."""

from __future__ import annotations

import re
from pathlib import Path

from fervlm.io import MESH_EXTENSIONS

_DIGITS = re.compile(r"(\d+)")


def frame_number(path: str | Path) -> int | None:
    """The last integer in a file's stem (`000.wrl` → 0, `frame_0012.obj` → 12), or None."""
    found = _DIGITS.findall(Path(path).stem)
    return int(found[-1]) if found else None


def sequence_frames(path: str | Path) -> list[Path]:
    """Mesh files of a sequence folder, sorted by the integer in their names.

    Frame numbers may be zero-padded or not
    (`0000.obj`, `643.jpg` styles seen for BP4D, docs/datasets.md §3.2), so the sort is numeric, not lexical.
    Files that are not meshes (`.bnd`, `.jpg`, `au.npy`, ...) are skipped; meshes without a number come last,
    by name.

    Raises:
        FileNotFoundError: `path` is not a folder.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"sequence folder not found: {folder}")
    frames = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in MESH_EXTENSIONS]

    def key(p: Path) -> tuple[int, int, str]:
        n = frame_number(p)
        return (0, n, p.name) if n is not None else (1, 0, p.name)

    return sorted(frames, key=key)
