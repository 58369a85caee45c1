"""Which methods beat a baseline, and by how much, paired over the same folds.

Every method of the compendium runs the same subject-independent folds (`fervlm.folds.subject_kfold`
with the profile's ``k`` and seed), so fold ``k`` of one method and fold ``k`` of the baseline test the
same subjects. Comparing *paired* per-fold differences ``d_k = acc_method(k) − acc_baseline(k)``
removes the fold-to-fold difficulty both share; the spread of the means alone (e.g. 0.84 ± 0.11 for
the pixel baseline on the demo data) is mostly that shared difficulty and would hide a real gap or
invent one. The table reports the mean difference ``d̄``, its standard deviation ``s_d`` (ddof 1), the
number of paired folds ``n``, how many folds the method won, and the two-sided paired t-test p-value
(``t = d̄ / (s_d / √n)`` with ``n − 1`` degrees of freedom; ``scipy.stats.ttest_rel``; NaN with fewer
than two folds or identical differences).

:func:`paired_comparison` reads the aggregated results table (`fervlm.runs.aggregate_results`,
``results.csv``: one row per fold with notebook, dataset, method, variant, fold and the metric columns);
:func:`paired_runs` reads run folders directly (``<run>/fold-KK/metrics.json``, `fervlm.train`), for a
notebook that has just trained them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["COLUMNS", "beats_baseline_text", "paired_comparison", "paired_runs", "paired_stats"]

COLUMNS = [
    "dataset",
    "notebook",
    "method",
    "variant",
    "baseline_variant",
    "n_folds",
    "baseline",
    "score",
    "mean_diff",
    "std_diff",
    "wins",
    "p_value",
    "beats",
]


def paired_stats(scores: np.ndarray, baseline: np.ndarray) -> dict[str, float | int | bool]:
    """Paired statistics of per-fold ``scores`` against the ``baseline``'s on the same folds.

    Returns ``n_folds``, ``baseline`` and ``score`` (means), ``mean_diff``, ``std_diff`` (ddof 1, NaN for
    one fold), ``wins`` (folds strictly better), ``p_value`` (two-sided paired t-test, NaN with fewer than
    two folds or identical differences) and ``beats`` (``mean_diff > 0``).
    """
    a, b = np.asarray(scores, dtype=float), np.asarray(baseline, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError(f"paired scores need the same non-empty folds, got shapes {a.shape} and {b.shape}")
    d = a - b
    p = math.nan
    if len(d) >= 2 and np.ptp(d) > 1e-12:  # identical differences: t is undefined
        from scipy.stats import ttest_rel

        p = float(ttest_rel(a, b).pvalue)
    return {
        "n_folds": len(d),
        "baseline": float(b.mean()),
        "score": float(a.mean()),
        "mean_diff": float(d.mean()),
        "std_diff": float(d.std(ddof=1)) if len(d) > 1 else math.nan,
        "wins": int((d > 0).sum()),
        "p_value": p,
        "beats": bool(d.mean() > 0),
    }


def _fold_scores(run_dir: Path, metric: str) -> pd.Series:
    """``metric`` of every finished fold of a run folder, indexed by fold number."""
    import json

    values = {}
    for path in sorted(run_dir.glob("fold-*/metrics.json")):
        metrics = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(metrics.get(metric), (int, float)):
            values[int(path.parent.name.removeprefix("fold-"))] = float(metrics[metric])
    return pd.Series(values, dtype=float)


def paired_runs(
    runs: Mapping[str, str | Path], baseline: str | Path, metric: str = "accuracy"
) -> pd.DataFrame:
    """Run folders against a baseline run folder, paired over the folds both finished.

    Args:
        runs: name → run folder (``fold-KK/metrics.json`` inside, `fervlm.train.run_cv`).
        baseline: the baseline's run folder, trained on the same folds (same ``folds`` and ``fold_seed``).
        metric: the per-fold metric.

    Returns:
        One row per run with a common fold, in the order given: ``run`` and the :func:`paired_stats`.

    Raises:
        FileNotFoundError: the baseline folder holds no finished fold.
    """
    base = _fold_scores(Path(baseline), metric)
    if base.empty:
        raise FileNotFoundError(f"{baseline}: no finished fold (fold-KK/metrics.json) to compare with")
    rows = []
    for name, run_dir in runs.items():
        ours = _fold_scores(Path(run_dir), metric)
        common = ours.index.intersection(base.index)
        if len(common):
            stats = paired_stats(ours.loc[common].to_numpy(), base.loc[common].to_numpy())
            rows.append({"run": name, **stats})
    columns = ["run", "n_folds", "baseline", "score", "mean_diff", "std_diff", "wins", "p_value", "beats"]
    return pd.DataFrame(rows, columns=columns)


def _swap(variant: str, method: str, baseline: str) -> str:
    """The baseline's variant that matches ``variant``: path parts naming ``method`` renamed to it."""
    return "/".join(baseline if part == method else part for part in variant.split("/")) if variant else ""


def _per_fold(rows: pd.DataFrame, metric: str) -> pd.Series:
    """Metric per fold number (duplicates of a fold, e.g. a re-aggregated run, are averaged)."""
    values = pd.to_numeric(rows[metric], errors="coerce")
    return values.groupby(rows["fold"].astype(int)).mean().dropna()


def _baseline_rows(
    folds: pd.DataFrame, baseline: str, dataset: str, notebook: str, variant: str, method: str
) -> tuple[pd.DataFrame, str]:
    """The baseline run to pair a method's run with, and its variant name ("" when none exists).

    In order of preference: the same notebook's baseline run of the matching variant (``smilevlm/left``
    ↔ ``pixels/left``); the same notebook's plain baseline run (variant ``""`` or the baseline's name);
    the plain baseline run of another notebook on the same dataset (the first in name order).
    """
    base = folds[(folds["method"] == baseline) & (folds["dataset"] == dataset)]
    same = base[base["notebook"] == notebook]
    for candidates, names in (
        (same, [_swap(variant, method, baseline)]),
        (same, ["", baseline]),
        (base.sort_values("notebook", kind="stable"), ["", baseline]),
    ):
        chosen = candidates[candidates["variant"].isin(names)]
        if not chosen.empty:
            first = chosen.iloc[0]
            keep = (chosen["notebook"] == first["notebook"]) & (chosen["variant"] == first["variant"])
            return chosen[keep], str(first["variant"])
    return base.iloc[:0], ""


def paired_comparison(
    results: pd.DataFrame, baseline: str = "pixels", metric: str = "accuracy"
) -> pd.DataFrame:
    """Every run of ``results`` against the baseline run on the same dataset, paired by fold.

    Args:
        results: the aggregated results table (columns notebook, dataset, method, variant, fold,
            ``metric``; ``fold`` is a fold number, or ``"summary"`` for item-level rows, which are
            ignored). When an ``n_test`` column is present, a fold whose recorded test sizes differ between
            the method and the baseline is not paired (it cannot be the same split).
        baseline: the method every other run is compared with.
        metric: the per-fold metric column.

    Returns:
        One row per (dataset, notebook, method, variant) with at least one fold paired, sorted by dataset
        and decreasing mean difference. Columns: ``baseline_variant`` (the baseline run it was paired
        with), ``n_folds``, ``baseline`` and ``score`` (means over the paired folds), ``mean_diff``
        (``score − baseline``), ``std_diff`` (ddof 1; NaN for one fold), ``wins`` (folds where the
        method is strictly better), ``p_value`` (two-sided paired t-test) and ``beats``
        (``mean_diff > 0``).

    Raises:
        ValueError: a required column is missing (from a non-empty table).
    """
    if results.empty:  # nothing run yet (e.g. notebook 09 before any training notebook)
        return pd.DataFrame(columns=COLUMNS)
    needed = {"notebook", "dataset", "method", "variant", "fold", metric}
    missing = sorted(needed - set(results.columns))
    if missing:
        raise ValueError(f"results table: missing column(s) {missing}; expected aggregate_results' table")
    table = results.copy()
    for key in ("notebook", "dataset", "method", "variant"):
        table[key] = table[key].fillna("").astype(str)
    fold = table["fold"].astype(str)
    folds = table[fold.str.fullmatch(r"\d+")].copy()
    has_n_test = "n_test" in folds.columns
    rows = []
    for (dataset, notebook, method, variant), group in folds.groupby(
        ["dataset", "notebook", "method", "variant"], sort=True
    ):
        if method == baseline:
            continue
        base, base_variant = _baseline_rows(folds, baseline, dataset, notebook, variant, method)
        if base.empty:
            continue
        ours, theirs = _per_fold(group, metric), _per_fold(base, metric)
        common = ours.index.intersection(theirs.index)
        if has_n_test:
            n_ours, n_theirs = _per_fold(group, "n_test"), _per_fold(base, "n_test")
            # Only a known, different test size rules a fold out (a row without n_test cannot be checked).
            common = [k for k in common if k not in n_ours or k not in n_theirs or n_ours[k] == n_theirs[k]]
        if len(common) == 0:
            continue
        stats = paired_stats(ours.loc[common].to_numpy(float), theirs.loc[common].to_numpy(float))
        rows.append(
            {
                "dataset": dataset,
                "notebook": notebook,
                "method": method,
                "variant": variant,
                "baseline_variant": base_variant,
                **stats,
            }
        )
    out = pd.DataFrame(rows, columns=COLUMNS)
    out = out.sort_values(["dataset", "mean_diff"], ascending=[True, False], kind="stable")
    return out.reset_index(drop=True)


def beats_baseline_text(comparison: pd.DataFrame, baseline: str = "pixels", digits: int = 1) -> str:
    """One plain sentence per dataset: which runs beat the baseline and by how many points (paired).

    Args:
        comparison: the output of :func:`paired_comparison` (differences in metric units, e.g. accuracy
            in [0, 1]; printed ×100 as points).
    """
    if comparison.empty:
        return f"No run could be paired with the {baseline} baseline (run it on the same folds first)."

    def name(row: pd.Series) -> str:
        variant = row["variant"]
        label = row["method"] if variant in ("", row["method"]) else f"{row['method']} ({variant})"
        p = "" if math.isnan(row["p_value"]) else f", p = {row['p_value']:.2g}"
        return (
            f"{label} {100 * row['mean_diff']:+.{digits}f} points (vs {100 * row['baseline']:.{digits}f}% "
            f"on the same {row['n_folds']} folds{p})"
        )

    lines = []
    for dataset, group in comparison.groupby("dataset", sort=True):
        winners = group[group["beats"]]
        if winners.empty:
            lines.append(
                f"{dataset}: no method beats the {baseline} baseline; the closest is {name(group.iloc[0])}."
            )
        else:
            beaten = "; ".join(name(r) for _, r in winners.iterrows())
            rest = len(group) - len(winners)
            lines.append(f"{dataset}: beating the {baseline} baseline: {beaten}; {rest} other run(s) do not.")
    return "\n".join(lines)
