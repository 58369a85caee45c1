"""Shape checks shared by the loss functions: errors name the parameter and the problem."""

from __future__ import annotations

import torch
from torch import Tensor


def check_matrix(x: Tensor, name: str) -> None:
    """Require a 2-D ``(N, D)`` tensor."""
    if x.dim() != 2:
        raise ValueError(f"{name}: expected a 2-D (N, D) tensor, got shape {tuple(x.shape)}")


def check_views(z: Tensor, name: str) -> None:
    """Require a 3-D ``(V, B, D)`` tensor of per-view embeddings."""
    if z.dim() != 3:
        raise ValueError(f"{name}: expected a 3-D (V, B, D) tensor of view embeddings, got {tuple(z.shape)}")


def check_same_shape(a: Tensor, b: Tensor, name_a: str, name_b: str) -> None:
    """Require two tensors of identical shape."""
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )


def check_labels(labels: Tensor, n: int, name: str = "labels") -> None:
    """Require an ``(n,)`` integer tensor."""
    if labels.dim() != 1 or labels.shape[0] != n:
        raise ValueError(f"{name}: expected shape ({n},), got {tuple(labels.shape)}")
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise ValueError(f"{name}: expected an integer tensor, got dtype {labels.dtype}")
