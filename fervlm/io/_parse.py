"""Numeric helpers shared by the text-format readers: bulk numpy conversion and fan triangulation."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from fervlm.io.mesh import MeshFormatError


def _bulk(text: str, dtype: type, path: Path, what: str) -> np.ndarray:
    """Whitespace/comma separated numbers → 1-D array, parsed in C by `np.fromstring` (5x `str.split`)."""
    text = text.replace(",", " ")
    if not text.strip():
        return np.zeros(0, dtype=dtype)  # fromstring turns an all-blank string into one garbage value
    try:
        with warnings.catch_warnings():
            # Older numpy only warns (DeprecationWarning) and truncates at a bad token: make it an error.
            warnings.simplefilter("error", DeprecationWarning)
            return np.fromstring(text, dtype=dtype, sep=" ")
    except (ValueError, DeprecationWarning) as err:
        kind = "number" if dtype is np.float64 else "integer"
        token = _bad_token(text.split(), float if dtype is np.float64 else int)
        raise MeshFormatError(path, f"non-{kind} token in {what}: {token!r}") from err


def parse_floats(text: str, path: Path, what: str) -> np.ndarray:
    """Whitespace/comma separated numbers → float64 array.

    Raises:
        MeshFormatError: a token is not a number (the message names `what` and the token).
    """
    return _bulk(text, np.float64, path, what)


def parse_ints(text: str, path: Path, what: str) -> np.ndarray:
    """Whitespace/comma separated integers → int64 array.

    Raises:
        MeshFormatError: a token is not an integer (the message names `what` and the token).
    """
    return _bulk(text, np.int64, path, what)


def _bad_token(tokens: list[str], kind: type) -> str:
    """The first token `kind` cannot convert, for the error message (only runs on the error path)."""
    for token in tokens:
        try:
            kind(token)
        except ValueError:
            return token
    return "?"


def fan_triangulate(polygons: list[np.ndarray] | np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Fan-triangulate flat polygon corner lists: polygon (p0, ..., pk) → triangles (p0, pi, pi+1).

    Args:
        polygons: all polygon corners concatenated, (sum(lengths),).
        lengths: corners per polygon; polygons with fewer than 3 corners yield no triangle.

    Returns:
        (T, 3) int64 with T = sum(max(length - 2, 0)).
    """
    flat = np.asarray(polygons, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    if len(lengths) and (lengths == 3).all():
        return flat.reshape(-1, 3)  # the common all-triangle case needs no index arithmetic
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    n_tri = np.maximum(lengths - 2, 0)
    total = int(n_tri.sum())
    if total == 0:
        return np.zeros((0, 3), dtype=np.int64)
    poly = np.repeat(np.arange(len(lengths)), n_tri)
    # Position of the triangle inside its polygon's fan: 1 .. length-2.
    first_tri = np.concatenate([[0], np.cumsum(n_tri)[:-1]])
    k = np.arange(total) - first_tri[poly] + 1
    base = starts[poly]
    return np.stack([flat[base], flat[base + k], flat[base + k + 1]], axis=1)


def split_polygons(indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split a VRML index stream at its `-1` separators.

    Returns:
        (corners, lengths): the indices without separators and the corner count of each polygon. A final
        polygon without a closing `-1` is kept (VRML allows it).
    """
    indices = np.asarray(indices, dtype=np.int64)
    if len(indices) == 0:
        return indices, np.zeros(0, dtype=np.int64)
    if indices[-1] != -1:
        indices = np.append(indices, -1)
    ends = np.flatnonzero(indices == -1)
    starts = np.concatenate([[0], ends[:-1] + 1])
    lengths = ends - starts
    return indices[indices != -1], lengths
