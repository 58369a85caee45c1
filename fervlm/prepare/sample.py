"""One sample's work in `fervlm prepare`: load a 3D scan or a 4D sequence, render its views (a 4D sequence
rank-pooled into one dynamic image per view, `fervlm.dynamic`), and save them atomically, with per-pixel AU
masks when asked (a 4D sequence's on its apex frame). Picklable task and settings, so that a worker process
(`fervlm.prepare.pool`) can run it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fervlm.utils import atomic_save_image, atomic_save_npy

PNG_COMPRESS_LEVEL = 3  # same size as PIL's default 6 on renders, half the time


def sample_frames(frames: Sequence[Path], count: int | None) -> list[Path]:
    """`count` frames spread uniformly over the sequence (first and last included); all when None or when
    the sequence is not longer than `count`."""
    frames = list(frames)
    if count is None or len(frames) <= count:
        return frames
    if count < 1:
        raise ValueError(f"frames={count}: expected a positive number of frames per sequence")
    picks = np.unique(np.round(np.linspace(0, len(frames) - 1, count)).astype(int))
    return [frames[i] for i in picks]


@dataclass
class _Task:
    """One sample's work, picklable for worker processes."""

    path: str
    kind: str
    au_path: str
    targets: list[str]  # image file per view
    mask_targets: list[str]  # mask file per view, [] without masks


@dataclass(frozen=True)
class _Settings:
    """The render settings every task of a job shares (the cache's key, `fervlm.fingerprint`)."""

    yaws: tuple[float, ...]
    size: int
    mode: str
    frames: int | None
    method: str
    render_options: tuple[tuple[str, Any], ...] = ()


def _render_and_save(task: _Task, settings: _Settings) -> None:
    """Render `task`'s views (and AU masks) and write them atomically; raises on a bad sample."""
    from fervlm.dynamic import pool, render_sequence, to_uint8
    from fervlm.io import load_mesh
    from fervlm.render import render_labelled, render_views

    options = dict(settings.render_options)
    labels = _load_labels(task.au_path) if task.mask_targets else None
    view_masks = None
    if task.kind == "3d":
        mesh = load_mesh(task.path)
        if labels is not None:
            labelled = render_labelled(
                mesh,
                settings.yaws,
                settings.size,
                settings.mode,
                labels=_check_labels(labels, mesh, task),
                **options,
            )
            images, view_masks = labelled.images, _smallest_uint(labelled.label_map)
        else:
            images = render_views(mesh, settings.yaws, settings.size, settings.mode, **options)
    elif task.kind == "4d":
        from fervlm.datasets import sequence_frames

        paths = sample_frames(sequence_frames(task.path), settings.frames)
        if not paths:
            raise ValueError(f"{task.path}: the sequence folder holds no mesh frames")
        apex: dict[str, Any] = {"mesh": None, "first": None, "distance": -1.0}

        def track_apex(t: int, mesh: Any) -> None:
            # The apex (the frame farthest from the first) shows where the expression acts.
            first = apex["first"] = mesh.vertices if apex["first"] is None else apex["first"]
            d = float(np.abs(mesh.vertices - first).mean()) if mesh.vertices.shape == first.shape else 0.0
            if d > apex["distance"]:
                apex.update(mesh=mesh, distance=d)

        # render_sequence frames the whole sequence once, from its first frame; the apex masks reuse that.
        rendered, options["framing"] = render_sequence(
            paths,
            settings.yaws,
            settings.size,
            settings.mode,
            on_frame=track_apex if labels is not None else None,
            **options,
        )
        images = np.stack([to_uint8(pool(rendered[:, v], settings.method)) for v in range(rendered.shape[1])])
        if labels is not None and apex["mesh"] is not None:
            apex_views = render_labelled(
                apex["mesh"],
                settings.yaws,
                settings.size,
                "depth",
                labels=_check_labels(labels, apex["mesh"], task),
                **options,
            )
            view_masks = _smallest_uint(apex_views.label_map)
    else:
        raise ValueError(f"{task.path}: unknown kind {task.kind!r} (expected '3d' or '4d')")
    # Masks first, images last: the skip test looks at both, and a sample only counts once all are there.
    if view_masks is not None:
        for target, m in zip(task.mask_targets, view_masks, strict=True):
            atomic_save_npy(target, m)
    for target, image in zip(task.targets, images, strict=True):
        atomic_save_image(target, image, compress_level=PNG_COMPRESS_LEVEL)


def _smallest_uint(label_map: np.ndarray) -> np.ndarray:
    """Per-pixel AU bits in the smallest unsigned dtype that holds the largest value (uint8 … uint64)."""
    top = int(label_map.max()) if label_map.size else 0
    dtype = next(d for d in (np.uint8, np.uint16, np.uint32, np.uint64) if top <= np.iinfo(d).max)
    return label_map.astype(dtype)


def _load_labels(au_path: str) -> np.ndarray:
    try:
        labels = np.load(au_path)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{au_path}: cannot read the AU sidecar ({exc})") from exc
    return np.asarray(labels).astype(np.int64).ravel()


def _check_labels(labels: np.ndarray, mesh: Any, task: _Task) -> np.ndarray:
    if len(labels) != len(mesh.vertices):
        raise ValueError(
            f"{task.au_path}: {len(labels)} AU labels for {len(mesh.vertices)} vertices "
            f"of {mesh.source or task.path}"
        )
    return labels
