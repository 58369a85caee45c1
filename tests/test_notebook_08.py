"""Notebook 08 (micro-expressions, SMILE-VLM Table V): table helpers and a papermill run at smoke size."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import papermill as pm
import pytest

from fervlm.evaluate import read_metrics
from fervlm.experiments import read_prepared
from fervlm.viz.micro import (
    MicroConfig,
    micro_table,
    one_vs_rest_accuracy,
    plot_dynamic_images,
    plot_micro_f1,
    table_v_order,
)

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
        "classes": classes,
        "accuracy": {"mean": 0.75},
        "per_class_f1": {"negative": {"mean": 0.5}, "positive": {"mean": 1.0}},
        "confusion_matrix": [[1, 1], [0, 2]],
    }
    table = micro_table({"smilevlm/front": summary}, ["positive", "negative"])
    assert list(table.columns) == ["positive", "negative", "average", "accuracy"]
    assert table.loc[("F1-score", "smilevlm/front"), "average"] == pytest.approx(0.75)
    assert table.loc[("Accuracy (%)", "smilevlm/front"), "positive"] == pytest.approx(75.0)
    assert table.loc[("Accuracy (%)", "smilevlm/front"), "accuracy"] == pytest.approx(75.0)
    assert table_v_order(["others", "negative", "positive"]) == ["positive", "negative", "others"]


def test_f1_figure_has_a_bar_per_configuration_and_class() -> None:
    def summary(f1_neg: float, f1_pos: float) -> dict:
        return {
            "classes": ["negative", "positive"],
            "accuracy": {"mean": 0.5},
            "per_class_f1": {"negative": {"mean": f1_neg}, "positive": {"mean": f1_pos}},
            "confusion_matrix": [[1, 1], [1, 1]],
        }

    table = micro_table(
        {"smilevlm/front": summary(0.2, 0.6), "pixels/front": summary(0.4, 0.8)}, ["positive", "negative"]
    )
    ax = plot_micro_f1(table).axes[0]
    heights = [p.get_height() for p in ax.patches]
    # One series per configuration; within it positive, negative, average (Table V order).
    assert heights == pytest.approx([0.6, 0.2, 0.4, 0.8, 0.4, 0.6])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["smilevlm/front", "pixels/front"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["positive", "negative", "average"]


def test_dynamic_image_figure_shows_each_views_file(tmp_path: Path) -> None:
    from PIL import Image

    from fervlm.benchmarks.toy import make_toy_table
    from fervlm.data import load_table

    yaws = (-30, 0, 30)
    table, root = load_table(
        make_toy_table(tmp_path, n_subjects=2, classes=("negative", "positive"), yaws=yaws)
    )
    fig = plot_dynamic_images(table, root, yaws, per_class=1, seed=0)
    axes = np.array(fig.axes).reshape(2, 3)  # one sample per class, one column per view
    assert [ax.get_title() for ax in axes[0]] == ["left", "front", "right"]
    for r, label in enumerate(["negative", "positive"]):
        name = axes[r, 0].get_ylabel()
        assert name.startswith(f"{label}\n")
        row = table[table["sample_id"] == name.split("\n")[1]].iloc[0]
        assert row["label"] == label
        for c, yaw in enumerate(yaws):
            with Image.open(root / row[f"view_{yaw}"]) as image:
                np.testing.assert_array_equal(axes[r, c].images[0].get_array(), np.asarray(image))


def test_config_rejects_bad_values() -> None:
    assert MicroConfig().dataset == "synthetic_4dme"
    with pytest.raises(ValueError, match="view_sets"):
        MicroConfig(view_sets=["top"])
    with pytest.raises(ValueError, match="need yaws"):
        MicroConfig(views=[0])
    with pytest.raises(ValueError, match="methods"):
        MicroConfig(methods=["linearprobe"])


@pytest.mark.slow
def test_notebook_runs_at_smoke_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, same_figure) -> None:
    monkeypatch.setenv("FERVLM_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    start = time.perf_counter()
    pm.execute_notebook(
        str(NOTEBOOK),
        str(tmp_path / "08.ipynb"),
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
        parameters=dict(
            output_dir=str(out),
            dataset_root=str(tmp_path / "4dme"),
            synthetic_subjects=4,
            image_size=32,
            epochs=1,
            k_folds=2,
            run_folds=[0],
            backbone="fervlm-tiny",
            batch_size=8,
        ),
    )
    elapsed = time.perf_counter() - start
    table = pd.read_csv(out / "table_v.csv", index_col=[0, 1])
    classes = ["positive", "negative", "surprise", "repression", "others"]
    assert list(table.columns) == [*classes, "average", "accuracy"]
    configs = [f"{m}/{v}" for m in ("smilevlm", "pixels") for v in ("left", "right", "front", "multiview")]
    assert list(table.loc["F1-score"].index) == configs  # the pixel baseline beside SMILE-VLM
    assert (out / "pixels" / "multiview" / "fold-00" / "pixels.npz").is_file()
    for config in configs:  # every row is its configuration's summary.json
        summary = read_metrics(out / config / "summary.json")
        f1 = [summary["per_class_f1"][c]["mean"] for c in classes]
        assert table.loc[("F1-score", config), classes].tolist() == pytest.approx(f1, nan_ok=True)
        assert table.loc[("F1-score", config), "average"] == pytest.approx(np.nanmean(f1))
        assert table.loc[("Accuracy (%)", config), "accuracy"] == pytest.approx(
            100 * summary["accuracy"]["mean"]
        )
    # The figures are the package's drawings of the saved table and of the prepared sequences.
    same_figure(out / "per_class_f1.png", plot_micro_f1(table))
    (index_csv,) = (tmp_path / "cache").rglob("index.csv")
    views = plot_dynamic_images(read_prepared(index_csv), index_csv.parent, [-30, 0, 30], per_class=2, seed=0)
    same_figure(out / "dynamic_images.png", views)
    assert elapsed < 300  # ~40 s on an idle 2-core machine; headroom for a loaded test run
