"""SMILE-VLM's learned view-aware fusion weights on a trained fold's test set (notebook 04).

The fusion head weighs each view's embedding by ``w = softmax_i(MLP(z'_i))`` (docs/methods.md §4; SMILE-VLM
eq. 5). `fit_fold` saves predictions, not these weights, so `view_fusion_weights` reloads the fold and
re-embeds its test samples; `fervlm.viz.training.plot_view_weights` draws the result.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import torch

from fervlm.data import FERDataModule, load_table, normalization_of
from fervlm.folds import load_folds
from fervlm.inference import load_predictor

if TYPE_CHECKING:
    from fervlm.methods.config import TrainConfig

__all__ = ["view_fusion_weights"]


def view_fusion_weights(fold_run: str | Path, index_csv: str | Path, config: TrainConfig) -> pd.DataFrame:
    """Learned view-aware fusion weights ``w = softmax_i(MLP(z'_i))`` (SMILE-VLM eq. 5) on a fold's test set.

    Rebuilds the method from ``config``, loads ``fold_run/last.ckpt`` and the folds of
    ``fold_run/../folds.json``, and embeds the fold's test samples without augmentation.

    Returns:
        One row per test sample: ``index``, ``label`` (class name), ``weight_<view>`` per configured view.
    """
    fold_run = Path(fold_run)
    if config.method != "smilevlm":
        raise ValueError(f"config method={config.method!r}: only SMILE-VLM learns view-fusion weights")
    ckpt = fold_run / "last.ckpt"
    if not ckpt.is_file():
        raise FileNotFoundError(f"{ckpt}: the fold has no checkpoint")
    fold = int(fold_run.name.split("-")[-1])
    table, root = load_table(index_csv)
    method = load_predictor(fold_run).method
    _, test_rows = load_folds(fold_run.parent / "folds.json", table)[fold]
    mean, std = normalization_of(method.backbone.preprocess_val)
    data = FERDataModule(
        table,
        root,
        test_rows[:0],
        test_rows,
        method.classes,
        views=config.views,
        image_size=config.image_size or method.backbone.image_size,
        mean=mean,
        std=std,
        batch_size=config.batch_size,
        augment="none",
        num_workers=0,
        seed=config.seed,
    )
    weights, labels, rows = [], [], []
    with torch.no_grad():
        for batch in data.test_dataloader():
            _, w = method.fusion(method.embed_views(batch["images"]))
            weights.append(w)
            labels.append(batch["label"])
            rows.append(batch["index"])
    w = torch.cat(weights).numpy()
    out = pd.DataFrame(
        {"index": torch.cat(rows).numpy(), "label": [method.classes[i] for i in torch.cat(labels).tolist()]}
    )
    for v, view in enumerate(config.views):
        out[f"weight_{view}"] = w[:, v]
    return out
