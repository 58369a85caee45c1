"""Parameters, tables and figures of `notebooks/05_ablations.ipynb` (the runs: `fervlm.ablations`).

Figures are built on `matplotlib.figure.Figure` directly (no pyplot state), like `fervlm.evaluate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from fervlm.methods.config import TRAINED_METHODS
from fervlm.viz.training import TrainingNotebookConfig

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "QUICK_VARIANTS",
    "AblationsConfig",
    "ablation_table",
    "plot_ablation_deltas",
    "plot_ablation_heatmap",
    "plot_margin_dynamics",
]

#: The quick profile's variants, kept to what fits the demo's time budget on 2 CPU cores: one loss term
#: per method, the prompt source, the frontal view alone, the objective form each paper fixes
#: (AffectVLM's margin, MultiviewVLM's InfoNCE targets, SMILE-VLM's alignment targets) and the random
#: prior (the same method from random towers instead of the FACS prior, `fervlm pretrain`). The paper
#: profile runs every variant of `fervlm.ablations.ablation_plan`.
QUICK_VARIANTS = (
    "no-mc",
    "no-bt",
    "pseudo-prompts",
    "front",
    "fixed-margin",
    "sample-targets",
    "class-align",
    "random-prior",
)

GROUP_COLOURS = {
    "full": "#4c4c4c",
    "loss": "#4c72b0",
    "objective": "#c44e52",
    "prompts": "#dd8452",
    "augmentation": "#55a868",
    "views": "#8172b3",
    "prior": "#937860",
}


@dataclass
class AblationsConfig(TrainingNotebookConfig):
    """The validated parameters of notebook 05: the training parameters of notebooks 02–04, plus

    Attributes:
        methods: the trained methods to ablate.
        variants: variant names to run besides ``full`` (`fervlm.ablations.ablation_plan`); ``"all"``
            runs every variant; an empty list means the profile's choice (`QUICK_VARIANTS` on ``quick``,
            which keeps the notebook to a few minutes on 2 CPU cores; every variant otherwise).
    """

    methods: list[str] = field(default_factory=lambda: list(TRAINED_METHODS))
    variants: list[str] | str = field(default_factory=list)
    output_dir: str = "outputs/quick/05_ablations"

    def __post_init__(self) -> None:
        super().__post_init__()
        bad = [m for m in self.methods if m not in TRAINED_METHODS]
        if bad or not self.methods:
            raise ValueError(f"methods={self.methods!r}: choose one or more of {list(TRAINED_METHODS)}")
        if len(set(self.methods)) != len(self.methods):
            raise ValueError(f"methods={self.methods!r}: a method is listed twice")
        if isinstance(self.variants, str) and self.variants != "all":
            raise ValueError(f"variants={self.variants!r}: a list of variant names or 'all'")

    @property
    def variants_to_run(self) -> list[str]:
        """The variant names passed to `fervlm.ablations.run_ablations` (empty = every variant)."""
        if isinstance(self.variants, str):
            return []
        if not self.variants and self.profile == "quick":
            return list(QUICK_VARIANTS)
        return list(self.variants)


def ablation_table(results: pd.DataFrame) -> pd.DataFrame:
    """Methods × variants, each cell ``accuracy (Δ vs full)`` in percent, variants in plan order."""
    order = list(dict.fromkeys(results["variant"]))
    order = ["full"] + [v for v in order if v != "full"]

    def cell(row: pd.Series) -> str:
        text = f"{100 * row['accuracy']:.1f}"
        if row["variant"] != "full" and np.isfinite(row["delta_accuracy"]):
            text += f" ({100 * row['delta_accuracy']:+.1f})"
        return text

    cells = results.assign(cell=results.apply(cell, axis=1))
    table = cells.pivot(index="method", columns="variant", values="cell").reindex(columns=order).fillna("–")
    return table.reindex(list(dict.fromkeys(results["method"])))


def plot_ablation_deltas(results: pd.DataFrame) -> Figure:
    """One panel per method: accuracy of each variant minus the full model's (percentage points)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    methods = list(dict.fromkeys(results["method"]))
    fig = Figure(figsize=(4.2 * len(methods), 3.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(methods), sharey=True))
    for ax, method in zip(axes, methods, strict=True):
        rows = results[(results["method"] == method) & (results["variant"] != "full")]
        delta = 100 * rows["delta_accuracy"].to_numpy(dtype=float)
        ax.bar(range(len(rows)), delta, color=[GROUP_COLOURS[g] for g in rows["group"]])
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xticks(range(len(rows)), rows["variant"], rotation=45, ha="right", fontsize=8)
        full = results[(results["method"] == method) & (results["variant"] == "full")]["accuracy"]
        title = f"{method} (full {100 * float(full.iloc[0]):.1f}%)" if len(full) else method
        ax.set_title(title, fontsize=10)
    axes[0].set_ylabel("Δ accuracy vs full (pp)")
    handles = [Patch(color=c, label=g) for g, c in GROUP_COLOURS.items() if g != "full"]
    fig.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=8)
    return fig


def plot_ablation_heatmap(results: pd.DataFrame) -> Figure:
    """Heatmap methods × variants of Δ accuracy vs the full model (diverging colours; blank = not run)."""
    from matplotlib.figure import Figure

    order = ["full"] + [v for v in dict.fromkeys(results["variant"]) if v != "full"]
    grid = results.pivot(index="method", columns="variant", values="delta_accuracy").reindex(columns=order)
    grid = grid.reindex(list(dict.fromkeys(results["method"]))) * 100
    values = grid.to_numpy(dtype=float)
    limit = max(1.0, float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0)
    fig = Figure(figsize=(0.75 * len(order) + 2.5, 0.6 * len(grid) + 1.8), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(np.ma.masked_invalid(values), cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v):
            ax.text(j, i, f"{v:+.1f}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(order)), order, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(grid)), grid.index)
    fig.colorbar(image, ax=ax, label="Δ accuracy vs full (pp)")
    return fig


def plot_margin_dynamics(
    method_dir: str | Path, fold: int, variants: tuple[str, ...] = ("full", "fixed-margin")
) -> Figure:
    """AffectVLM's margin α at the end of every epoch (``alpha`` in ``history.csv``), one line per variant.

    Args:
        method_dir: ``out_dir/affectvlm`` of `fervlm.ablations.run_ablations` (one sub-folder per variant).
        fold: the fold whose histories are drawn.
        variants: variant folders to draw; missing ones are skipped.

    Raises:
        ValueError: none of the variants has a finished history with an ``alpha`` column.
    """
    from matplotlib.figure import Figure

    from fervlm.protocols import protocol_name
    from fervlm.train import fold_dir

    fig = Figure(figsize=(5.2, 3.2), layout="constrained")
    ax = fig.subplots()
    drawn = 0
    for variant in variants:
        path = fold_dir(Path(method_dir) / variant, fold) / "history.csv"
        if not path.is_file():
            continue
        history = pd.read_csv(path)
        if "alpha" not in history or history["alpha"].isna().all():
            continue
        ax.plot(history["epoch"] + 1, history["alpha"], marker=".", label=variant)
        drawn += 1
    if not drawn:
        raise ValueError(f"{method_dir}: no history.csv with an 'alpha' column for variants {list(variants)}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("margin α (end of epoch)")
    ax.set_ylim(0.0, 1.0)
    ax.legend(fontsize=8)
    ax.set_title(f"AffectVLM margin, {protocol_name('label', 'affectvlm')}, fold {fold}", fontsize=9)
    return fig
