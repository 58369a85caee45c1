"""Landmark files: BU-3DFE/BU-4DFE 83-point `.bnd` (docs/datasets.md §1.9, §2.5) and Bosphorus `.lm3`
(§4.4)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, overload

import numpy as np

from fervlm.io.mesh import MeshFormatError
from fervlm.utils import atomic_write_text

BND_POINTS = 83
_COUNT_LINE = re.compile(r"^\s*(\d+)(?:\s|$)")


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="latin-1").splitlines()
    except OSError as err:
        raise MeshFormatError(path, f"cannot read file: {err.strerror or err}") from err


@overload
def read_bnd(path: str | Path, with_index: Literal[False] = ...) -> np.ndarray: ...
@overload
def read_bnd(path: str | Path, with_index: Literal[True]) -> tuple[np.ndarray, np.ndarray]: ...
def read_bnd(path: str | Path, with_index: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Read an 83-landmark `.bnd`: one `index x y z` row per landmark, any whitespace, blank lines skipped.

    Args:
        path: the `.bnd` file.
        with_index: also return the 0-based vertex indices of the first column (§1.9).

    Returns:
        (83, 3) float32 points, or (points, (83,) int64 indices) with `with_index=True`.

    Raises:
        MeshFormatError: missing file, a row that is not `index x y z`, a count other than 83, NaN.
    """
    path = Path(path)
    rows = [line.split() for line in _read_lines(path) if line.strip()]
    if len(rows) != BND_POINTS:
        raise MeshFormatError(path, f"expected {BND_POINTS} landmark rows, found {len(rows)}")
    bad = next((i for i, row in enumerate(rows) if len(row) != 4), None)
    if bad is not None:
        raise MeshFormatError(path, f"landmark row {bad + 1} has {len(rows[bad])} fields, not 'index x y z'")
    try:
        table = np.array(rows, dtype=np.float64)
    except ValueError as err:
        raise MeshFormatError(path, f"non-numeric landmark field: {err}") from err
    points = table[:, 1:].astype(np.float32)
    if not np.isfinite(points).all():
        raise MeshFormatError(path, "NaN or infinite landmark coordinates")
    if not with_index:
        return points
    indices = table[:, 0]
    if (indices != np.round(indices)).any():
        raise MeshFormatError(path, "landmark vertex index is not an integer")
    return points, indices.astype(np.int64)


def write_bnd(path: str | Path, points: np.ndarray, indices: np.ndarray | None = None) -> Path:
    """Write 83 landmarks as `index<TAB><TAB>x<TAB>y<TAB>z` rows (the BU-3DFE layout, §1.9, §8), atomically.

    Args:
        path: destination `.bnd`.
        points: (83, 3) coordinates.
        indices: (83,) 0-based vertex indices for the first column; 0..82 when None.

    Returns:
        The written path.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.shape != (BND_POINTS, 3):
        raise ValueError(f"write_bnd {path}: points must be ({BND_POINTS}, 3), got {points.shape}")
    idx = np.arange(BND_POINTS) if indices is None else np.asarray(indices, dtype=np.int64).reshape(-1)
    if idx.shape != (BND_POINTS,):
        raise ValueError(f"write_bnd {path}: indices must have {BND_POINTS} entries, got {idx.shape}")
    rows = zip(idx.tolist(), points.tolist(), strict=True)
    lines = [f"{i}\t\t{x:.6f}\t{y:.6f}\t{z:.6f}" for i, (x, y, z) in rows]
    return atomic_write_text(path, "\n".join(lines) + "\n")


def read_lm3(path: str | Path) -> dict[str, np.ndarray]:
    """Read a Bosphorus `.lm3` into `{label: (3,) float32 xyz}` (docs/datasets.md §4.4).

    Layout: a header line; optionally a line `*` opening a free-text block that ends at the first blank line;
    a count line `N landmarks` (leading integer); then N label / `x y z` line pairs. Blank lines between
    records are ignored. N varies per file, so landmarks are indexed by label.

    Raises:
        MeshFormatError: missing file, no count line, fewer pairs than announced, a bad coordinate line, a
            duplicate label.
    """
    path = Path(path)
    lines = [line.strip() for line in _read_lines(path)]
    i = 1  # line 1 is the header/comment (§4.4)
    if i < len(lines) and lines[i] == "*":
        while i < len(lines) and lines[i]:
            i += 1
    while i < len(lines) and not lines[i]:
        i += 1
    match = _COUNT_LINE.match(lines[i]) if i < len(lines) else None
    if match is None:
        found = repr(lines[i]) if i < len(lines) else "end of file"
        raise MeshFormatError(path, f"expected a count line 'N landmarks', found {found}")
    count = int(match.group(1))
    records = [line for line in lines[i + 1 :] if line]
    if len(records) < 2 * count:
        raise MeshFormatError(path, f"truncated: {count} announced, {len(records) // 2} pairs found")
    landmarks: dict[str, np.ndarray] = {}
    for label, coords in zip(records[0 : 2 * count : 2], records[1 : 2 * count : 2], strict=True):
        fields = coords.split()
        try:
            xyz = np.array(fields, dtype=np.float64)
        except ValueError as err:
            raise MeshFormatError(path, f"landmark {label!r}: non-numeric coordinates {coords!r}") from err
        if xyz.shape != (3,):
            raise MeshFormatError(path, f"landmark {label!r}: expected 'x y z', got {coords!r}")
        if label in landmarks:
            raise MeshFormatError(path, f"duplicate landmark label {label!r}")
        landmarks[label] = xyz.astype(np.float32)
    return landmarks


def write_lm3(path: str | Path, landmarks: Mapping[str, np.ndarray]) -> Path:
    """Write `{label: xyz}` in the Bosphorus `.lm3` layout (header, blank, `N landmarks:`, pairs), atomically.

    Returns:
        The written path.
    """
    lines = ["# LANDMARKS 3D", "", f"{len(landmarks)} landmarks:"]
    for label, xyz in landmarks.items():
        label = str(label).strip()
        if not label or "\n" in label:
            raise ValueError(f"write_lm3 {path}: landmark label {label!r} must be one non-empty line")
        x, y, z = np.asarray(xyz, dtype=np.float64).reshape(3).tolist()
        lines += [label, f"{x:.6f} {y:.6f} {z:.6f}"]
    return atomic_write_text(path, "\n".join(lines) + "\n")
