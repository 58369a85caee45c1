"""MultiviewVLM positive-negative pair learning (MultiviewVLM eq. (5)-(8); docs/methods.md §3).

The paper's ``−log σ(±sim/τ_p)`` is written in its numerically stable form (choice),
``−log σ(x) = softplus(−x)``: bounded gradients, no overflow.

* Positives ``P``: pairs of *different views of the same sample* (front–left, front–right,
  left–right for ``V = 3``): ``L_pos = mean_P softplus(−cos(a, b)/τ_p)``.
* Negatives ``N``: pairs of view embeddings (any views) of two samples whose (pseudo-)labels
  differ: ``L_neg = mean_N softplus(cos(a, b)/τ_p)``. No such pair (one class) gives 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ._checks import check_labels, check_views
from ._pairs import flatten_views, masked_mean

__all__ = ["negative_pair_loss", "positive_pair_loss"]


def _check_tau(tau: float) -> None:
    if tau <= 0:
        raise ValueError(f"tau: must be positive, got {tau}")


def positive_pair_loss(z: Tensor, tau: float = 0.1) -> Tensor:
    """MultiviewVLM eq. (5)-(6): pull different views of the same sample together.

    Args:
        z: ``(V, B, D)`` view embeddings (cosine similarity is used), ``V ≥ 2``.
        tau: temperature ``τ_p``.

    Returns:
        Scalar ``mean_{b, v<v'} softplus(−cos(z_{v,b}, z_{v',b}) / τ_p)``.

    Example:
        >>> z = torch.ones(3, 2, 4)   # all views identical: cos = 1
        >>> round(positive_pair_loss(z, tau=0.1).item(), 6)   # softplus(-1 / 0.1)
        4.5e-05
    """
    check_views(z, "z")
    _check_tau(tau)
    if z.shape[0] < 2:
        raise ValueError(f"z: positive pairs need at least 2 views, got V={z.shape[0]}")
    unit = F.normalize(z, dim=-1)
    sim = torch.einsum("vbd,wbd->bvw", unit, unit)  # (B, V, V)
    iu = torch.triu_indices(z.shape[0], z.shape[0], offset=1, device=z.device)
    return F.softplus(-sim[:, iu[0], iu[1]] / tau).mean()


def negative_pair_loss(z: Tensor, labels: Tensor, tau: float = 0.1) -> Tensor:
    """MultiviewVLM eq. (7)-(8): push view embeddings of differently (pseudo-)labelled samples apart.

    Args:
        z: ``(V, B, D)`` view embeddings (cosine similarity is used).
        labels: ``(B,)`` integer (pseudo-)labels.
        tau: temperature ``τ_p``.

    Returns:
        Scalar ``mean_{(i, j): y_i ≠ y_j} softplus(cos(z_i, z_j) / τ_p)`` over all ordered pairs of
        the ``V·B`` view embeddings (ordered and unordered means coincide: the matrix is symmetric).

    Example:
        >>> z = torch.tensor([[[1.0, 0.0], [-1.0, 0.0]]])   # V=1, B=2, opposite
        >>> round(negative_pair_loss(z, torch.tensor([0, 1])).item(), 6)   # softplus(-1 / 0.1)
        4.5e-05
    """
    check_views(z, "z")
    check_labels(labels, z.shape[1])
    _check_tau(tau)
    flat, y, _, _ = flatten_views(z, labels)
    unit = F.normalize(flat, dim=1)
    sim = unit @ unit.T
    return masked_mean(F.softplus(sim / tau), y[:, None] != y[None, :])
