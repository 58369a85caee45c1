"""fervlm.paired: methods against a baseline, paired over the same folds, on hand-made results tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fervlm.evaluate import write_metrics
from fervlm.paired import beats_baseline_text, paired_comparison, paired_runs


def _rows(notebook, dataset, method, variant, accs, n_test=None, start=0):
    return [
        {
            "profile": "quick",
            "notebook": notebook,
            "dataset": dataset,
            "method": method,
            "variant": variant,
            "fold": str(start + k),
            "accuracy": a,
            **({} if n_test is None else {"n_test": n_test}),
        }
        for k, a in enumerate(accs)
    ]


def _table(*groups, summary=True):
    rows = [r for g in groups for r in g]
    if summary:  # item-level rows (fold "summary") must be ignored
        rows.append(
            {
                "profile": "quick",
                "notebook": "02",
                "dataset": "d1",
                "method": "affectvlm",
                "variant": "affectvlm",
                "fold": "summary",
                "accuracy": 0.0,
            }
        )
    return pd.DataFrame(rows)


def _t_test_p(d):
    """Two-sided paired t-test p-value from its definition: t = mean/(sd/sqrt(n)), n-1 dof."""
    d = np.asarray(d, float)
    t = d.mean() / (d.std(ddof=1) / math.sqrt(len(d)))
    return 2 * stats.t.sf(abs(t), len(d) - 1)


def test_mean_and_std_of_paired_differences_and_p_value():
    base = [0.80, 0.90, 0.70, 0.60]
    better = [0.85, 0.95, 0.80, 0.62]
    worse = [0.50, 0.70, 0.40, 0.55]
    results = _table(
        _rows("02", "d1", "pixels", "pixels", base),
        _rows("02", "d1", "affectvlm", "affectvlm", better),
        _rows("02", "d1", "zeroshot", "zeroshot", worse),
    )
    out = paired_comparison(results)
    assert list(out["method"]) == ["affectvlm", "zeroshot"]  # sorted by mean difference, best first
    row = out.iloc[0]
    d = np.subtract(better, base)
    assert row["n_folds"] == 4 and row["wins"] == 4 and bool(row["beats"])
    assert row["mean_diff"] == pytest.approx(d.mean())
    assert row["std_diff"] == pytest.approx(np.sqrt(((d - d.mean()) ** 2).sum() / 3))
    assert row["p_value"] == pytest.approx(_t_test_p(d))
    assert row["baseline"] == pytest.approx(np.mean(base)) and row["score"] == pytest.approx(np.mean(better))
    low = out.iloc[1]
    assert not low["beats"] and low["wins"] == 0
    assert low["mean_diff"] == pytest.approx(np.mean(np.subtract(worse, base)))


def test_pairing_uses_common_folds_only_and_checks_test_sizes():
    results = _table(
        _rows("02", "d1", "pixels", "pixels", [0.8, 0.9, 0.7], n_test=24),
        # folds 1, 2, 3: fold 3 has no baseline; fold 2 has another test size, so another split
        _rows("02", "d1", "affectvlm", "affectvlm", [0.1, 0.2], n_test=24, start=1)
        + _rows("02", "d1", "affectvlm", "affectvlm", [0.3], n_test=20, start=3),
    )
    results.loc[(results["method"] == "affectvlm") & (results["fold"] == "2"), "n_test"] = 18
    row = paired_comparison(results).iloc[0]
    assert row["n_folds"] == 1  # only fold 1 is the same split for both
    results.loc[(results["method"] == "affectvlm") & (results["fold"] == "2"), "n_test"] = None
    assert paired_comparison(results).iloc[0]["n_folds"] == 2  # an unknown size cannot rule fold 2 out
    assert row["mean_diff"] == pytest.approx(0.1 - 0.9)
    assert math.isnan(row["std_diff"]) and math.isnan(row["p_value"])


def test_baseline_is_found_by_variant_then_notebook_then_dataset():
    results = _table(
        # notebook 08: one baseline run per view set
        _rows("08", "d1", "pixels", "pixels/left", [0.5, 0.5]),
        _rows("08", "d1", "pixels", "pixels/multiview", [0.9, 0.9]),
        _rows("08", "d1", "smilevlm", "smilevlm/left", [0.6, 0.7]),
        # notebook 03 has no baseline run: the plain run of notebook 02 on the same dataset is used
        _rows("02", "d1", "pixels", "pixels", [0.8, 0.8]),
        _rows("03", "d1", "multiviewvlm", "multiviewvlm/label", [0.9, 1.0]),
        # another dataset with no baseline at all is left out
        _rows("02", "d2", "affectvlm", "affectvlm", [0.9, 1.0]),
        summary=False,
    )
    out = paired_comparison(results).set_index("variant")
    assert set(out.index) == {"smilevlm/left", "multiviewvlm/label"}
    assert out.loc["smilevlm/left", "baseline_variant"] == "pixels/left"
    assert out.loc["smilevlm/left", "mean_diff"] == pytest.approx(0.15)
    assert out.loc["multiviewvlm/label", "baseline_variant"] == "pixels"
    assert out.loc["multiviewvlm/label", "mean_diff"] == pytest.approx(0.15)


def test_sentence_per_dataset_names_winners_and_losers():
    results = _table(
        _rows("02", "d1", "pixels", "pixels", [0.8, 0.9]),
        _rows("02", "d1", "affectvlm", "affectvlm", [0.9, 1.0]),
        _rows("02", "d1", "zeroshot", "zeroshot", [0.1, 0.2]),
        _rows("02", "d2", "pixels", "pixels", [0.8, 0.9]),
        _rows("02", "d2", "linearprobe", "linearprobe", [0.5, 0.6]),
    )
    text = beats_baseline_text(paired_comparison(results))
    lines = text.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("d1: beating the pixels baseline: affectvlm +10.0 points")
    assert "1 other run(s) do not" in lines[0]
    assert lines[1].startswith("d2: no method beats the pixels baseline; the closest is linearprobe -30.0")
    assert "No run could be paired" in beats_baseline_text(paired_comparison(_table(summary=True)))


def test_missing_columns_are_an_error_but_an_empty_table_gives_an_empty_comparison():
    assert paired_comparison(pd.DataFrame()).empty
    with pytest.raises(ValueError, match="missing column"):
        paired_comparison(pd.DataFrame({"dataset": ["d1"], "accuracy": [0.5]}))


def test_paired_runs_reads_fold_folders_and_pairs_common_folds(tmp_path):
    def run(name, accs):
        for fold, acc in accs.items():
            path = tmp_path / name / f"fold-{fold:02d}" / "metrics.json"
            write_metrics(path, {"fold": fold, "accuracy": acc})
        return tmp_path / name

    base = run("pixels", {0: 0.8, 1: 0.6, 2: 0.7})
    runs = {"a": run("a", {0: 0.9, 1: 0.9, 3: 1.0}), "b": run("b", {5: 0.1})}
    out = paired_runs(runs, base)
    assert list(out["run"]) == ["a"]  # "b" shares no fold with the baseline
    row = out.iloc[0]
    assert row["n_folds"] == 2 and row["mean_diff"] == pytest.approx(0.2) and row["wins"] == 2
    assert row["std_diff"] == pytest.approx(np.std([0.1, 0.3], ddof=1))
    assert row["p_value"] == pytest.approx(_t_test_p([0.1, 0.3]))
    with pytest.raises(FileNotFoundError, match="no finished fold"):
        paired_runs(runs, tmp_path / "nothing")
