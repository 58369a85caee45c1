"""Figures and config of `notebooks/00_data_prep.ipynb`: view grids, a dynamic image beside its frames,
class and subject counts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fervlm.experiments import dataset_spec
from fervlm.prepare import sample_frames
from fervlm.profiles import quick_default
from fervlm.render import MODES
from fervlm.tables import view_column
from fervlm.viewpoints import view_name


@dataclass
class DataPrepConfig:
    """The validated parameters of notebook 00 (see its `parameters` cell for their meaning)."""

    profile: str = "quick"
    dataset: str = "synthetic_bu3dfe"
    dataset_root: str = "data/synthetic/bu3dfe"
    sequence_dataset: str = "synthetic_bu4dfe"
    sequence_root: str = "data/synthetic/bu4dfe"
    views: list[float] = field(default_factory=quick_default("views"))
    image_size: int = field(default_factory=quick_default("image_size"))
    render_mode: str = "shaded"
    frames: int = 0
    k_folds: int = field(default_factory=quick_default("k_folds"))
    synthetic_subjects: int = field(default_factory=quick_default("synthetic_subjects"))
    seed: int = field(default_factory=quick_default("seed"))
    workers: int = 0
    output_dir: str = "outputs/quick/00_data_prep"

    def __post_init__(self) -> None:
        dataset_spec(self.dataset)
        if dataset_spec(self.sequence_dataset).frames is None and "4d" not in self.sequence_dataset:
            raise ValueError(f"sequence_dataset={self.sequence_dataset!r}: expected a 4D dataset")
        if self.render_mode not in MODES:
            raise ValueError(f"render_mode={self.render_mode!r}: expected one of {MODES}")
        if self.image_size < 16:
            raise ValueError(f"image_size={self.image_size}: too small to show a face (min 16)")
        if self.k_folds < 2:
            raise ValueError(f"k_folds={self.k_folds}: need at least 2 folds")
        if not self.views:
            raise ValueError("views: give at least one yaw angle")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def view_grid(
    table: pd.DataFrame, root: str | Path, yaws: Sequence[float], per_class: int = 1, seed: int = 0
):
    """Figure: for each class (rows), the rendered views (columns) of `per_class` random samples.

    Args:
        table: a prepared table (`view_<yaw>` columns relative to `root`).
        root: the prepared table's folder.
        yaws: the views to show, in column order.
        per_class: samples shown per class.
        seed: which samples.
    """
    import matplotlib.pyplot as plt
    from PIL import Image

    root = Path(root)
    rng = np.random.default_rng(seed)
    picks = []
    for label, group in table.groupby("label", sort=True):
        rows = group.iloc[rng.choice(len(group), size=min(per_class, len(group)), replace=False)]
        picks += [(label, r) for _, r in rows.iterrows()]
    fig, axes = plt.subplots(
        len(picks), len(yaws), figsize=(1.7 * len(yaws), 1.75 * len(picks)), squeeze=False
    )
    for i, (label, row) in enumerate(picks):
        for j, yaw in enumerate(yaws):
            ax = axes[i, j]
            with Image.open(root / row[view_column(yaw)]) as im:
                ax.imshow(np.asarray(im))
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"{view_name(yaw)} ({yaw:+g}°)", fontsize=9)
            if j == 0:
                ax.set_ylabel(f"{label}\n{row['subject']}", fontsize=8)
    fig.tight_layout()
    return fig


def sequence_figure(frames: np.ndarray, dynamic: np.ndarray, view: int = 1, max_frames: int = 6):
    """Figure: `max_frames` evenly spaced frames of one view of a 4D sequence, then its dynamic image.

    Args:
        frames: uint8 (T, V, H, W, 3) renders (`fervlm.dynamic.render_sequence`).
        dynamic: uint8 (V, H, W, 3) dynamic images of the same sequence.
        view: which view to show.
        max_frames: frames shown before the dynamic image.
    """
    import matplotlib.pyplot as plt

    picks = np.unique(np.linspace(0, len(frames) - 1, min(max_frames, len(frames))).round().astype(int))
    fig, axes = plt.subplots(1, len(picks) + 1, figsize=(1.6 * (len(picks) + 1), 2.0))
    for ax, t in zip(axes, picks, strict=False):
        ax.imshow(frames[t, view])
        ax.set_title(f"frame {t}", fontsize=8)
    axes[-1].imshow(dynamic[view])
    axes[-1].set_title("dynamic image", fontsize=8, fontweight="bold")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def render_one_sequence(
    sequence_path: str | Path, yaws: Sequence[float], size: int, mode: str, frames: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Render the (sampled) frames of one 4D sequence and pool them: ((T,V,H,W,3), (V,H,W,3)) uint8."""
    from fervlm.datasets import sequence_frames
    from fervlm.dynamic import pool, render_sequence, to_uint8

    files = sample_frames(sequence_frames(sequence_path), frames or None)
    rendered, _ = render_sequence(files, yaws, size, mode)
    dynamic = np.stack([to_uint8(pool(rendered[:, v])) for v in range(rendered.shape[1])])
    return rendered, dynamic


def counts_figure(table: pd.DataFrame):
    """Figure: samples per class, and samples per subject (coloured by class)."""
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.2), gridspec_kw={"width_ratios": [1, 2.4]})
    table["label"].value_counts().sort_index().plot.bar(ax=a, color="#4c72b0")
    a.set_title("samples per class")
    a.set_ylabel("samples")
    per = table.groupby(["subject", "label"]).size().unstack(fill_value=0)
    per.plot.bar(stacked=True, ax=b, width=0.85, legend=True, colormap="tab10")
    b.set_title("samples per subject")
    b.legend(fontsize=7, ncols=2)
    b.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    return fig


def counts_table(table: pd.DataFrame) -> pd.DataFrame:
    """Samples and subjects per class, with totals."""
    out = table.groupby("label").agg(samples=("sample_id", "size"), subjects=("subject", "nunique"))
    out.loc["total"] = [len(table), table["subject"].nunique()]
    return out
