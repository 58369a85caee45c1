"""Config, tables and figures of `notebooks/09_results.ipynb`: our runs beside the papers' reported numbers.

Our numbers come from ``outputs/<profile>/results.csv`` (`fervlm.runs.aggregate_results`), the papers' from
``data/paper_results.csv`` (transcribed; read with ``comment="#"``). A row of ours always states the data it
ran on: a synthetic dataset is named as such and never presented as the benchmark it imitates.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fervlm.experiments import DATASETS, is_synthetic

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "BENCHMARKS",
    "ResultsConfig",
    "benchmark_of",
    "benchmark_table",
    "data_label",
    "find_fold_run",
    "load_paper_results",
    "load_results",
    "our_accuracy",
    "umap_figure",
]

#: The papers' benchmarks in the order their tables print them, with a title.
BENCHMARKS: dict[str, str] = {
    "bu3dfe_I": "BU-3DFE Subset I",
    "bu3dfe_II": "BU-3DFE Subset II",
    "bosphorus": "Bosphorus",
    "bu4dfe": "BU-4DFE",
    "bp4d": "BP4D-Spontaneous recognition",
    "bp4d_cross": "BP4D cross-dataset (train BU-4DFE, test BP4D T1/T8)",
    "4dme": "4DME micro-expressions",
}


@dataclass
class ResultsConfig:
    """The validated parameters of notebook 09 (see its `parameters` cell)."""

    profile: str = "quick"
    results_csv: str = "outputs/quick/results.csv"
    paper_csv: str = "data/paper_results.csv"
    umap_run: str = ""
    seed: int = 0
    output_dir: str = "outputs/quick/09_results"
    cv_runs: str = "outputs/quick/cv10"

    def __post_init__(self) -> None:
        if not Path(self.paper_csv).is_file():
            raise FileNotFoundError(
                f"paper_csv={self.paper_csv!r}: the transcribed papers' results are missing"
            )
        if self.umap_run and not (Path(self.umap_run) / "last.ckpt").is_file():
            raise ValueError(f"umap_run={self.umap_run!r}: not a fold folder with last.ckpt")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_paper_results(path: str | Path) -> pd.DataFrame:
    """The papers' reported numbers (`data/paper_results.csv`; its header comments explain the columns)."""
    return pd.read_csv(path, comment="#")


def load_results(results_csv: str | Path) -> tuple[pd.DataFrame, str]:
    """Our aggregated results and a one-line status; regenerated when the profile folder holds metrics files.

    Returns an empty table (and says why) when neither the folder nor the file exists.
    """
    from fervlm.runs import aggregate_results

    path = Path(results_csv)
    has_metrics = path.parent.is_dir() and any(path.parent.rglob("metrics.json"))
    if has_metrics:
        try:
            table = aggregate_results(path.parent)
            return table, f"{path}: regenerated from {path.parent} ({len(table)} metrics rows)"
        except OSError as err:  # read-only folder: read what is there
            note = f" (could not regenerate: {err})"
    else:
        note = ""
    if path.is_file():
        table = pd.read_csv(path, dtype={"fold": str})
        return table, f"{path}: read {len(table)} metrics rows{note}"
    return pd.DataFrame(), f"{path}: missing{note}; showing the papers' numbers alone"


def benchmark_of(dataset: str, notebook: str = "") -> str | None:
    """The benchmark one of our datasets stands in for (``synthetic_bu3dfe`` → ``bu3dfe_I``) or None."""
    if not isinstance(dataset, str) or dataset not in DATASETS:
        return None
    name = dataset.removeprefix("synthetic_")
    name = {"bu3dfe": "bu3dfe_I"}.get(name, name)
    if name == "bp4d" and "cross" in str(notebook):
        return "bp4d_cross"
    return name if name in BENCHMARKS else None


def data_label(dataset: str) -> str:
    """What our row ran on, stated plainly: synthetic data are never labelled as the benchmark."""
    spec = DATASETS.get(dataset)
    if spec is None:
        return f"{dataset} (unknown dataset)"
    if is_synthetic(dataset):
        return f"{spec.description} — synthetic, NOT the benchmark"
    return f"{spec.description} (the benchmark)"


def our_accuracy(results: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std of per-fold test accuracy (in %) per notebook × dataset × method × variant × protocol.

    Per-fold rows (``fold`` a number) are averaged; a group with only an item-level row uses its
    ``accuracy`` / ``accuracy_mean``. Columns: notebook, dataset, method, variant, protocol (in words,
    `fervlm.protocols.protocol_name` of the ``prompt_source`` column), accuracy, std, n_folds, benchmark,
    our_data.
    """
    from fervlm.protocols import protocol_name

    cols = [
        "notebook",
        "dataset",
        "method",
        "variant",
        "protocol",
        "accuracy",
        "std",
        "n_folds",
        "benchmark",
        "our_data",
    ]
    if results.empty or "dataset" not in results.columns:
        return pd.DataFrame(columns=cols)
    table = results.copy()
    for key in ("notebook", "dataset", "method", "variant", "prompt_source"):
        table[key] = table.get(key, pd.Series("", index=table.index)).fillna("").astype(str)
    table["fold"] = table["fold"].astype(str)
    rows = []
    keys_of_row = ["notebook", "dataset", "method", "variant", "prompt_source"]
    for keys, group in table.groupby(keys_of_row, sort=True):
        folds = group[group["fold"] != "summary"]
        values = pd.to_numeric(folds.get("accuracy", pd.Series(dtype=float)), errors="coerce").dropna()
        if values.empty:
            item = group[group["fold"] == "summary"]
            for column in ("accuracy_mean", "accuracy"):
                if column in item.columns and item[column].notna().any():
                    values = pd.to_numeric(item[column], errors="coerce").dropna()
                    break
        if values.empty:
            continue
        notebook, dataset, method, variant, source = keys
        rows.append(
            {
                "notebook": notebook,
                "dataset": dataset,
                "method": method,
                "variant": variant,
                "protocol": protocol_name(source or None, method or None),
                "accuracy": 100 * values.mean(),
                "std": 100 * values.std(ddof=0),
                "n_folds": len(values),
                "benchmark": benchmark_of(dataset, notebook),
                "our_data": data_label(dataset),
            }
        )
    return pd.DataFrame(rows, columns=cols)


def benchmark_table(papers: pd.DataFrame, ours: pd.DataFrame, benchmark: str) -> pd.DataFrame:
    """One paper table: every reported accuracy on `benchmark`, then our rows that stand in for it.

    Columns: method, source (paper + table, or "this repo: <notebook>"), supervision (the paper's word, or
    for our rows the protocol in words: label prompts or label-free), accuracy (%), std, data (the papers'
    benchmark, or what our row really ran on).
    """
    reported = papers[(papers["benchmark"] == benchmark) & (papers["metric"] == "accuracy")]
    if "view" in reported.columns:  # 4DME prints per view; keep every row, the view in the method name
        view = reported["view"].fillna("")
        method = reported["method"] + np.where(view != "", " [" + view + "]", "")
    else:
        method = reported["method"]
    rows = pd.DataFrame(
        {
            "method": method,
            "source": reported["paper"] + ", " + reported["table"],
            "supervision": reported["supervision"].fillna(""),
            "accuracy": reported["value"].astype(float),
            "std": np.nan,
            "data": f"{BENCHMARKS.get(benchmark, benchmark)} (as reported)",
        }
    )
    mine = ours[ours["benchmark"] == benchmark] if not ours.empty else ours
    if not mine.empty:
        variant = mine["variant"].fillna("")
        rows = pd.concat(
            [
                rows,
                pd.DataFrame(
                    {
                        "method": mine["method"] + np.where(variant != "", " / " + variant, "") + " (ours)",
                        "source": "this repo: "
                        + mine["notebook"]
                        + " ("
                        + mine["n_folds"].astype(str)
                        + " folds)",
                        "supervision": mine.get("protocol", ""),
                        "accuracy": mine["accuracy"],
                        "std": mine["std"],
                        "data": mine["our_data"],
                    }
                ),
            ],
            ignore_index=True,
        )
    return rows.reset_index(drop=True)


def find_fold_run(profile_dir: str | Path) -> Path | None:
    """First finished fold folder (``metrics.json`` + ``last.ckpt``) under a profile's outputs or None."""
    profile_dir = Path(profile_dir)
    if not profile_dir.is_dir():
        return None
    for metrics in sorted(profile_dir.rglob("fold-*/metrics.json")):
        if (metrics.parent / "last.ckpt").is_file() and (metrics.parent / "predictions.csv").is_file():
            return metrics.parent
    return None


def umap_figure(
    xy: np.ndarray,
    labels: np.ndarray,
    preds: np.ndarray,
    classes: list[str],
    title: str = "",
) -> Figure:
    """A 2-D map of fused test embeddings, coloured by true label (left) and prediction (right).

    Args:
        xy: (N, 2) coordinates, e.g. the UMAP (cosine metric) of the embeddings
            (`fervlm.experiments.embeddings.umap_projection`).
        labels, preds: (N,) true and predicted class ids; classes: the class names.
        title: heads the figure (e.g. the run's method and protocol, `fervlm.protocols.run_protocol`).
    """
    from matplotlib.figure import Figure

    xy = np.asarray(xy)
    if xy.ndim != 2 or xy.shape[1] != 2 or len(xy) != len(labels) or len(xy) != len(preds):
        raise ValueError(
            f"umap_figure: xy must be (N, 2) with one label and prediction per row, got xy {xy.shape}, "
            f"{len(labels)} labels, {len(preds)} predictions"
        )
    fig = Figure(figsize=(9, 4))
    panels = zip(fig.subplots(1, 2), (labels, preds), ("true label", "prediction"), strict=True)
    for ax, ids, colouring in panels:
        for c, name in enumerate(classes):
            sel = ids == c
            ax.scatter(xy[sel, 0], xy[sel, 1], s=14, label=name, color=f"C{c}")
        ax.set_title(f"fused test embeddings, coloured by {colouring}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.axes[0].legend(fontsize=7, loc="best")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
