"""What one pretraining step sees, as pure functions of (seed, epoch, batch index): the captions of every
face, the epoch's image order and caption choice, and the augmentation. This is what makes a resumed run end
with the same weights as an uninterrupted one."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from fervlm.prior.captions import CaptionStyle, captions
from fervlm.prior.corpus import Corpus

_CAPTION_STREAM = 0xCA9  # keeps caption draws apart from every other stream of the same seed


def caption_table(
    corpus: Corpus, style: CaptionStyle, per_face: int, seed: int, tokenizer: Any
) -> tuple[list[list[str]], torch.Tensor]:
    """Write `per_face` captions of every face and tokenize them once.

    Returns:
        (texts [N][K], tokens (N, K, context) long; empty when `tokenizer` is None).
    """
    texts = []
    for i, act in enumerate(corpus.activations):
        rng = np.random.default_rng([seed, _CAPTION_STREAM, i])
        texts.append(captions(act, rng, per_face, style))
    if tokenizer is None:  # captions only (figures)
        return texts, torch.zeros(0, dtype=torch.long)
    flat = [t for row in texts for t in row]
    tokens = tokenizer(flat)
    return texts, tokens.reshape(len(texts), per_face, -1)


def _epoch_plan(
    n_faces: int, n_views: int, per_face: int, seed: int, epoch: int
) -> tuple[np.ndarray, np.ndarray]:
    """(order of the N·V (face, view) images, caption index of each) for one epoch."""
    rng = np.random.default_rng([seed, epoch, 0x0E])
    order = rng.permutation(n_faces * n_views)
    choice = rng.integers(per_face, size=n_faces * n_views)
    return order, choice


def _augment(x: torch.Tensor, gen: torch.Generator, shift: int) -> torch.Tensor:
    """Random horizontal flip and ±`shift` px translation per image (replicate padding), (B, 3, H, W)."""
    B, _, H, W = x.shape
    flip = torch.rand(B, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    if shift > 0:
        padded = torch.nn.functional.pad(x, (shift, shift, shift, shift), mode="replicate")
        dx = torch.randint(0, 2 * shift + 1, (B,), generator=gen)
        dy = torch.randint(0, 2 * shift + 1, (B,), generator=gen)
        rows = (dy[:, None] + torch.arange(H)[None, :])[:, None, :, None].expand(B, 3, H, W + 2 * shift)
        x = padded.gather(2, rows)
        cols = (dx[:, None] + torch.arange(W)[None, :])[:, None, None, :].expand(B, 3, H, W)
        x = x.gather(3, cols)
    return x
