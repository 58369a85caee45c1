"""fervlm.methods.pixels: the classical pixel baseline (features, the saved model, a fold run, config)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fervlm.benchmarks.toy import make_toy_table
from fervlm.cli import main as cli_main
from fervlm.evaluate import read_metrics
from fervlm.methods import TrainConfig
from fervlm.methods.pixels import PIXELS_FILE, PixelsModel, fit_pixels, grey_features
from fervlm.train import fit_fold, fold_dir, run_cv


def _sklearn_pipeline(x, y, k, c):
    """The reference: the baseline as the issue describes it, in plain scikit-learn."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        StandardScaler(), PCA(n_components=k, svd_solver="full"), LogisticRegression(C=c, max_iter=5000)
    ).fit(x, y)


def _blobs(n_per_class: int, n_classes: int, dim: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (n_classes, dim))
    y = np.repeat(np.arange(n_classes), n_per_class)
    return centres[y] + rng.normal(0, 0.8, (len(y), dim)), y


def test_grey_features_are_the_bt601_luma_of_each_view_concatenated():
    rng = np.random.default_rng(0)
    views = rng.integers(0, 256, (2, 3, 5, 5, 3), dtype=np.uint8)  # (B, V, H, W, RGB)
    images = np.moveaxis(views, -1, 2) / 255.0  # (B, V, 3, H, W) in [0, 1]
    feats = grey_features(images)
    assert feats.shape == (2, 3 * 25)
    # PIL's "L" conversion is the same BT.601 luma (rounded to integers).
    pil = (
        np.stack(
            [
                np.concatenate([np.asarray(Image.fromarray(v).convert("L"), float).ravel() for v in sample])
                for sample in views
            ]
        )
        / 255.0
    )
    assert np.abs(feats - pil).max() < 1.01 / 255
    with pytest.raises(ValueError, match="expected"):
        grey_features(np.zeros((2, 3, 5, 5)))


@pytest.mark.parametrize("n_classes", [2, 4])
def test_saved_model_reproduces_the_sklearn_pipeline(tmp_path, n_classes):
    x, y = _blobs(15, n_classes, dim=2 * 4 * 4)
    names = [f"c{i}" for i in range(n_classes)]
    model, info = fit_pixels(x, y, names, ["left", "front"], 4, n_components=6, c=0.3)
    reference = _sklearn_pipeline(x, y, 6, 0.3)
    test_x, _ = _blobs(5, n_classes, dim=32, seed=1)
    np.testing.assert_allclose(model.predict_proba(test_x), reference.predict_proba(test_x), atol=1e-6)
    assert info["pca_components"] == 6 and info["n_train"] == len(y)
    assert info["train_accuracy"] == pytest.approx(reference.score(x, y))
    loaded = PixelsModel.load(model.save(tmp_path / PIXELS_FILE))
    assert loaded.classes == model.classes and loaded.views == ("left", "front") and loaded.size == 4
    np.testing.assert_array_equal(loaded.predict_proba(test_x), model.predict_proba(test_x))


def test_class_missing_from_training_is_never_predicted_and_pca_is_clipped():
    x, y = _blobs(4, 3, dim=48)  # 12 samples: PCA 60 is clipped to 12 components
    model, info = fit_pixels(x, y, ["a", "b", "c", "d"], ["front"], 4, n_components=60)
    assert info["pca_components"] == 12
    probs = model.predict_proba(x)
    assert probs.shape == (12, 4) and np.all(probs[:, 3] == 0)
    np.testing.assert_allclose(probs.sum(1), 1.0)
    with pytest.raises(ValueError, match="single class"):
        fit_pixels(x, np.zeros(len(x), int), ["a", "b"], ["front"], 4)
    with pytest.raises(ValueError, match="not among"):
        fit_pixels(x, y, ["a", "b"], ["front"], 4)
    with pytest.raises(ValueError, match="expected"):
        model.predict_proba(np.zeros((2, 10)))


def test_loading_a_foreign_or_inconsistent_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        PixelsModel.load(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a saved pixels model"):
        PixelsModel.load(tmp_path / "junk.npz")
    x, y = _blobs(5, 2, dim=16)
    model, _ = fit_pixels(x, y, ["a", "b"], ["front"], 4, n_components=3)
    bad = PixelsModel(
        model.classes,
        ("left", "front"),
        4,
        **{  # claims two views but holds one
            k: getattr(model, k) for k in ("mean", "scale", "pca_mean", "components", "coef", "intercept")
        },
    )
    with pytest.raises(ValueError, match="wrong shape"):
        PixelsModel.load(bad.save(tmp_path / "bad.npz"))


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    return make_toy_table(tmp_path_factory.mktemp("toy"), n_subjects=8, size=16)


def test_fold_run_saves_a_model_that_reproduces_the_predictions(index, tmp_path):
    config = dict(method="pixels", folds=4, pixels_size=8, pixels_pca=10, num_workers=0)
    metrics = fit_fold(config, index, 1, tmp_path)
    run = fold_dir(tmp_path, 1)
    assert read_metrics(run / "metrics.json")["method"] == "pixels"
    assert metrics["accuracy"] > 0.8  # the toy classes differ in colour and stripes: easy for pixels
    assert metrics["pixels"]["pca_components"] == 10 and metrics["epochs"] == 0
    assert {"nmi", "ari", "cluster_acc"} <= set(metrics)
    model = PixelsModel.load(run / PIXELS_FILE)
    assert model.size == 8 and model.classes == tuple(metrics["classes"])
    # Recompute the test predictions from the saved file and the images, independently of the data module.
    predictions = pd.read_csv(run / "predictions.csv")
    table = pd.read_csv(index)
    views = [
        np.stack(
            [
                np.asarray(
                    Image.open(index.parent / table.at[i, f"view_{yaw}"])
                    .convert("RGB")
                    .resize((8, 8), Image.Resampling.BILINEAR),
                    float,
                )
                / 255.0
                for yaw in (-30, 0, 30)
            ]
        )
        for i in predictions["index"]
    ]
    probs = model.predict_proba(grey_features(np.moveaxis(np.stack(views), -1, 2)))
    np.testing.assert_array_equal(probs.argmax(1), predictions["pred"].to_numpy())
    scores = predictions[[f"score_{c}" for c in model.classes]].to_numpy()
    np.testing.assert_allclose(probs, scores, atol=1e-5)


def test_run_cv_of_pixels_summarises_folds(index, tmp_path):
    config = dict(method="pixels", folds=4, pixels_size=8, num_workers=0)
    frame = run_cv(config, index, tmp_path, folds=[0, 3])
    assert frame["fold"].tolist() == [0, 3]
    summary = read_metrics(tmp_path / "summary.json")
    assert summary["method"] == "pixels" and summary["n_folds"] == 2
    assert (tmp_path / "fold-03" / PIXELS_FILE).is_file()


def test_cli_cv_of_pixels(index, tmp_path, capsys):
    common = ["--index", str(index), "--out", str(tmp_path), "--set", "folds=4", "--set", "pixels_size=8"]
    assert cli_main(["cv", "--method", "pixels", *common, "--set", "pixels_pca=5"]) == 0
    assert "pixels (prompt_source=label): accuracy" in capsys.readouterr().out
    assert read_metrics(tmp_path / "fold-00" / "metrics.json")["pixels"]["pca_components"] == 5
    assert cli_main(["cv", "--method", "pixels", *common, "--set", "pixels_c=-1"]) == 2
    assert "pixels_c=-1" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("overrides", "message"),
    [({"pixels_size": 2}, "pixels_size"), ({"pixels_pca": 0}, "pixels_pca"), ({"pixels_c": 0}, "pixels_c")],
)
def test_bad_pixel_settings_are_errors(overrides, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig.from_dict(dict(method="pixels", **overrides))
