"""Tests for fervlm.experiments.fusion: SMILE-VLM's view-fusion weights on a trained fold's test set."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from fervlm.experiments.explain import load_trained_method
from fervlm.experiments.fusion import view_fusion_weights


def test_weights_are_a_softmax_over_the_views_of_each_test_sample(tiny_smile_run) -> None:
    index, _, fold = tiny_smile_run
    config = load_trained_method(fold).config
    weights = view_fusion_weights(fold, index, config)
    saved = pd.read_csv(fold / "predictions.csv")
    cols = [f"weight_{v}" for v in config.views]
    assert list(weights.columns) == ["index", "label", *cols]
    # One row per test sample of the fold, with its class name.
    assert sorted(weights["index"]) == sorted(saved["index"])
    classes = load_trained_method(fold).classes
    expected = dict(zip(saved["index"], (classes[i] for i in saved["label"]), strict=True))
    assert [expected[i] for i in weights["index"]] == list(weights["label"])
    w = weights[cols].to_numpy()
    assert (w > 0).all()
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-5)


def test_only_smilevlm_learns_fusion_weights(tiny_smile_run) -> None:
    index, _, fold = tiny_smile_run
    config = dataclasses.replace(load_trained_method(fold).config, method="affectvlm")
    with pytest.raises(ValueError, match="only SMILE-VLM"):
        view_fusion_weights(fold, index, config)


def test_a_fold_without_checkpoint_is_a_clear_error(tmp_path, tiny_smile_run) -> None:
    index, _, fold = tiny_smile_run
    config = load_trained_method(fold).config
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        view_fusion_weights(tmp_path / "fold-00", index, config)
