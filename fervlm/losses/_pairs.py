"""Index helpers over flattened ``(V·B)`` view embeddings, shared by the multiview losses."""

from __future__ import annotations

import torch
from torch import Tensor


def flatten_views(z: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Flatten ``(V, B, D)`` to ``(V·B, D)`` (view-major) with per-row label, view and sample index."""
    V, B, _ = z.shape
    flat = z.reshape(V * B, -1)
    view = torch.arange(V, device=z.device).repeat_interleave(B)
    sample = torch.arange(B, device=z.device).repeat(V)
    return flat, labels.to(z.device).repeat(V), view, sample


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values[mask]``; an empty mask gives a zero that stays connected to the graph."""
    count = mask.sum()
    if count == 0:
        return (values * 0).sum()
    return (values * mask).sum() / count
