"""`make_datamodule`: the `FERDataModule` a training config describes for a built method, in one place for
training (`fervlm.train.split`), the distributed timing (`fervlm.timing`) and the loader benchmark."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fervlm.data import FERDataModule, normalization_of
from fervlm.methods.config import TrainConfig


def make_datamodule(
    config: TrainConfig,
    method: Any,
    table: pd.DataFrame,
    root: str | Path,
    train_rows: np.ndarray,
    test_rows: np.ndarray,
    classes: Sequence[str] | None = None,
    **overrides: Any,
) -> FERDataModule:
    """The data module of `config` for `method` (a built `FERMethod`).

    Views are loaded at the tower's input size (`config.image_size` when set) and normalised as its
    preprocessing does; the pixel baseline, which has no tower, gets grey pixels at `config.pixels_size` in
    [0, 1]. SMILE-VLM gets two augmented copies of every view.

    Args:
        classes: the class list (default `method.classes`).
        overrides: `FERDataModule` keyword arguments that replace the config's (e.g. ``val_rows``,
            ``test_table``, or a benchmark's own ``batch_size``).
    """
    if config.method == "pixels":  # no network: grey pixels at the baseline's own size, in [0, 1]
        size, (mean, std) = config.pixels_size, ((0.0,) * 3, (1.0,) * 3)
    else:
        size = config.image_size or method.backbone.image_size
        mean, std = normalization_of(method.backbone.preprocess_val)
    kwargs: dict[str, Any] = {
        "views": config.views,
        "image_size": size,
        "mean": mean,
        "std": std,
        "batch_size": config.batch_size,
        "augment": config.augment,
        "two_views": config.method == "smilevlm",
        "num_workers": config.num_workers,
        "seed": config.seed,
    }
    kwargs.update(overrides)
    return FERDataModule(
        table, root, train_rows, test_rows, list(classes if classes is not None else method.classes), **kwargs
    )
