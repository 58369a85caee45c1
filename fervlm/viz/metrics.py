"""Figures of evaluation metrics: confusion matrix, per-fold accuracy, per-class F1 (docs/methods.md §5).

They draw what `fervlm.evaluate` computed (`classification_metrics`, `summarize`). Each returns a
`matplotlib.figure.Figure` built directly (no pyplot state, safe under the Agg backend); matplotlib is
imported inside the functions so importing this module stays light.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_confusion", "plot_fold_accuracies", "plot_per_class_f1"]


def _new_figure(figsize: tuple[float, float]) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def plot_confusion(
    cm: Sequence[Sequence[float]] | np.ndarray, classes: Sequence[str], normalize: bool = True
) -> Figure:
    """Heat map of a confusion matrix (rows = true class); `normalize` divides each row by its sum."""
    mat = np.asarray(cm, dtype=np.float64)
    if mat.shape != (len(classes), len(classes)):
        raise ValueError(f"cm has shape {mat.shape} but there are {len(classes)} classes")
    if normalize:
        sums = mat.sum(axis=1, keepdims=True)
        mat = np.divide(mat, sums, out=np.zeros_like(mat), where=sums > 0)
    n = len(classes)
    fig = _new_figure((1.0 + 0.7 * n, 0.8 + 0.6 * n))
    ax = fig.subplots()
    image = ax.imshow(mat, cmap="Blues", vmin=0.0, vmax=1.0 if normalize else None)
    fig.colorbar(image, ax=ax, shrink=0.8)
    ax.set_xticks(range(n), labels=list(classes), rotation=45, ha="right")
    ax.set_yticks(range(n), labels=list(classes))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = mat.max() / 2.0 if mat.size else 0.0
    for i in range(n):
        for j in range(n):
            text = f"{mat[i, j]:.2f}" if normalize else f"{int(mat[i, j])}"
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=8,
                color="white" if mat[i, j] > threshold else "black",
            )
    return fig


def plot_fold_accuracies(metrics_per_fold: Sequence[Mapping[str, Any]], key: str = "accuracy") -> Figure:
    """Bar chart of one metric per fold with the mean as a dashed line."""
    values = np.asarray([float(m[key]) for m in metrics_per_fold], dtype=np.float64)
    fig = _new_figure((max(4.0, 0.45 * len(values) + 1.5), 3.0))
    ax = fig.subplots()
    ax.bar(np.arange(len(values)), values, color="tab:blue")
    ax.axhline(
        values.mean(),
        color="black",
        linestyle="--",
        linewidth=1,
        label=f"mean {values.mean():.3f} ± {values.std():.3f}",
    )
    ax.set_xticks(np.arange(len(values)))
    ax.set_xlabel("fold")
    ax.set_ylabel(key)
    ax.set_ylim(0.0, 1.0)
    ax.legend(loc="lower right")
    return fig


def plot_per_class_f1(per_class_f1: Mapping[str, Any]) -> Figure:
    """Horizontal bars of per-class F1; accepts `{cls: f1}` or a `summarize` entry `{cls: {mean, std}}`."""
    names = list(per_class_f1)
    means, errs = [], []
    for c in names:
        v = per_class_f1[c]
        if isinstance(v, Mapping):
            means.append(v["mean"])
            errs.append(v["std"])
        else:
            means.append(math.nan if v is None else float(v))
            errs.append(0.0)
    fig = _new_figure((5.0, 0.8 + 0.4 * len(names)))
    ax = fig.subplots()
    ax.barh(np.arange(len(names)), np.nan_to_num(means), xerr=np.nan_to_num(errs), color="tab:green")
    ax.set_yticks(np.arange(len(names)), labels=names)
    ax.invert_yaxis()  # first class on top, as in a table
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("F1")
    return fig
