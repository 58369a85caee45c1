"""SMILE-VLM view-aware fusion (SMILE-VLM eq. (5), (7); docs/methods.md §4).

``s_i = MLP(z'_i)`` (Linear → GELU → Linear, scalar score), ``w = softmax_i(s)`` over views,
``z_mv = normalize(Σ_i w_i z'_i)``. The same MLP scores every view (its weights are shared), so the
module works for any number of views.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_views

__all__ = ["ViewAwareFusion"]


class ViewAwareFusion(nn.Module):
    """Attention-weighted fusion of per-view embeddings.

    Args:
        dim: embedding width ``D``.
        hidden: hidden width of the scoring MLP (default ``max(1, D // 2)``).

    Example:
        >>> fusion = ViewAwareFusion(8)
        >>> z = F.normalize(torch.randn(3, 5, 8), dim=-1)
        >>> z_mv, w = fusion(z)
        >>> tuple(z_mv.shape), tuple(w.shape), bool(torch.allclose(w.sum(1), torch.ones(5)))
        ((5, 8), (5, 3), True)
    """

    def __init__(self, dim: int, hidden: int | None = None) -> None:
        super().__init__()
        if dim < 1:
            raise ValueError(f"ViewAwareFusion: dim must be positive, got {dim}")
        hidden = max(1, dim // 2) if hidden is None else hidden
        if hidden < 1:
            raise ValueError(f"ViewAwareFusion: hidden must be positive, got {hidden}")
        self.dim = dim
        self.score = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, 1))

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """Fuse ``z`` ``(V, B, D)`` (L2-normalised) into ``(z_mv (B, D) normalised, weights (B, V))``."""
        check_views(z, "z")
        if z.shape[-1] != self.dim:
            raise ValueError(f"z: expected embedding width {self.dim}, got {z.shape[-1]}")
        scores = self.score(z).squeeze(-1).T  # (B, V), eq. (5)
        weights = torch.softmax(scores, dim=1)
        fused = torch.einsum("bv,vbd->bd", weights, z)  # eq. (7)
        return F.normalize(fused, dim=-1), weights
