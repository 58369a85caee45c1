"""Image transforms of the training data: the backbone's normalisation and mixed-view augmentation.

* **Mixed-view augmentation** (AffectVLM §III-C): every view of a sample gets an *independently drawn*
  transform from {horizontal flip, rotation ±10°, random resized crop (scale 0.8–1), scale jitter}
  (:func:`view_augmentations`, docs/methods.md §2); `fervlm.data.MultiviewDataset` applies it.
* **Augmentation draws are keyed on (seed, epoch, row, draw)** (:func:`augmentation_seed`), not taken from
  a running random stream, so a run resumed at epoch ``k`` draws exactly what the uninterrupted run drew
  at epoch ``k``, whatever the number of loader workers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torchvision.transforms import v2

__all__ = ["OPENAI_MEAN", "OPENAI_STD", "augmentation_seed", "normalization_of", "view_augmentations"]

#: open_clip's default (OpenAI) normalisation, used when a transform carries none.
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def normalization_of(transform: Any) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The (mean, std) of the ``Normalize`` step inside an open_clip preprocess transform."""
    for step in getattr(transform, "transforms", []):
        if hasattr(step, "mean") and hasattr(step, "std"):
            return tuple(float(m) for m in step.mean), tuple(float(s) for s in step.std)
    return OPENAI_MEAN, OPENAI_STD


def view_augmentations(size: int) -> list[v2.Transform]:
    """The AffectVLM mixed-view augmentation menu (AffectVLM §III-C) for ``size``-pixel images."""
    return [
        v2.RandomHorizontalFlip(p=1.0),
        v2.RandomRotation(degrees=10),
        v2.RandomResizedCrop(size, scale=(0.8, 1.0), ratio=(0.9, 1.1), antialias=True),
        v2.RandomAffine(degrees=0, scale=(0.9, 1.1)),  # scale jitter
    ]


def augmentation_seed(seed: int, epoch: int, row: int, draw: int) -> int:
    """The torch seed of one augmentation draw: a hash of (run seed, epoch, table row, draw number).

    ``draw`` tells apart the two augmentations SMILE-VLM takes of the same sample (0 and 1). A
    ``SeedSequence`` hash keeps neighbouring keys' streams unrelated.
    """
    key = [int(seed) % 2**63, int(epoch), int(row), int(draw)]
    return int(np.random.SeedSequence(key).generate_state(1, np.uint64)[0] >> np.uint64(1))
