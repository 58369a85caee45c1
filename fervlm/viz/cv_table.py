"""The k-fold results table of a set of `fervlm cv` run folders, built from their per-fold metrics.

Notebook 09 and the README quote this table (docs/methods.md §6): one row per run folder with what it
ran on (synthetic data are labelled so, never as the benchmark), its protocol in words, accuracy
mean ± std over folds (population std, as `fervlm.evaluate.summarize`), macro-F1, the pseudo-label
naming accuracy of the first and last rounds (label-free runs; for reporting only), the paired
difference to a reference run on the same folds (`fervlm.paired.paired_stats`), and the CV time.
Nothing is typed in: every number comes from ``fold-KK/metrics.json``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["CV_TABLE_COLUMNS", "cv_table", "find_cv_runs", "fold_metrics"]

CV_TABLE_COLUMNS = [
    "run",
    "method",
    "protocol",
    "data",
    "n_folds",
    "accuracy",
    "std",
    "macro_f1",
    "naming_first",
    "naming_last",
    "vs_reference",
    "p_reference",
    "cv_time_s",
]


def fold_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The ``metrics.json`` of every finished fold of a run folder, in fold order."""
    paths = sorted(Path(run_dir).glob("fold-*/metrics.json"))
    return [json.loads(p.read_text(encoding="utf-8")) for p in paths]


def find_cv_runs(folder: str | Path) -> dict[str, Path]:
    """Sub-folders of ``folder`` holding at least one finished fold: name → path, sorted by name."""
    root = Path(folder)
    if not root.is_dir():
        return {}
    return {p.name: p for p in sorted(root.iterdir()) if p.is_dir() and any(p.glob("fold-*/metrics.json"))}


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else math.nan


def cv_table(runs: Mapping[str, str | Path], reference: str | None = None) -> pd.DataFrame:
    """One row per run folder (columns :data:`CV_TABLE_COLUMNS`), from its folds' metrics.

    Args:
        runs: row name → run folder of `fervlm cv` (``fold-KK/metrics.json`` inside).
        reference: the name (a key of ``runs``) of the run every other row is paired with over the
            common folds (``vs_reference`` = mean accuracy difference, ``p_reference`` = two-sided paired
            t-test); None = no pairing.

    Returns:
        The table; ``naming_first`` / ``naming_last`` are the means over folds of the first and last
        rounds' pseudo-label accuracy (NaN for runs without pseudo-labels).

    Raises:
        ValueError: ``reference`` is not one of the runs.
    """
    from fervlm.paired import paired_stats
    from fervlm.protocols import protocol_name
    from fervlm.viz.results import data_label

    if reference is not None and reference not in runs:
        raise ValueError(f"reference={reference!r} is not one of the runs {sorted(runs)}")
    per_run = {name: fold_metrics(path) for name, path in runs.items()}
    ref = {m["fold"]: m["accuracy"] for m in per_run.get(reference, [])} if reference else {}
    rows = []
    for name, folds in per_run.items():
        if not folds:
            continue
        first = folds[0]
        acc = [float(m["accuracy"]) for m in folds]
        naming = [m["pseudo_label_accuracy"] for m in folds if m.get("pseudo_label_accuracy")]
        common = [m for m in folds if m.get("fold") in ref]
        paired = {"mean_diff": math.nan, "p_value": math.nan}
        if ref and name != reference and common:
            paired = paired_stats(
                np.array([m["accuracy"] for m in common]), np.array([ref[m["fold"]] for m in common])
            )
        datasets = sorted({str(m.get("dataset", "")) for m in folds})
        rows.append(
            {
                "run": name,
                "method": first.get("method", ""),
                "protocol": protocol_name(first.get("prompt_source"), first.get("method")),
                "data": " + ".join(data_label(d) for d in datasets),
                "n_folds": len(folds),
                "accuracy": float(np.mean(acc)),
                "std": float(np.std(acc)),
                "macro_f1": _mean([float(m["macro_f1"]) for m in folds if "macro_f1" in m]),
                "naming_first": _mean([float(r[0]) for r in naming]),
                "naming_last": _mean([float(r[-1]) for r in naming]),
                "vs_reference": paired["mean_diff"],
                "p_reference": paired["p_value"],
                "cv_time_s": float(sum(float(m.get("wall_time_s", 0.0)) for m in folds)),
            }
        )
    return pd.DataFrame(rows, columns=CV_TABLE_COLUMNS)
