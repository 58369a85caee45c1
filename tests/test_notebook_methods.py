"""Notebooks 02 (AffectVLM), 03 (MultiviewVLM), 04 (SMILE-VLM) and their helpers in `fervlm.viz.training`.

The helper tests are fast; the notebook runs execute each notebook with papermill at a smoke size (4 synthetic
subjects, 32 px, 1 epoch, fold 0 of 2, tiny ViT) into one shared tmp folder, so the data are generated and
rendered once for the three of them.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import papermill as pm
import pytest

from fervlm.evaluate import write_metrics
from fervlm.notebook import validate_params
from fervlm.viz.training import (
    TrainingNotebookConfig,
    fold_metrics,
    plot_fold_accuracy,
    plot_loss_curves,
    plot_prototype_scores,
    plot_pseudo_rounds,
    plot_view_weights,
    pseudo_rounds_table,
    results_table,
)

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
METHOD_NOTEBOOKS = ("02_affectvlm", "03_multiviewvlm", "04_smilevlm")
SMOKE = {
    "synthetic_subjects": 4,
    "image_size": 32,
    "epochs": 1,
    "k_folds": 2,
    "run_folds": [0],
    "backbone": "fervlm-tiny",
    "batch_size": 8,
}


# ---------------------------------------------------------------------------------------------
# Parameters


@pytest.mark.parametrize("name", METHOD_NOTEBOOKS)
def test_parameters_cell_declares_the_profile_names(name: str) -> None:
    declared = pm.inspect_notebook(str(NOTEBOOKS / f"{name}.ipynb"))
    expected = {
        "profile",
        "dataset",
        "dataset_root",
        "backbone",
        "weights",
        "image_size",
        "views",
        "epochs",
        "batch_size",
        "lr",
        "k_folds",
        "run_folds",
        "accelerator",
        "devices",
        "num_workers",
        "seed",
        "synthetic_subjects",
        "output_dir",
    }
    if name != "02_affectvlm":
        expected.add("prompt_sources")
    assert set(declared) == expected
    # Every declared parameter is a field of the config the notebook validates against.
    assert set(declared) <= set(TrainingNotebookConfig.__dataclass_fields__)
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    assert "not benchmark results" in "".join(c.source for c in nb.cells if c.cell_type == "markdown")


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="unknown notebook parameter"):
        validate_params(TrainingNotebookConfig, epoch=3)
    with pytest.raises(ValueError, match="run_folds"):
        validate_params(TrainingNotebookConfig, run_folds="some")
    with pytest.raises(ValueError, match="run_folds"):
        TrainingNotebookConfig(k_folds=2, run_folds=[2])
    with pytest.raises(ValueError, match="prompt_sources"):
        TrainingNotebookConfig(prompt_sources=["labels"])
    with pytest.raises(ValueError, match="dataset"):
        TrainingNotebookConfig(dataset="bu3dfe_IX")
    with pytest.raises(ValueError, match="k_folds"):
        TrainingNotebookConfig(k_folds=1, run_folds=[0])


def test_run_folds_all_and_train_config_mapping() -> None:
    cfg = validate_params(TrainingNotebookConfig, run_folds="all", k_folds=3, epochs=4, weights="none")
    assert cfg.folds_to_run == [0, 1, 2] and cfg.interactive_fold == 0
    cfg = TrainingNotebookConfig(run_folds=[3, 1], epochs=4, lr=2e-3, batch_size=8, k_folds=5, seed=7)
    assert cfg.interactive_fold == 3
    train = cfg.train_config("multiviewvlm", prompt_source="pseudo")
    assert (train.method, train.prompt_source, train.epochs, train.lr, train.batch_size) == (
        "multiviewvlm",
        "pseudo",
        4,
        2e-3,
        8,
    )
    assert train.weights == "facs" and train.image_size is None  # the FACS prior; the tower's own input size
    assert dataclasses.replace(cfg, weights="none").train_config("affectvlm").weights is None  # random init
    assert train.views == ("-30", "0", "30") and train.folds == 5 and train.seed == train.fold_seed == 7
    assert train.lambda_mt == 0.0  # the quick training profile's values stay under the notebook's
    with pytest.raises(ValueError, match="prompt_source"):
        cfg.train_config("affectvlm", prompt_source="pseudo")  # AffectVLM is supervised


# ---------------------------------------------------------------------------------------------
# Tables and figures from hand-written run folders


def _fold(fold: int, acc: float, rounds: list[float] | None = None) -> dict:
    m = {
        "fold": fold,
        "accuracy": acc,
        "macro_f1": acc / 2,
        "cluster_acc": 0.5,
        "nmi": 0.4,
        "ari": 0.1,
        "classes": ["a", "b"],
        "per_class_f1": {"a": acc, "b": 0.0},
        "confusion_matrix": [[1, 0], [1, 0]],
    }
    if rounds is not None:
        m["pseudo_label_accuracy"] = rounds
        m["pseudo_rounds"] = [
            {
                "round": i,
                "epoch": 2 * i,
                "method": "kmeans",
                "accuracy": a,
                "cluster_acc": a,
                "nmi": 0.1,
                "ari": 0.0,
                "cluster_sizes": [1, 1],
            }
            for i, a in enumerate(rounds)
        ]
    return m


def test_results_table_and_fold_metrics(tmp_path: Path) -> None:
    from fervlm.evaluate import summarize

    run = tmp_path / "pseudo"
    folds = [_fold(0, 0.5, [0.2, 0.4]), _fold(1, 0.75, [0.3, 0.6])]
    for m in folds:
        write_metrics(run / f"fold-{m['fold']:02d}" / "metrics.json", m)
    summary = summarize(folds)
    summary.update(method="multiviewvlm", prompt_source="pseudo")
    write_metrics(run / "summary.json", summary)

    assert [m["accuracy"] for m in fold_metrics(run, [1, 0])] == [0.75, 0.5]
    with pytest.raises(FileNotFoundError, match="fold 2"):
        fold_metrics(run, [2])
    table = results_table({"mv (pseudo)": run}, keys=("accuracy", "nmi", "missing"))
    assert table.to_dict("records") == [
        {
            "run": "mv (pseudo)",
            "method": "multiviewvlm",
            "prompt_source": "pseudo",
            "protocol": "label-free (pseudo-label prompts)",
            "folds": 2,
            "accuracy": "0.625 ± 0.125",
            "nmi": "0.400 ± 0.000",
        }
    ]
    with pytest.raises(FileNotFoundError, match="summary"):
        results_table({"x": tmp_path / "nothing"})

    rounds = pseudo_rounds_table(folds[1])
    assert rounds["accuracy"].tolist() == [0.3, 0.6] and rounds["epoch"].tolist() == [0, 2]
    assert pseudo_rounds_table(_fold(0, 0.5)).empty
    fig = plot_pseudo_rounds(folds)
    assert [line.get_ydata().tolist() for line in fig.axes[0].lines] == [[0.2, 0.4], [0.3, 0.6]]
    with pytest.raises(ValueError, match="pseudo-label rounds"):
        plot_pseudo_rounds([_fold(0, 0.5)])
    fig = plot_fold_accuracy({"label": folds, "pseudo": [folds[1]]}, chance=0.5)
    heights = [[p.get_height() for p in c] for c in fig.axes[0].containers]
    assert heights[0] == [0.5, 0.75]
    assert np.isnan(heights[1][0]) and heights[1][1] == 0.75  # a fold the run lacks is a gap, not a zero


def test_loss_curves_draw_every_loss_part() -> None:
    history = pd.DataFrame(
        {
            "epoch": [0, 1, 2],
            "step": [3, 6, 9],
            "train_acc": [0.2, 0.3, 0.5],
            "train_con_loss": [2.0, 1.5, 1.0],
            "train_pos_loss": [0.7, 0.5, 0.4],
            "train_loss": [2.7, 2.0, 1.4],
            "lr": [1e-3] * 3,
            "pseudo_acc": [0.3, np.nan, 0.5],
        }
    )
    fig = plot_loss_curves(history)
    left, right = fig.axes
    assert [line.get_label() for line in left.lines] == ["con", "pos", "total"]
    assert left.lines[0].get_xdata().tolist() == [1, 2, 3]  # epochs counted from 1
    assert [line.get_label() for line in right.lines] == [
        "train accuracy (prototypes)",
        "pseudo-label accuracy",
    ]
    with pytest.raises(ValueError, match="no epochs"):
        plot_loss_curves(history.iloc[:0])


def test_prototype_scores_and_view_weights_figures() -> None:
    classes = ["anger", "joy", "fear"]
    predictions = pd.DataFrame(
        {
            "index": [4, 9],
            "label": [1, 2],
            "pred": [1, 0],
            "score_anger": [0.1, 0.9],
            "score_joy": [0.8, 0.2],
            "score_fear": [0.3, 0.4],
        }
    )
    fig = plot_prototype_scores(predictions, classes, n=6)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 2
    assert [p.get_width() for p in visible[0].patches] == [0.1, 0.8, 0.3]
    assert "joy ✓" in visible[0].get_title() and "fear ✗" in visible[1].get_title()
    weights = pd.DataFrame(
        {
            "index": [0, 1, 2],
            "label": ["a", "a", "b"],
            "weight_-30": [0.2, 0.4, 0.5],
            "weight_0": [0.8, 0.6, 0.5],
        }
    )
    fig = plot_view_weights(weights)
    heights = [[p.get_height() for p in c] for c in fig.axes[0].containers]
    assert np.allclose(heights, [[0.3, 0.5], [0.7, 0.5]])  # per-class means of each view
    with pytest.raises(ValueError, match="weight_"):
        plot_view_weights(weights[["index", "label"]])


# ---------------------------------------------------------------------------------------------
# The notebooks, at smoke size


@pytest.fixture(scope="module")
def smoke_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder (data, render cache) shared by the three notebook runs."""
    return tmp_path_factory.mktemp("methods_notebooks")


def _run(name: str, root: Path, **extra: object) -> tuple[Path, dict]:
    out = root / name
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FERVLM_CACHE", str(root / "cache"))
        pm.execute_notebook(
            str(NOTEBOOKS / f"{name}.ipynb"),
            str(root / f"{name}.ipynb"),
            parameters={"output_dir": str(out), "dataset_root": str(root / "bu3dfe"), **SMOKE, **extra},
            kernel_name="python3",
            cwd=str(root),
            progress_bar=False,
        )
    executed = json.loads((root / f"{name}.ipynb").read_text())
    return out, executed


def _text(executed: dict) -> str:
    return "".join(
        "".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
        for c in executed["cells"]
        for o in c.get("outputs", [])
    )


def _images(executed: dict) -> int:
    return sum("image/png" in o.get("data", {}) for c in executed["cells"] for o in c.get("outputs", []))


def _check_figures(out: Path, names: list[str]) -> None:
    for name in names:
        assert (out / f"{name}.png").stat().st_size > 1000, name


@pytest.mark.slow
def test_02_affectvlm_runs(smoke_root: Path) -> None:
    out, executed = _run("02_affectvlm", smoke_root)
    _check_figures(out, ["loss_curves", "fold_accuracy", "confusion_matrix", "per_class_f1"])
    assert _images(executed) == 4
    for variant in ("affectvlm", "zeroshot", "linearprobe", "pixels"):
        metrics = json.loads((out / variant / "fold-00" / "metrics.json").read_text())
        assert metrics["method"] == variant and metrics["n_test"] > 0
    history = pd.read_csv(out / "affectvlm" / "fold-00" / "history.csv")
    assert {"train_align_loss", "train_mc_loss", "train_mt_loss", "train_alpha"} <= set(history.columns)
    results = pd.read_csv(out / "results.csv")
    assert results["run"].tolist() == ["affectvlm", "zeroshot", "linearprobe", "pixels"]
    assert "mean_diff" in _text(executed)  # the runs paired with the pixel baseline, fold by fold
    assert "not benchmark results" in json.dumps(executed)


@pytest.mark.slow
def test_03_multiviewvlm_runs_both_prompt_sources(smoke_root: Path) -> None:
    out, executed = _run("03_multiviewvlm", smoke_root)
    _check_figures(
        out,
        [
            "loss_curves_label",
            "loss_curves_pseudo",
            "fold_accuracy",
            "pseudo_label_rounds",
            "confusion_matrix_label",
            "per_class_f1_pseudo",
        ],
    )
    label = json.loads((out / "label" / "fold-00" / "metrics.json").read_text())
    pseudo = json.loads((out / "pseudo" / "fold-00" / "metrics.json").read_text())
    assert (label["prompt_source"], pseudo["prompt_source"]) == ("label", "pseudo")
    assert "pseudo_label_accuracy" not in label and len(pseudo["pseudo_label_accuracy"]) >= 1
    assert {"cluster_acc", "nmi", "ari"} <= set(pseudo)
    results = pd.read_csv(out / "results.csv")
    assert results["prompt_source"].tolist() == ["label", "pseudo"]
    assert "multiviewvlm (pseudo)" in _text(executed)


@pytest.mark.slow
def test_04_smilevlm_runs_and_shows_fusion_weights(smoke_root: Path) -> None:
    out, _ = _run("04_smilevlm", smoke_root)
    _check_figures(
        out,
        [
            "loss_curves_label",
            "loss_curves_pseudo",
            "view_weights",
            "prototype_scores",
            "fold_accuracy",
            "confusion_matrix_pseudo",
        ],
    )
    history = pd.read_csv(out / "label" / "fold-00" / "history.csv")
    assert {"train_bt_loss", "train_align_loss", "train_red_loss"} <= set(history.columns)
    weights = pd.read_csv(out / "view_weights_label.csv")
    cols = ["weight_-30", "weight_0", "weight_30"]
    assert np.allclose(weights[cols].sum(axis=1), 1.0, atol=1e-5)  # softmax over views (eq. 5)
    assert len(weights) == json.loads((out / "label" / "fold-00" / "metrics.json").read_text())["n_test"]
    assert pd.read_csv(out / "results.csv")["prompt_source"].tolist() == ["label", "pseudo"]


def test_zero_epochs_keep_each_methods_profile_default() -> None:
    # The sweep passes epochs=0 in the quick profile: every method keeps its own quick default.
    from fervlm.runs import load_profile

    quick = load_profile("quick")
    cfg = TrainingNotebookConfig(epochs=0)
    assert cfg.train_config("affectvlm").epochs == quick.training["epochs"]
    assert cfg.train_config("smilevlm").epochs == quick.method_training["smilevlm"]["epochs"]
    assert TrainingNotebookConfig(epochs=3).train_config("smilevlm").epochs == 3
    with pytest.raises(ValueError, match="epochs"):
        TrainingNotebookConfig(epochs=-1)
