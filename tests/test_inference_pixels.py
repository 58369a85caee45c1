"""fervlm.inference.pixels: the fitted pixel baseline in the app's model list, reloaded, and on the page."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from fervlm.benchmarks.toy import make_toy_table
from fervlm.inference import InputError, example_mesh, find_runs, load_predictor, views_from_mesh
from fervlm.inference.pixels import PixelsPredictor
from fervlm.methods.pixels import PIXELS_FILE
from fervlm.train import fit_fold, fold_dir

APP = str(Path(__file__).resolve().parents[1] / "fervlm" / "app.py")


@pytest.fixture(scope="module")
def pixels_run(tmp_path_factory):
    """One pixels fold on the toy table: (outputs root, fold folder, index path)."""
    root = tmp_path_factory.mktemp("outputs")
    index = make_toy_table(tmp_path_factory.mktemp("toy"), n_subjects=8, size=16)
    config = dict(method="pixels", folds=4, pixels_size=8, pixels_pca=10, num_workers=0)
    fit_fold(config, index, 0, root / "px")
    return root, fold_dir(root / "px", 0), index


def test_find_runs_lists_the_pixel_baseline_with_what_it_reads(pixels_run):
    root, run, _ = pixels_run
    (found,) = find_runs(root)
    assert found.checkpoint == run / PIXELS_FILE and found.method == "pixels"
    assert found.backbone == "grey 8 px, PCA 10" and found.accuracy is not None and found.fold == 0
    assert found.label(root).startswith("Pixel baseline · training labels used · ")


def test_reloaded_baseline_reproduces_the_folds_test_predictions(pixels_run):
    _, run, index = pixels_run
    predictor = load_predictor(run)
    assert isinstance(predictor, PixelsPredictor) and not predictor.explainable
    assert predictor.method_name == "pixels" and predictor.image_size == 8
    assert load_predictor(run / PIXELS_FILE).classes == predictor.classes
    table = pd.read_csv(index)
    predictions = pd.read_csv(run / "predictions.csv")
    for _, row in predictions.head(6).iterrows():
        views = np.stack(
            [
                np.asarray(Image.open(index.parent / table.at[row["index"], f"view_{yaw}"]).convert("RGB"))
                for yaw in (-30, 0, 30)
            ]
        )
        answer = predictor.predict(views)
        assert answer.class_index == row["pred"]
        expected = [row[f"score_{c}"] for c in predictor.classes]
        np.testing.assert_allclose(answer.probabilities, expected, atol=1e-5)
        assert answer.nearest_prompts == [] and answer.view_weights is None
    with pytest.raises(InputError, match="Grad-CAM does not apply"):
        predictor.gradcam(views)


def test_missing_config_is_a_clear_error(pixels_run, tmp_path):
    _, run, _ = pixels_run
    (tmp_path / PIXELS_FILE).write_bytes((run / PIXELS_FILE).read_bytes())
    with pytest.raises(FileNotFoundError, match=r"no config\.json"):
        load_predictor(tmp_path)


def test_app_shows_the_baselines_prediction_and_says_why_there_is_no_gradcam(monkeypatch, pixels_run):
    root, run, _ = pixels_run
    monkeypatch.setenv("FERVLM_OUTPUTS", str(root))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.selectbox(key="model").value.startswith("Pixel baseline · ")
    assert any("Grad-CAM does not apply" in i.value for i in at.info)
    views = views_from_mesh(example_mesh("happiness", seed=0), size=224)
    expected = load_predictor(run).predict(views)
    shown = at.session_state["prediction"]
    assert shown["label"] == expected.label
    np.testing.assert_allclose(shown["probabilities"], expected.probabilities, atol=1e-6)
