"""Model input from what a user has: three view images, a mesh rendered on the fly, or a 4D sequence.

Each converter returns uint8 ``(V, size, size, 3)`` views, what `fervlm.inference.Predictor` takes: the
three left/front/right images (AffectVLM paper §III-F), a mesh rendered like the training data
(`fervlm.render.render_views`), or one dynamic image per view of a 4D sequence (approximate rank pooling,
`fervlm.dynamic.dynamic_views`, docs/methods.md §5). Files pass the checks of `fervlm.inference.uploads`
first; bad input raises its :class:`~fervlm.inference.uploads.InputError`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fervlm.inference.uploads import (
    MAX_IMAGE_BYTES,
    MAX_IMAGE_PIXELS,
    MAX_MESH_BYTES,
    MAX_SEQUENCE_FRAMES,
    InputError,
    _check_mesh_file,
    _decode_image,
    _name_and_bytes,
)
from fervlm.io import Mesh
from fervlm.viewpoints import VIEW_NAMES, VIEW_YAWS

__all__ = ["views_from_images", "views_from_mesh", "views_from_sequence"]


def _view_rank(name: str) -> int | None:
    """0/1/2 when a file name names exactly one of left/front/right, else None."""
    lowered = Path(name).stem.lower()
    hits = [i for i, view in enumerate(VIEW_NAMES) if view in lowered]
    return hits[0] if len(hits) == 1 else None


def views_from_images(
    files: Sequence[Any],
    size: int = 224,
    max_bytes: int = MAX_IMAGE_BYTES,
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> np.ndarray:
    """Three view images (left, front, right) → uint8 (3, size, size, 3).

    The order is the given one, unless every file name names exactly one different view
    (``..._left.png``, ``..._front.png``, ``..._right.png``): then the names decide.

    Args:
        files: paths, raw bytes, ``(name, bytes)`` pairs or uploaded-file objects (``.name``,
            ``.getvalue()``).
        size: side length the images are resized to (bilinear, as the training pipeline does).
        max_bytes, max_pixels: per-image limits on the file size and the decoded pixel count.

    Raises:
        InputError: not exactly three images, a file over the limits, an unreadable or non-image file.
    """
    files = list(files or [])
    if len(files) != len(VIEW_NAMES):
        raise InputError(f"expected exactly 3 view images ({', '.join(VIEW_NAMES)}), got {len(files)}")
    named = [_name_and_bytes(f, "image", max_bytes) for f in files]
    ranks = [_view_rank(name) for name, _ in named]
    if None not in ranks and sorted(ranks) == [0, 1, 2]:
        named = [named[ranks.index(i)] for i in range(3)]
    return np.stack([_decode_image(name, data, int(size), max_pixels) for name, data in named])


def views_from_mesh(
    mesh: str | Path | Mesh,
    yaws: Sequence[float] = VIEW_YAWS,
    size: int = 224,
    max_bytes: int = MAX_MESH_BYTES,
) -> np.ndarray:
    """Render a mesh file (``.wrl``, ``.obj``, ``.ply``, ``.bnt``, ...) or `Mesh` into its views.

    Returns:
        uint8 (V, size, size, 3) shaded views (`fervlm.render.render_views`).

    Raises:
        InputError: unsupported extension or a file over the size limit.
        MeshFormatError: the file cannot be read (its message names the file and the problem).
    """
    from fervlm.io import load_mesh
    from fervlm.render import render_views

    if not isinstance(mesh, Mesh):
        path = Path(mesh)
        _check_mesh_file(path, max_bytes)
        mesh = load_mesh(path)
    return render_views(mesh, yaws=tuple(yaws), size=int(size))


def views_from_sequence(
    frames: str | Path | Sequence[str | Path | Mesh],
    yaws: Sequence[float] = VIEW_YAWS,
    size: int = 224,
    max_bytes: int = MAX_MESH_BYTES,
    max_frames: int = MAX_SEQUENCE_FRAMES,
) -> np.ndarray:
    """A 4D sequence → one dynamic image per view (`fervlm.dynamic.dynamic_views`, approximate rank pooling).

    Args:
        frames: a sequence folder (frames listed by `fervlm.datasets.sequence_frames`), or mesh files
            (sorted by the frame number in their names, as in a folder) or `Mesh` objects in temporal order.
        yaws, size: the views to render.
        max_bytes: per-file size limit; max_frames: longest sequence accepted.

    Raises:
        InputError: fewer than 2 or more than ``max_frames`` frames, a file with another extension or
            over the size limit. MeshFormatError: a frame that cannot be read.
    """
    from fervlm.datasets import frame_number, sequence_frames
    from fervlm.dynamic import dynamic_views

    if isinstance(frames, (str, os.PathLike)):
        try:
            items: list[Any] = list(sequence_frames(frames))
        except FileNotFoundError as err:
            raise InputError(str(err)) from None
    else:
        items = list(frames)
        if all(isinstance(f, (str, os.PathLike)) for f in items):

            def key(p: Any) -> tuple[int, int, str]:
                n = frame_number(p)
                return (0, n, Path(p).name) if n is not None else (1, 0, Path(p).name)

            items = sorted(items, key=key)
    if len(items) < 2:
        raise InputError(f"a 4D sequence needs at least 2 mesh frames, got {len(items)}")
    if len(items) > max_frames:
        raise InputError(f"a 4D sequence of {len(items)} frames exceeds the limit of {max_frames}")
    for item in items:
        if not isinstance(item, Mesh):
            _check_mesh_file(Path(item), max_bytes)
    return dynamic_views(items, yaws=tuple(yaws), size=int(size))
