"""Parameters, tables and figures of the method notebooks 02 (AffectVLM), 03 (MultiviewVLM), 04 (SMILE-VLM).

The notebooks only call these helpers and the package (`fervlm.experiments`, `fervlm.train`,
`fervlm.evaluate`); the training itself is `fervlm.train.fit_fold` / `run_cv`. Figures are built on
`matplotlib.figure.Figure` directly (no pyplot state), like `fervlm.evaluate`'s plots.

Run-folder layout the helpers read (`fervlm.train` module docstring): ``<variant>/fold-KK/{history.csv,
metrics.json, predictions.csv, last.ckpt}`` and ``<variant>/summary.json``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fervlm.profiles import quick_default

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from fervlm.methods.config import TrainConfig

__all__ = [
    "TrainingNotebookConfig",
    "fold_metrics",
    "plot_fold_accuracy",
    "plot_loss_curves",
    "plot_prototype_scores",
    "plot_pseudo_rounds",
    "plot_view_weights",
    "pseudo_rounds_table",
    "read_history",
    "results_table",
]

PROMPT_SOURCES = ("label", "pseudo")


@dataclass
class TrainingNotebookConfig:
    """The validated parameters of notebooks 02–04 (names as in `fervlm/resources/profiles/quick.yaml`).

    ``image_size`` is the *rendered* view size (`fervlm.experiments.prepare_dataset`); the model reads
    the views at its backbone's own input size (``TrainConfig.image_size=None``), since the tiny
    backbones' positional embeddings fix their input size.
    """

    profile: str = "quick"
    dataset: str = "synthetic_bu3dfe"
    dataset_root: str = "data/synthetic/bu3dfe"
    backbone: str = field(default_factory=quick_default("backbone"))
    weights: str = field(default_factory=quick_default("weights"))
    image_size: int = field(default_factory=quick_default("image_size"))
    views: list[int] = field(default_factory=quick_default("views"))
    epochs: int = field(default_factory=quick_default("epochs"))
    batch_size: int = field(default_factory=quick_default("batch_size"))
    lr: float = field(default_factory=quick_default("lr"))
    k_folds: int = field(default_factory=quick_default("k_folds"))
    run_folds: list[int] | str = field(default_factory=quick_default("run_folds"))
    prompt_sources: list[str] = field(default_factory=quick_default("prompt_sources"))
    accelerator: str = field(default_factory=quick_default("accelerator"))
    devices: int | str = field(default_factory=quick_default("devices"))
    num_workers: int = field(default_factory=quick_default("num_workers"))
    seed: int = field(default_factory=quick_default("seed"))
    synthetic_subjects: int = field(default_factory=quick_default("synthetic_subjects"))
    output_dir: str = "outputs/quick/02_affectvlm"

    def __post_init__(self) -> None:
        from fervlm.experiments import DATASETS

        if self.dataset not in DATASETS:
            raise ValueError(f"dataset={self.dataset!r}: unknown; choose one of {sorted(DATASETS)}")
        for name in ("image_size", "batch_size", "synthetic_subjects"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r}: must be >= 1")
        if self.epochs < 0:
            raise ValueError(f"epochs={self.epochs!r}: must be >= 1, or 0 for each method's profile default")
        if self.k_folds < 2:
            raise ValueError(f"k_folds={self.k_folds!r}: subject-independent CV needs at least 2 folds")
        if self.lr < 0:
            raise ValueError(f"lr={self.lr!r}: must be > 0, or 0 for each method's rate in the profile")
        if not self.views:
            raise ValueError("views: at least one view angle is needed")
        if isinstance(self.run_folds, str) and self.run_folds != "all":
            raise ValueError(f"run_folds={self.run_folds!r}: a list of fold numbers or 'all'")
        bad = [k for k in self.folds_to_run if not 0 <= k < self.k_folds]
        if bad or not self.folds_to_run:
            raise ValueError(f"run_folds={self.run_folds!r}: folds must be in 0..{self.k_folds - 1}")
        unknown = sorted(set(self.prompt_sources) - set(PROMPT_SOURCES))
        if unknown or not self.prompt_sources:
            raise ValueError(f"prompt_sources={self.prompt_sources!r}: choose from {list(PROMPT_SOURCES)}")

    @property
    def folds_to_run(self) -> list[int]:
        """The folds this notebook trains: ``run_folds``, or every fold for ``"all"``."""
        if isinstance(self.run_folds, str):
            return list(range(self.k_folds))
        return [int(k) for k in self.run_folds]

    @property
    def interactive_fold(self) -> int:
        """The fold trained step by step in the notebook (the first of ``run_folds``)."""
        return self.folds_to_run[0]

    def train_config(self, method: str, prompt_source: str = "label", **extra: Any) -> TrainConfig:
        """The `TrainConfig` of one run: the training profile of `fervlm.methods.config`, then these values.

        A profile name that is not a shipped profile (a custom sweep profile's) uses the `TrainConfig`
        defaults under the notebook's values.
        """
        from fervlm.methods.config import load_config
        from fervlm.profiles import shipped_profiles

        values = dict(
            method=method,
            prompt_source=prompt_source,
            backbone=self.backbone,
            views=[str(v) for v in self.views],
            image_size=None,
            batch_size=self.batch_size,
            folds=self.k_folds,
            fold_seed=self.seed,
            seed=self.seed,
            accelerator=self.accelerator,
            devices=self.devices,
            num_workers=self.num_workers,
        )
        if self.epochs:  # 0 keeps the method's own default in the training profile (SMILE-VLM: fewer)
            values["epochs"] = self.epochs
        if self.lr:  # 0 keeps the method's own rate in the training profile (AffectVLM: 1e-4)
            values["lr"] = self.lr
        values.update(extra)
        profile = self.profile if self.profile in shipped_profiles() else None
        config = load_config(profile=profile, **values)
        # Set after the profile: `load_config` reads a None override as "not given" and would keep the
        # profile's prior, while "none" here means random towers (the notebook's "random prior").
        random = self.weights.strip().lower() in ("none", "")
        return config.replace(weights=None if random else self.weights)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# Reading run folders


def read_history(fold_run: str | Path) -> pd.DataFrame:
    """``fold-KK/history.csv``: one row per epoch (loss parts ``train_*_loss``, ``train_acc``, ``lr``, …)."""
    path = Path(fold_run) / "history.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no training history (was the fold trained by fervlm.train?)")
    return pd.read_csv(path)


def fold_metrics(run_dir: str | Path, folds: Sequence[int]) -> list[dict[str, Any]]:
    """The ``metrics.json`` of each fold of a run folder, in the order given."""
    from fervlm.evaluate import read_metrics
    from fervlm.train import fold_dir

    out = []
    for k in folds:
        path = fold_dir(run_dir, k) / "metrics.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: fold {k} is not finished")
        out.append(read_metrics(path))
    return out


def results_table(
    runs: Mapping[str, str | Path],
    keys: Sequence[str] = ("accuracy", "macro_f1", "cluster_acc", "nmi", "ari"),
    digits: int = 3,
) -> pd.DataFrame:
    """One row per run (``name → run folder`` holding ``summary.json``): ``mean ± std`` of each metric.

    Columns: run, method, prompt_source, protocol (in words, `fervlm.protocols.protocol_name`), folds
    (how many), then one column per key present.
    """
    from fervlm.evaluate import read_metrics
    from fervlm.protocols import protocol_name

    rows = []
    for name, run_dir in runs.items():
        path = Path(run_dir) / "summary.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: run {name!r} has no CV summary (run fervlm.train.run_cv first)")
        summary = read_metrics(path)
        row: dict[str, Any] = {
            "run": name,
            "method": summary.get("method", ""),
            "prompt_source": summary.get("prompt_source", ""),
            "protocol": protocol_name(summary.get("prompt_source"), summary.get("method")),
            "folds": summary.get("n_folds", 0),
        }
        for key in keys:
            entry = summary.get(key)
            if isinstance(entry, Mapping) and entry.get("mean") is not None:
                std = entry.get("std")
                std_text = "nan" if std is None or math.isnan(std) else f"{std:.{digits}f}"
                row[key] = f"{entry['mean']:.{digits}f} ± {std_text}"
        rows.append(row)
    return pd.DataFrame(rows)


def pseudo_rounds_table(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """A fold's pseudo-labelling rounds (MultiviewVLM §II-F): round, epoch, accuracy, cluster acc/NMI/ARI.

    The accuracies compare pseudo-labels with the true labels **for reporting only**; training never sees
    them. Empty when the run used ``prompt_source="label"`` (no rounds).
    """
    rounds = metrics.get("pseudo_rounds") or []
    cols = ["round", "epoch", "method", "accuracy", "cluster_acc", "nmi", "ari"]
    return pd.DataFrame([{c: r.get(c) for c in cols} for r in rounds], columns=cols)


# ---------------------------------------------------------------------------------------------
# Figures


def _figure(figsize: tuple[float, float]) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def plot_loss_curves(history: pd.DataFrame, title: str = "") -> Figure:
    """Loss parts and total per epoch (left) and training accuracy / pseudo-label accuracy / α (right).

    Every ``train_*_loss`` column of `history.csv` is drawn, so each method shows its own terms
    (AffectVLM align/mc/mt, MultiviewVLM con/mv/pos/neg, SMILE-VLM bt/align/red).
    """
    from matplotlib.ticker import MaxNLocator

    if history.empty:
        raise ValueError("history: no epochs recorded")
    epochs = history["epoch"].to_numpy() + 1
    fig = _figure((10.0, 3.4))
    left, right = fig.subplots(1, 2)
    parts = [
        c for c in history.columns if c.startswith("train_") and c.endswith("_loss") and c != "train_loss"
    ]
    for col in parts:
        left.plot(epochs, history[col], marker=".", label=col[len("train_") : -len("_loss")])
    if "train_loss" in history:
        left.plot(epochs, history["train_loss"], color="black", linewidth=2, marker=".", label="total")
    left.set_xlabel("epoch")
    left.set_ylabel("loss (weighted parts)")
    left.legend(fontsize=8)
    left.set_title(title or "loss parts")
    alpha = "alpha" if "alpha" in history else "train_alpha"  # end-of-epoch α (older runs: epoch mean)
    for col, label in (
        ("train_acc", "train accuracy (prototypes)"),
        ("pseudo_acc", "pseudo-label accuracy"),
        ("val_acc", "validation accuracy"),
        (alpha, "margin α"),
    ):
        if col in history and history[col].notna().any():
            right.plot(epochs, history[col], marker="o" if col == "pseudo_acc" else ".", label=label)
    right.set_xlabel("epoch")
    right.set_ylim(0.0, 1.0)
    for ax in (left, right):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    right.legend(fontsize=8)
    right.set_title("accuracy and learned scalars")
    return fig


def plot_fold_accuracy(
    runs: Mapping[str, Sequence[Mapping[str, Any]]], key: str = "accuracy", chance: float | None = None
) -> Figure:
    """Grouped bars of one metric per fold (x = the recorded fold numbers), one colour per run.

    Each run's legend entry names its protocol (`fervlm.protocols.protocol_name`) when its metrics record it.
    """
    from fervlm.protocols import protocol_name

    names = list(runs)
    folds = sorted({int(m["fold"]) for ms in runs.values() for m in ms})
    width = 0.8 / max(1, len(names))
    fig = _figure((max(4.5, 1.0 * len(folds) * max(1, len(names)) * 0.45 + 2.0), 3.2))
    ax = fig.subplots()
    x = np.arange(len(folds))
    for i, name in enumerate(names):
        by_fold = {int(m["fold"]): m.get(key) for m in runs[name]}
        values = [np.nan if by_fold.get(f) is None else float(by_fold[f]) for f in folds]
        mean = np.nanmean(values) if np.isfinite(values).any() else np.nan
        first = runs[name][0] if runs[name] else {}
        method = first.get("method")
        protocol = protocol_name(first.get("prompt_source"), method) if method else ""
        label = f"{name}: {protocol}" if protocol and protocol not in name else name
        ax.bar(x + (i - (len(names) - 1) / 2) * width, values, width, label=f"{label} (mean {mean:.3f})")
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle=":", linewidth=1, label=f"chance {chance:.3f}")
    ax.set_xticks(x, [str(f) for f in folds])
    ax.set_xlabel("fold")
    ax.set_ylabel(key)
    ax.set_ylim(0.0, 1.0)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def plot_pseudo_rounds(metrics_per_fold: Sequence[Mapping[str, Any]]) -> Figure:
    """Pseudo-label accuracy (vs. true labels, reporting only) per clustering round, a line per fold."""
    fig = _figure((5.0, 3.2))
    ax = fig.subplots()
    drawn = 0
    for m in metrics_per_fold:
        acc = m.get("pseudo_label_accuracy") or []
        if acc:
            ax.plot(np.arange(len(acc)), acc, marker="o", label=f"fold {m.get('fold', '?')}")
            drawn += 1
    if not drawn:
        raise ValueError("metrics: no pseudo-label rounds recorded (was prompt_source 'pseudo'?)")
    ax.set_xlabel("clustering round")
    ax.set_ylabel("pseudo-label accuracy")
    ax.set_title("label-free (pseudo-label prompts): accuracy vs true labels, reporting only", fontsize=9)
    ax.set_ylim(0.0, 1.0)
    ax.legend(fontsize=8)
    return fig


def plot_prototype_scores(predictions: pd.DataFrame, classes: Sequence[str], n: int = 6) -> Figure:
    """Zero-shot inference by prototypes: cosine ``sim(z_fused, p_c)`` per class for ``n`` test samples.

    Reads ``predictions.csv`` (``label``/``pred`` ids, ``score_<class>``); the predicted class (argmax) is
    the highlighted bar, the title says the true class.
    """
    if predictions.empty:
        raise ValueError("predictions: no rows")
    rows = predictions.head(n)
    cols = min(3, len(rows))
    lines = math.ceil(len(rows) / cols)
    fig = _figure((3.4 * cols, 2.2 * lines))
    axes = np.atleast_1d(fig.subplots(lines, cols)).ravel()
    for ax, (_, row) in zip(axes, rows.iterrows(), strict=False):
        scores = np.asarray([row[f"score_{c}"] for c in classes], dtype=np.float64)
        colors = ["tab:orange" if i == int(row["pred"]) else "tab:blue" for i in range(len(classes))]
        ax.barh(np.arange(len(classes)), scores, color=colors)
        ax.set_yticks(np.arange(len(classes)), labels=list(classes), fontsize=7)
        ax.invert_yaxis()
        ok = "✓" if int(row["pred"]) == int(row["label"]) else "✗"
        ax.set_title(f"true {classes[int(row['label'])]} {ok}", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    for ax in axes[len(rows) :]:
        ax.set_visible(False)
    return fig


# ---------------------------------------------------------------------------------------------
# SMILE-VLM view-aware fusion weights


def plot_view_weights(weights: pd.DataFrame) -> Figure:
    """Mean fusion weight of each view per class, from `fervlm.experiments.fusion.view_fusion_weights`; 1/V is
    the dashed line."""
    cols = [c for c in weights.columns if c.startswith("weight_")]
    if not cols:
        raise ValueError("weights: no weight_<view> columns")
    per_class = weights.groupby("label")[cols].mean()
    fig = _figure((max(5.0, 0.9 * len(per_class) + 2.0), 3.2))
    ax = fig.subplots()
    x = np.arange(len(per_class))
    width = 0.8 / len(cols)
    for i, col in enumerate(cols):
        ax.bar(x + (i - (len(cols) - 1) / 2) * width, per_class[col], width, label=f"view {col[7:]}°")
    ax.axhline(1.0 / len(cols), color="grey", linestyle="--", linewidth=1, label="uniform 1/V")
    ax.set_xticks(x, list(per_class.index), rotation=30, ha="right")
    ax.set_ylabel("mean fusion weight")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig
