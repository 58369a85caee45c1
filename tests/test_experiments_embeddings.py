"""Tests for fervlm.experiments.embeddings: a trained fold's test embeddings and their UMAP projection."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from fervlm.evaluate import prototype_predict
from fervlm.experiments.embeddings import embed_test_split, umap_projection
from fervlm.experiments.explain import load_trained_method


def test_embed_test_split_reproduces_the_folds_predictions(tiny_smile_run) -> None:
    fold = tiny_smile_run[2]
    emb, labels, preds, classes = embed_test_split(fold)
    saved = pd.read_csv(fold / "predictions.csv")
    assert emb.shape[0] == len(saved) and emb.ndim == 2
    np.testing.assert_array_equal(labels, saved["label"].to_numpy())
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)  # fused embeddings are unit
    # Re-embedding is faithful: nearest-prototype on the re-computed embeddings gives the saved predictions.
    method = load_trained_method(fold)
    again, _ = prototype_predict(torch.as_tensor(emb), method.prototypes)
    np.testing.assert_array_equal(again.numpy(), preds)
    assert classes == list(method.classes)


def test_umap_projection_is_2d_and_seeded() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(2, 8)) * 5
    emb = np.concatenate([c + rng.normal(size=(10, 8)) for c in centres])
    xy = umap_projection(emb, seed=0)
    assert xy.shape == (20, 2)
    np.testing.assert_allclose(umap_projection(emb, seed=0), xy)  # same seed, same map
    # the two well-separated groups stay apart: every point is nearer its own group's centre
    mid = [xy[:10].mean(0), xy[10:].mean(0)]
    own = np.linalg.norm(xy[:10] - mid[0], axis=1) < np.linalg.norm(xy[:10] - mid[1], axis=1)
    assert own.all()
