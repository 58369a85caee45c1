"""fervlm.methods.ceiling: the cross-entropy ceiling (head init, loss reference, training, a fold run)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import pytorch_lightning as pl
import torch

from fervlm.benchmarks.toy import make_toy_table
from fervlm.data import MultiviewDataset, load_table
from fervlm.evaluate import prototype_predict
from fervlm.losses import total_loss
from fervlm.methods import CrossEntropyCeiling, TrainConfig, build_method
from fervlm.train import fit_fold, fold_dir

CLASSES = ["anger", "disgust", "fear", "happiness", "sadness", "surprise"]


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    return make_toy_table(tmp_path_factory.mktemp("toy"), n_subjects=6, size=16)


def _config(**kw):
    return TrainConfig.from_dict(dict(method="ceiling", backbone="fervlm-tiny", lr=1e-3, batch_size=12, **kw))


def _batch(index):
    table, root = load_table(index)
    ds = MultiviewDataset(table, root, np.arange(12), classes=CLASSES, image_size=64, augment="none")
    items = [ds[i] for i in range(len(ds))]
    keys = ("images", "label", "index")
    return table, {k: torch.stack([torch.as_tensor(it[k]) for it in items]) for k in keys}


def test_head_starts_as_the_zero_shot_classifier_and_loss_is_cross_entropy(index):
    table, batch = _batch(index)
    pl.seed_everything(0, verbose=False)
    method = build_method(_config(), table)
    assert isinstance(method, CrossEntropyCeiling)
    fused, _ = method.embed(batch["images"])
    pred, probs = method.scores(fused)
    zero_pred, _ = prototype_predict(fused, method.prototypes)
    assert torch.equal(pred, zero_pred) and torch.allclose(probs.sum(1), torch.ones(len(pred)))
    # Reference: -log softmax of the head's logits at the label, by hand.
    parts, out = method.compute_loss(batch)
    logits = fused @ method.head.weight.T + method.head.bias
    reference = -(logits - logits.exp().sum(1, keepdim=True).log()).gather(1, batch["label"][:, None]).mean()
    assert set(parts) == {"ce_loss"} and torch.allclose(parts["ce_loss"], reference, atol=1e-5)
    assert torch.allclose(out, fused, atol=1e-6)
    # Invariance: the loss does not depend on the order of the samples in the batch.
    perm = torch.randperm(12)
    shuffled = {k: v[perm] for k, v in batch.items()}
    assert torch.allclose(method.compute_loss(shuffled)[0]["ce_loss"], parts["ce_loss"], atol=1e-5)


def test_training_lowers_the_loss_and_moves_tower_and_head(index):
    table, batch = _batch(index)
    pl.seed_everything(0, verbose=False)
    method = build_method(_config(), table)
    head0 = method.head.weight.detach().clone()
    opt = method.configure_optimizers()["optimizer"]
    losses = []
    for _ in range(8):
        loss = total_loss(method.compute_loss(batch)[0])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert not torch.equal(method.head.weight, head0)
    assert not method.backbone.logit_scale.requires_grad  # unused by the loss


def test_the_ceiling_is_supervised_only():
    with pytest.raises(ValueError, match="ceiling is supervised: 'label' only"):
        _config(prompt_source="pseudo")


def test_fold_run_writes_curves_and_head_predictions(index, tmp_path):
    config = dict(method="ceiling", backbone="fervlm-tiny", folds=3, epochs=2, batch_size=8, num_workers=0)
    metrics = fit_fold(config, index, 0, tmp_path)
    run = fold_dir(tmp_path, 0)
    history = pd.read_csv(run / "history.csv")
    assert list(history["epoch"]) == [0, 1] and {"train_ce_loss", "train_acc"} <= set(history.columns)
    predictions = pd.read_csv(run / "predictions.csv")
    scores = predictions[[c for c in predictions.columns if c.startswith("score_")]].to_numpy()
    np.testing.assert_allclose(scores.sum(1), 1.0, atol=1e-5)  # softmax of the head, not cosines
    assert metrics["method"] == "ceiling" and 0.0 <= metrics["accuracy"] <= 1.0
