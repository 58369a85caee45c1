"""Notebook 08 (micro-expressions, SMILE-VLM Table V): table helpers and a papermill run at smoke size."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import papermill as pm
import pytest

from fervlm.viz.micro import MicroConfig, micro_table, one_vs_rest_accuracy, table_v_order

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "08_micro_expressions.ipynb"


def test_one_vs_rest_accuracy_matches_binary_counts() -> None:
    cm = np.array([[3, 1, 0], [0, 2, 2], [1, 0, 1]])
    y_true = np.repeat(np.arange(3), cm.sum(axis=1))
    y_pred = np.concatenate([np.repeat(np.arange(3), row) for row in cm])
    expected = [np.mean((y_true == c) == (y_pred == c)) for c in range(3)]
    assert np.allclose(one_vs_rest_accuracy(cm), expected)
    with pytest.raises(ValueError, match="square"):
        one_vs_rest_accuracy(np.ones((2, 3)))


def test_micro_table_has_table_v_layout() -> None:
    classes = ["negative", "positive"]
    summary = {
        "classes": classes, "accuracy": {"mean": 0.75},
        "per_class_f1": {"negative": {"mean": 0.5}, "positive": {"mean": 1.0}},
        "confusion_matrix": [[1, 1], [0, 2]],
    }
    table = micro_table({"smilevlm/front": summary}, ["positive", "negative"])
    assert list(table.columns) == ["positive", "negative", "average", "accuracy"]
    assert table.loc[("F1-score", "smilevlm/front"), "average"] == pytest.approx(0.75)
    assert table.loc[("Accuracy (%)", "smilevlm/front"), "positive"] == pytest.approx(75.0)
    assert table.loc[("Accuracy (%)", "smilevlm/front"), "accuracy"] == pytest.approx(75.0)
    assert table_v_order(["others", "negative", "positive"]) == ["positive", "negative", "others"]


def test_config_rejects_bad_values() -> None:
    assert MicroConfig().dataset == "synthetic_4dme"
    with pytest.raises(ValueError, match="view_sets"):
        MicroConfig(view_sets=["top"])
    with pytest.raises(ValueError, match="need yaws"):
        MicroConfig(views=[0])
    with pytest.raises(ValueError, match="methods"):
        MicroConfig(methods=["linearprobe"])


@pytest.mark.slow
def test_notebook_runs_at_smoke_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FERVLM_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    start = time.perf_counter()
    pm.execute_notebook(
        str(NOTEBOOK), str(tmp_path / "08.ipynb"), kernel_name="python3", cwd=str(tmp_path),
        progress_bar=False,
        parameters=dict(
            output_dir=str(out), dataset_root=str(tmp_path / "4dme"), synthetic_subjects=4, image_size=32,
            epochs=1, k_folds=2, run_folds=[0], backbone="fervlm-tiny", batch_size=8,
        ),
    )
    elapsed = time.perf_counter() - start
    for name in ("dynamic_images.png", "per_class_f1.png", "table_v.csv"):
        assert (out / name).stat().st_size > 0, name
    table = pd.read_csv(out / "table_v.csv", index_col=[0, 1])
    assert list(table.columns[:5]) == ["positive", "negative", "surprise", "repression", "others"]
    configs = [f"{m}/{v}" for m in ("smilevlm", "pixels") for v in ("left", "right", "front", "multiview")]
    assert list(table.loc["F1-score"].index) == configs  # the pixel baseline beside SMILE-VLM
    assert (out / "pixels" / "multiview" / "fold-00" / "pixels.npz").is_file()
    assert table.loc["F1-score"].drop(columns="accuracy").to_numpy().min() >= 0
    assert (out / "smilevlm" / "multiview" / "summary.json").is_file()
    assert elapsed < 300  # ~40 s on an idle 2-core machine; headroom for a loaded test run
