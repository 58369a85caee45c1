"""Parameters, tables and figures of `notebooks/08_micro_expressions.ipynb` (SMILE-VLM §IV-E, Table V).

Table V of SMILE-VLM reports, per micro-expression class (positive, negative, surprise, repression,
others) and per input configuration (left, right, front, multiview), an F1 score and an accuracy.
The paper does not define a *per-class* accuracy; we use the one-vs-rest accuracy of the class,
``(TP + TN) / N`` from the confusion matrix summed over the folds run **(choice)**; its "Average"
column is the mean over classes (for F1 that is the macro-F1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fervlm.methods.config import TRAINED_METHODS
from fervlm.viz.training import TrainingNotebookConfig

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "TABLE_V_CLASSES",
    "VIEW_SETS",
    "MicroConfig",
    "micro_table",
    "one_vs_rest_accuracy",
    "plot_dynamic_images",
    "plot_micro_f1",
    "table_v_order",
]

#: Table V's column order.
TABLE_V_CLASSES = ("positive", "negative", "surprise", "repression", "others")

#: Table V's input configurations, in its row order: name → `TrainConfig.views`.
VIEW_SETS: dict[str, tuple[str, ...]] = {
    "left": ("left",),
    "right": ("right",),
    "front": ("front",),
    "multiview": ("left", "front", "right"),
}


@dataclass
class MicroConfig(TrainingNotebookConfig):
    """The validated parameters of notebook 08: the training parameters of notebooks 02–04, plus

    Attributes:
        methods: methods to run on every view configuration (SMILE-VLM in the paper): trained methods
            and the ``pixels`` baseline.
        view_sets: which of `VIEW_SETS` to train (Table V: all four).
    """

    dataset: str = "synthetic_4dme"
    dataset_root: str = "data/synthetic/4dme"
    methods: list[str] = field(default_factory=lambda: ["smilevlm", "pixels"])
    view_sets: list[str] = field(default_factory=lambda: list(VIEW_SETS))
    output_dir: str = "outputs/quick/08_micro_expressions"

    def __post_init__(self) -> None:
        super().__post_init__()
        allowed = [*TRAINED_METHODS, "pixels"]  # pixels: the classical baseline (fervlm.methods.pixels)
        bad = [m for m in self.methods if m not in allowed]
        if bad or not self.methods:
            raise ValueError(f"methods={self.methods!r}: choose one or more of {allowed}")
        unknown = [v for v in self.view_sets if v not in VIEW_SETS]
        if unknown or not self.view_sets:
            raise ValueError(f"view_sets={self.view_sets!r}: choose from {list(VIEW_SETS)}")
        needed = {float(y) for name in self.view_sets for y in _yaws(VIEW_SETS[name])}
        missing = sorted(needed - {float(v) for v in self.views})
        if missing:
            raise ValueError(f"views={self.views!r}: view_sets {self.view_sets} need yaws {missing} rendered")


def table_v_order(classes: Sequence[str]) -> list[str]:
    """`classes` in Table V's column order (classes it does not list keep their order, after those)."""
    known = [c for c in TABLE_V_CLASSES if c in classes]
    return known + [c for c in classes if c not in known]


def _yaws(names: Sequence[str]) -> list[float]:
    from fervlm.viewpoints import yaw_of

    return [yaw_of(n) for n in names]


def one_vs_rest_accuracy(confusion: Any) -> np.ndarray:
    """Per-class one-vs-rest accuracy ``(TP + TN) / N`` of a confusion matrix (rows true, columns predicted).

    ``N`` is the number of samples, ``TN`` those neither labelled nor predicted as the class.
    """
    cm = np.asarray(confusion, dtype=float)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"confusion matrix must be square, got shape {cm.shape}")
    total = cm.sum()
    if total == 0:
        raise ValueError("confusion matrix is empty (no test samples)")
    tp = np.diag(cm)
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    return (total - fp - fn) / total


def micro_table(summaries: Mapping[str, Mapping[str, Any]], classes: Sequence[str]) -> pd.DataFrame:
    """Table V's layout: rows (metric, configuration), columns the classes then ``average`` and ``accuracy``.

    Args:
        summaries: configuration name (e.g. ``smilevlm/front``) → its `fervlm.evaluate.summarize` dict
            (``summary.json`` of `fervlm.train.run_cv`: ``per_class_f1``, ``confusion_matrix``, ``accuracy``).
        classes: the class order of the columns.

    Returns:
        F1 rows (0-1 scale, like the paper) and accuracy rows (percent); ``average`` is the mean over classes
        and ``accuracy`` the overall (multi-class) accuracy, mean over folds.
    """
    rows = {}
    for name, summary in summaries.items():
        f1 = [summary["per_class_f1"][c]["mean"] for c in classes]
        rows[("F1-score", name)] = [*f1, float(np.nanmean(f1)), np.nan]
    for name, summary in summaries.items():
        order = [list(summary["classes"]).index(c) for c in classes]
        acc = one_vs_rest_accuracy(summary["confusion_matrix"])[order] * 100
        rows[("Accuracy (%)", name)] = [*acc, float(acc.mean()), 100 * summary["accuracy"]["mean"]]
    table = pd.DataFrame.from_dict(rows, orient="index", columns=[*classes, "average", "accuracy"])
    table.index = pd.MultiIndex.from_tuples(table.index, names=["metric", "configuration"])
    return table


def plot_micro_f1(table: pd.DataFrame) -> Figure:
    """Grouped bars: per-class F1 (groups = classes, one bar per configuration), from `micro_table`."""
    from matplotlib.figure import Figure

    f1 = table.loc["F1-score"].drop(columns="accuracy")
    columns = list(f1.columns)
    fig = Figure(figsize=(1.5 * len(columns) + 2, 3.4), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(f1)
    for i, (name, row) in enumerate(f1.iterrows()):
        offset = (i - (len(f1) - 1) / 2) * width
        ax.bar(np.arange(len(columns)) + offset, row.to_numpy(float), width, label=name)
    ax.set_xticks(range(len(columns)), columns)
    ax.set_ylabel("F1 score")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, ncol=2)
    return fig


def plot_dynamic_images(
    table: pd.DataFrame, root: str | Path, yaws: Sequence[float], per_class: int = 2, seed: int = 0
) -> Figure:
    """Dynamic images (one per view) of `per_class` random samples of each class; rows = samples."""
    from matplotlib.figure import Figure
    from PIL import Image

    from fervlm.tables import view_column
    from fervlm.viewpoints import view_name

    rng = np.random.default_rng(seed)
    picks = []
    for label, group in table.groupby("label", sort=True):
        chosen = rng.choice(len(group), size=min(per_class, len(group)), replace=False)
        picks += [(label, group.iloc[i]) for i in sorted(chosen)]
    fig = Figure(figsize=(1.6 * len(yaws), 1.6 * len(picks)), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(picks), len(yaws), squeeze=False))
    for i, (label, row) in enumerate(picks):
        for j, yaw in enumerate(yaws):
            with Image.open(Path(root) / row[view_column(yaw)]) as image:
                axes[i, j].imshow(np.asarray(image))
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
            if i == 0:
                axes[i, j].set_title(view_name(yaw), fontsize=9)
            if j == 0:
                axes[i, j].set_ylabel(f"{label}\n{row['sample_id']}", fontsize=8)
    return fig
