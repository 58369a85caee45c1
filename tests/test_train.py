"""fervlm.train: fold runs, skipping, resuming, cross-validation, DDP equivalence, CLI, config errors."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import pytorch_lightning as pl

from fervlm.benchmarks.toy import make_toy_table
from fervlm.cli import main as cli_main
from fervlm.evaluate import read_metrics
from fervlm.methods import TrainConfig
from fervlm.train import fit_fold, fold_dir, run_cv

BASE = dict(backbone="fervlm-tiny", batch_size=8, folds=4, num_workers=0, epochs=2, lr=1e-3)


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    return make_toy_table(tmp_path_factory.mktemp("toy"), n_subjects=8, size=16)


def test_fit_fold_writes_metrics_history_config_and_predictions(index, tmp_path):
    config = dict(BASE, method="multiviewvlm", prompt_source="pseudo", recluster_every=1)
    metrics = fit_fold(config, index, 1, tmp_path)
    run = fold_dir(tmp_path, 1)
    saved = read_metrics(run / "metrics.json")
    assert saved["accuracy"] == pytest.approx(metrics["accuracy"])
    for key in (
        "accuracy",
        "macro_f1",
        "per_class_f1",
        "confusion_matrix",
        "cluster_acc",
        "nmi",
        "ari",
        "wall_time_s",
        "pseudo_label_accuracy",
        "pseudo_rounds",
    ):
        assert key in saved, key
    assert saved["prompt_source"] == "pseudo" and saved["fold"] == 1 and saved["n_test"] == 12
    assert (saved["dataset"], saved["data_kind"]) == ("toy", "real")  # what the number was measured on
    assert len(saved["pseudo_label_accuracy"]) == 2  # one round per epoch
    cm = saved["confusion_matrix"]
    assert len(cm) == 6 and sum(map(sum, cm)) == 12
    history = pd.read_csv(run / "history.csv")
    assert history["epoch"].tolist() == [0, 1]
    assert {"train_loss", "train_con_loss", "train_neg_loss", "train_acc", "lr", "pseudo_acc"} <= set(history)
    assert json.loads((run / "config.json").read_text())["config"]["method"] == "multiviewvlm"
    predictions = pd.read_csv(run / "predictions.csv")
    assert len(predictions) == 12 and {"sample_id", "label", "pred", "score_anger"} <= set(predictions)
    assert (tmp_path / "folds.json").is_file() and (run / "last.ckpt").is_file()


class _Kill(pl.Callback):
    """Simulates a crash at the start of epoch 1 (after epoch 0's checkpoint was written)."""

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == 1:
            raise KeyboardInterrupt


def test_interrupted_fold_resumes_and_finished_fold_is_skipped(index, tmp_path):
    config = dict(BASE, method="affectvlm")
    with pytest.raises(SystemExit):  # Lightning turns the interrupt into a graceful exit
        fit_fold(config, index, 0, tmp_path, callbacks=[_Kill()])
    run = fold_dir(tmp_path, 0)
    assert (run / "last.ckpt").is_file() and not (run / "metrics.json").exists()
    assert pd.read_csv(run / "history.csv")["epoch"].tolist() == [0]

    class _Record(pl.Callback):
        def __init__(self):
            self.epochs = []

        def on_train_epoch_start(self, trainer, pl_module):
            self.epochs.append(trainer.current_epoch)

    record = _Record()
    metrics = fit_fold(config, index, 0, tmp_path, callbacks=[record])
    assert record.epochs == [1]  # continued from the checkpoint, did not restart
    assert pd.read_csv(run / "history.csv")["epoch"].tolist() == [0, 1]
    stamp = (run / "metrics.json").stat().st_mtime_ns
    again = fit_fold(config, index, 0, tmp_path, callbacks=[_Kill()])  # finished: nothing runs
    assert again["accuracy"] == metrics["accuracy"] and (run / "metrics.json").stat().st_mtime_ns == stamp


def test_run_cv_of_baselines_writes_summary(index, tmp_path):
    frame = run_cv(dict(BASE, method="linearprobe"), index, tmp_path, folds=[0, 2])
    assert frame["fold"].tolist() == [0, 2]
    summary = read_metrics(tmp_path / "summary.json")
    assert summary["n_folds"] == 2 and summary["method"] == "linearprobe"
    assert summary["accuracy"]["mean"] == pytest.approx(frame["accuracy"].mean())
    assert summary["accuracy"]["mean"] > 0.5  # the toy classes are linearly separable in the frozen features
    assert pd.read_csv(tmp_path / "folds.csv").shape[0] == 2


def test_ddp_two_cpu_processes_match_one_process(index, tmp_path):
    """2 gloo processes × 4 samples = the same global batch as 1 process × 8: same fold metrics."""
    config = dict(BASE, method="affectvlm", augment="none", epochs=1, accelerator="cpu")
    single = fit_fold(dict(config, devices=1), index, 0, tmp_path / "one")
    double = fit_fold(dict(config, devices=2, strategy="ddp_spawn"), index, 0, tmp_path / "two")
    h1 = pd.read_csv(fold_dir(tmp_path / "one", 0) / "history.csv")
    h2 = pd.read_csv(fold_dir(tmp_path / "two", 0) / "history.csv")
    for col in ("train_loss", "train_align_loss", "train_mc_loss", "train_mt_loss", "train_acc"):
        # Reductions run in another order on 2 processes; Adam's first steps amplify the last bits.
        assert h2[col].to_numpy() == pytest.approx(h1[col].to_numpy(), rel=1e-3, abs=1e-4), col
    p1 = pd.read_csv(fold_dir(tmp_path / "one", 0) / "predictions.csv")
    p2 = pd.read_csv(fold_dir(tmp_path / "two", 0) / "predictions.csv")
    scores = [c for c in p1 if c.startswith("score_")]
    assert p2[scores].to_numpy() == pytest.approx(p1[scores].to_numpy(), abs=1e-3)
    assert double["accuracy"] == single["accuracy"]
    assert double["macro_f1"] == pytest.approx(single["macro_f1"])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"method": "clip"}, "config method='clip': unknown method"),
        ({"batch_size": 1}, "config batch_size=1: affectvlm uses batch-wide losses"),
        ({"learning_rate": 0.1}, r"key\(s\) \['learning_rate'\]; valid keys: \['method', 'backbone'"),
        ({"prompt_source": "pseudo"}, "AffectVLM is supervised"),
        ({"disabled_losses": ("align", "mc", "mt")}, "every loss term is disabled"),
        ({"views": ("front", "top")}, "'top' is neither a view name"),
        ({"views": ("front", "45")}, "no image column for view '45'"),
    ],
)
def test_bad_configuration_fails_before_any_work(index, tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        fit_fold({**BASE, "method": "affectvlm", **overrides}, index, 0, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_fold_out_of_range_is_an_error(index, tmp_path):
    with pytest.raises(ValueError, match=r"fold=4: must be in \[0, 4\)"):
        fit_fold(TrainConfig.from_dict(dict(BASE)), index, 4, tmp_path)


def test_cli_train_and_cv(index, tmp_path, capsys):
    common = [
        "--index",
        str(index),
        "--out",
        str(tmp_path),
        "--set",
        "backbone=fervlm-tiny",
        "--set",
        "folds=4",
        "--set",
        "num_workers=0",
    ]
    assert cli_main(["train", "--method", "zeroshot", "--fold", "3", *common]) == 0
    assert "zeroshot fold 3: accuracy" in capsys.readouterr().out
    assert cli_main(["cv", "--method", "zeroshot", "--folds", "3", *common]) == 0  # fold 3 is reused
    assert "(1 fold)" in capsys.readouterr().out
    assert cli_main(["train", "--method", "zeroshot", "--fold", "0", *common, "--set", "epochs=0"]) == 2
    assert "epochs=0: must be an integer >= 1" in capsys.readouterr().err


def test_cross_dataset_restricts_classes(index, tmp_path):
    from fervlm.train import cross_dataset

    other = make_toy_table(tmp_path / "other", n_subjects=2, size=16, seed=5)
    metrics = cross_dataset(
        dict(BASE, method="linearprobe"), index, other, tmp_path / "x", classes=("disgust", "happiness")
    )
    assert metrics["classes"] == ["disgust", "happiness"]
    assert metrics["n_test"] == 4 and metrics["n_train"] == 16
    assert len(metrics["confusion_matrix"]) == 2 and (tmp_path / "x" / "metrics.json").is_file()
    predictions = pd.read_csv(tmp_path / "x" / "predictions.csv")
    assert set(predictions["sample_id"].str.split("_").str[1]) == {"disgust", "happiness"}


def test_pseudo_run_with_a_validation_split_trains(index, tmp_path):
    """Validation rows are never clustered; they take the nearest named centroid of every round."""
    for method in ("multiviewvlm", "smilevlm"):
        config = dict(BASE, method=method, prompt_source="pseudo", recluster_every=1, val_fraction=0.3)
        metrics = fit_fold(config, index, 0, tmp_path / method)
        history = pd.read_csv(fold_dir(tmp_path / method, 0) / "history.csv")
        assert history["epoch"].tolist() == [0, 1] and history["val_loss"].notna().all(), method
        rounds = metrics["pseudo_rounds"]
        assert len(rounds) == 2 and all(0 <= r["val_accuracy"] <= 1 for r in rounds), method
        assert sum(rounds[0]["cluster_sizes"]) == metrics["n_train"]  # only training rows are clustered


def test_label_free_cross_dataset_reads_no_training_label(index, tmp_path):
    """prompt_source=pseudo: garbage training labels give the same run (rows, pseudo-labels, predictions)."""
    from fervlm.train import cross_dataset

    other = make_toy_table(tmp_path / "other", n_subjects=2, size=16, seed=5)
    garbage = shutil.copytree(index.parent, tmp_path / "garbage_table") / index.name
    table = pd.read_csv(garbage)
    labels = table["label"].to_numpy()
    table["label"] = [*labels[::-1][:-4], "neutral", "contempt", "", "happiness"]
    table.to_csv(garbage, index=False)
    config = dict(BASE, method="multiviewvlm", prompt_source="pseudo", recluster_every=1)
    runs = {}
    for name, train_index in (("true", index), ("garbage", garbage)):
        runs[name] = cross_dataset(
            config, train_index, other, tmp_path / name, classes=("disgust", "happiness")
        )
    assert runs["true"]["n_train"] == runs["garbage"]["n_train"] == 48  # every row, whatever its label
    assert runs["true"]["n_test"] == 4
    p_true = pd.read_csv(tmp_path / "true" / "predictions.csv")
    p_garbage = pd.read_csv(tmp_path / "garbage" / "predictions.csv")
    pd.testing.assert_frame_equal(p_true, p_garbage)
    h_true = pd.read_csv(tmp_path / "true" / "history.csv")
    h_garbage = pd.read_csv(tmp_path / "garbage" / "history.csv")
    assert h_true["train_loss"].tolist() == h_garbage["train_loss"].tolist()
    # The supervised protocol still restricts training rows to the classes.
    supervised = cross_dataset(
        dict(BASE, method="multiviewvlm", epochs=1),
        index,
        other,
        tmp_path / "label",
        classes=("disgust", "happiness"),
    )
    assert supervised["n_train"] == 16


def test_affectvlm_margin_is_logged_every_epoch_learnable_or_fixed(index, tmp_path):
    alphas = {}
    for mode in ("learnable", "fixed"):
        config = dict(BASE, method="affectvlm", epochs=3, margin_mode=mode, lambda_mt=0.0)
        fit_fold(config, index, 0, tmp_path / mode)
        history = pd.read_csv(fold_dir(tmp_path / mode, 0) / "history.csv")
        assert history["epoch"].tolist() == [0, 1, 2] and history["alpha"].notna().all()
        alphas[mode] = history["alpha"].to_numpy()
    assert alphas["fixed"] == pytest.approx([0.2, 0.2, 0.2])
    # λ_mt = 0: only L_mc moves α, and it pushes it up (fervlm.losses.margin).
    assert alphas["learnable"][0] > 0.2 and (alphas["learnable"][1:] > alphas["learnable"][:-1]).all()
