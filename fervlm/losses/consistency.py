"""MultiviewVLM multiview consistency ``L_mv`` (MultiviewVLM eq. (4); docs/methods.md §3).

``L_mv = mean_b (1 − cos(z̄_b, t_b))`` with ``z̄_b = mean_v z'_{v,b}`` (front, left, right views):
the aggregated view embedding of a sample must agree with its prompt embedding.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ._checks import check_matrix, check_views

__all__ = ["multiview_consistency"]


def multiview_consistency(z: Tensor, t: Tensor) -> Tensor:
    """MultiviewVLM eq. (4).

    Args:
        z: ``(V, B, D)`` L2-normalised view embeddings.
        t: ``(B, D)`` prompt embeddings of the samples.

    Returns:
        Scalar loss in ``[0, 2]``.

    Example:
        >>> import torch
        >>> t = torch.eye(3)
        >>> multiview_consistency(torch.stack([t, t]), t).item()   # views equal the text
        0.0
    """
    check_views(z, "z")
    check_matrix(t, "t")
    if t.shape != z.shape[1:]:
        raise ValueError(f"t: expected shape {tuple(z.shape[1:])} to match z (V, B, D), got {tuple(t.shape)}")
    z_bar = z.mean(dim=0)
    cos = (F.normalize(z_bar, dim=1) * F.normalize(t, dim=1)).sum(dim=1)
    return (1.0 - cos).mean()
