"""fervlm.viz.cv_table: the k-fold table of run folders comes from their folds' metrics."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import ttest_rel

from fervlm.viz.cv_table import CV_TABLE_COLUMNS, cv_table, find_cv_runs


def _run(folder, method, source, accs, naming=None, wall=10.0):
    for k, acc in enumerate(accs):
        fold = folder / f"fold-{k:02d}"
        fold.mkdir(parents=True)
        metrics = {
            "fold": k,
            "accuracy": acc,
            "macro_f1": acc - 0.1,
            "method": method,
            "prompt_source": source,
            "dataset": "synthetic_bu3dfe",
            "wall_time_s": wall,
        }
        if naming is not None:
            metrics["pseudo_label_accuracy"] = naming[k]
        (fold / "metrics.json").write_text(json.dumps(metrics))
    return folder


def test_rows_are_computed_from_the_fold_metrics(tmp_path):
    _run(tmp_path / "probe", "linearprobe", "label", [0.8, 0.9, 0.7])
    naming = [[0.8, 0.5], [0.9, 0.7], [0.7, 0.6]]
    _run(tmp_path / "mv", "multiviewvlm", "pseudo", [0.6, 1.0, 0.75], naming=naming)
    (tmp_path / "empty").mkdir()
    runs = find_cv_runs(tmp_path)
    assert list(runs) == ["mv", "probe"]  # a folder without finished folds is not a run
    table = cv_table(runs, reference="probe")
    assert list(table.columns) == CV_TABLE_COLUMNS
    row = table.set_index("run").loc["mv"]
    assert row["accuracy"] == pytest.approx(np.mean([0.6, 1.0, 0.75]))
    assert row["std"] == pytest.approx(np.std([0.6, 1.0, 0.75]))  # population std, as summarize
    assert row["macro_f1"] == pytest.approx(np.mean([0.5, 0.9, 0.65]))
    assert row["naming_first"] == pytest.approx(0.8) and row["naming_last"] == pytest.approx(0.6)
    assert row["vs_reference"] == pytest.approx(np.mean([-0.2, 0.1, 0.05]))
    assert row["p_reference"] == pytest.approx(ttest_rel([0.6, 1.0, 0.75], [0.8, 0.9, 0.7]).pvalue)
    assert row["cv_time_s"] == pytest.approx(30.0) and row["n_folds"] == 3
    assert "synthetic" in row["data"] and "label-free" in row["protocol"]
    ref = table.set_index("run").loc["probe"]
    assert math.isnan(ref["vs_reference"]) and math.isnan(ref["naming_first"])
    assert ref["protocol"] == "linear probe (training labels used)"


def test_unknown_reference_and_missing_folder(tmp_path):
    with pytest.raises(ValueError, match="reference='probe'"):
        cv_table({"a": tmp_path}, reference="probe")
    assert find_cv_runs(tmp_path / "absent") == {}
    assert cv_table({"a": tmp_path}).empty
