"""Experiment datasets: the names notebooks and profiles use, and the one call that makes them ready.

A profile names datasets such as ``synthetic_bu3dfe`` or ``bu3dfe_I``; each name fixes an adapter of
`fervlm.datasets`, its protocol options (BU-3DFE Subset I, Bosphorus' six-emotion subjects, …) and, for the
built-in synthetic data, the generator layout of `fervlm.synth`. `prepare_dataset` then does what every
notebook needs before training — generate (synthetic only, once), index, render the views (resumable) —
and returns the prepared table. Calling it again costs a directory scan, so every notebook can call it
instead of relying on notebook 00 having run first.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from fervlm.datasets.registry import DATASETS, DatasetSpec, dataset_spec, is_synthetic
from fervlm.prepare import PrepareResult, prepare
from fervlm.tables import mask_column, view_column


def ensure_dataset(name: str, root: str | Path, subjects: int | None = None, seed: int = 0) -> Path:
    """Make sure the raw files of `name` exist under `root`; generate them when the dataset is synthetic.

    Generation is skipped when `root` already holds files (delete the folder to regenerate). A licensed
    dataset is never generated: a missing root is an error telling where it was looked for.
    """
    spec = dataset_spec(name)
    root = Path(root)
    if root.is_dir() and any(root.iterdir()):
        if spec.is_synthetic and subjects is not None:
            _resize_synthetic(spec.synthetic_layout, root, int(subjects), seed)
        return root
    if not spec.is_synthetic:
        raise FileNotFoundError(
            f"{root}: dataset {name!r} not found. It is licensed and cannot be generated: put (or link) "
            f"your copy there, or use 'synthetic_{name}'."
        )
    from fervlm.synth import generate

    generate(spec.synthetic_layout, root, subjects=subjects, seed=seed, progress=True)
    return root


def _resize_synthetic(layout: str, root: Path, subjects: int, seed: int) -> None:
    """Regenerate a synthetic dataset whose `subjects.csv` lists another number of subjects (a profile's
    `synthetic_subjects` changed). Subject i does not depend on the count (`fervlm.synth.generate`), so the
    kept subjects are rewritten identically; folders of subjects no longer listed are removed."""
    import shutil

    listing = root / "subjects.csv"
    if not listing.is_file():
        return  # not written by the generator: leave it alone
    old = pd.read_csv(listing, dtype=str)["subject"].tolist()
    if len(old) == subjects:
        return
    from fervlm.synth import generate

    generate(layout, root, subjects=subjects, seed=seed, progress=True)
    new = set(pd.read_csv(listing, dtype=str)["subject"])
    for sid in old:
        if sid not in new and (root / sid).is_dir():
            shutil.rmtree(root / sid)


def cache_dir(
    name: str, size: int, mode: str, frames: int | None, cache_root: str | Path | None = None
) -> Path:
    """Where the rendered views of one dataset at one rendering setting live: under `cache_root`, else
    ``$FERVLM_CACHE``, else ``data/cache`` in the project folder (`fervlm.project.project_root`)."""
    from fervlm.project import project_root

    cache_root = Path(cache_root or os.environ.get("FERVLM_CACHE") or project_root() / "data" / "cache")
    tag = f"{mode}-{size}px" + (f"-{frames}f" if frames else "")
    return cache_root / name / tag


def prepare_dataset(
    name: str,
    root: str | Path,
    yaws: Sequence[float] = (-30, 0, 30),
    size: int = 224,
    mode: str = "shaded",
    frames: int | None = None,
    masks: bool = False,
    workers: int | None = None,
    subjects: int | None = None,
    seed: int = 0,
    cache_root: str | Path | None = None,
    progress: bool = True,
) -> PrepareResult:
    """Generate (synthetic only), index and render one experiment dataset; resumable and idempotent.

    Args:
        name: an experiment dataset name (`DATASETS`).
        root: the dataset's raw folder.
        yaws: view angles in degrees.
        size: rendered image size in pixels.
        mode: render mode (shaded, depth, normals, texture).
        frames: frames pooled per 4D sequence (default: the dataset's `DatasetSpec.frames`).
        masks: also render per-view AU masks (synthetic data: explanation ground truth).
        workers: prepare worker processes (None = CPU count).
        subjects: subjects to generate for a synthetic dataset (None = the generator's default).
        seed: generator seed.
        cache_root: where prepared views go (default ``data/cache`` or ``$FERVLM_CACHE``).
        progress: show progress bars.

    Returns:
        The `PrepareResult`; its `.out / "index.csv"` is the prepared table.
    """
    spec = dataset_spec(name)
    ensure_dataset(name, root, subjects=subjects, seed=seed)
    from fervlm.datasets import load_index

    index = load_index(spec.adapter, root, **spec.options)
    index["dataset"] = name
    frames = spec.frames if frames is None else frames
    out = cache_dir(name, size, mode, frames, cache_root)
    return prepare(
        index,
        out,
        yaws=yaws,
        size=size,
        mode=mode,
        frames=frames,
        masks=masks,
        workers=workers,
        progress=progress,
    )


def read_prepared(path: str | Path) -> pd.DataFrame:
    """Read a prepared table with the one reader of index tables, `fervlm.tables.read_index` (identifiers and
    labels stay the text as written, e.g. subject ids ``F0001`` or ``001``; ``intensity`` is a number)."""
    from fervlm.tables import read_index

    return read_index(path)


__all__ = [
    "DATASETS",
    "DatasetSpec",
    "cache_dir",
    "dataset_spec",
    "ensure_dataset",
    "is_synthetic",
    "mask_column",
    "prepare_dataset",
    "read_prepared",
    "view_column",
]
