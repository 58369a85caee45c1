"""CLIP-style InfoNCE between two sets of L2-normalised embeddings (MultiviewVLM eq. (1)-(3)).

``L_a2b = -(1/N) Σ_i Σ_j T_ij log softmax_j(s · a_iᵀ b_j)``, ``L_b2a`` likewise with the roles
swapped, and ``info_nce = (L_a2b + L_b2a) / 2`` (MultiviewVLM eq. (3): ``L_con = (L_i2t + L_t2i)/2``).
``s`` is CLIP's multiplicative ``logit_scale = exp(t)`` clamped at 100 (:class:`LogitScale`).

Targets ``T`` (docs/methods.md §2 "Alignment term", §3):

* ``None``: ``T = I`` (item ``i`` of ``a`` pairs with item ``i`` of ``b``).
* ``(N,)`` integer labels: label-aware multi-positive targets; every item with the same label is a
  positive and the target mass of a row is spread uniformly over them (AffectVLM alignment term).
* ``(N, N)`` float matrix of target probabilities (rows sum to 1); the b→a direction uses the
  transposed matrix with its rows re-normalised.

These are pure functions of their inputs: under DDP the caller gathers ``a``, ``b`` (and labels)
with :mod:`fervlm.distributed` first (the method totals in this package do).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_matrix, check_same_shape

__all__ = ["LogitScale", "info_nce", "info_nce_one_way", "label_targets"]


def label_targets(labels: Tensor) -> Tensor:
    """Uniform multi-positive target matrix from integer labels.

    Args:
        labels: ``(N,)`` integer tensor.

    Returns:
        ``(N, N)`` float matrix, ``T_ij = [y_i = y_j] / #{k : y_k = y_i}`` (rows sum to 1).

    Example:
        >>> label_targets(torch.tensor([0, 0, 1])).tolist()
        [[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]
    """
    same = (labels[:, None] == labels[None, :]).float()
    return same / same.sum(dim=1, keepdim=True)


def _target_matrix(targets: Tensor | None, n: int, like: Tensor) -> Tensor | None:
    """Validate ``targets`` and return ``None`` (diagonal) or an ``(n, n)`` probability matrix."""
    if targets is None:
        return None
    if targets.dim() == 1:
        if targets.shape[0] != n or targets.dtype.is_floating_point or targets.dtype == torch.bool:
            raise ValueError(
                f"targets: a 1-D targets tensor must be ({n},) integer labels, "
                f"got shape {tuple(targets.shape)} dtype {targets.dtype}"
            )
        return label_targets(targets).to(like.dtype)
    if targets.dim() == 2:
        if targets.shape != (n, n) or not targets.dtype.is_floating_point:
            raise ValueError(
                f"targets: a 2-D targets tensor must be a ({n}, {n}) float probability matrix, "
                f"got shape {tuple(targets.shape)} dtype {targets.dtype}"
            )
        if (targets < 0).any():
            raise ValueError("targets: target probabilities must be non-negative")
        return targets.to(like.dtype)
    raise ValueError(f"targets: expected None, (N,) labels or an (N, N) matrix, got {tuple(targets.shape)}")


def _cross_entropy(logits: Tensor, target: Tensor | None) -> Tensor:
    if target is None:
        return F.cross_entropy(logits, torch.arange(logits.shape[0], device=logits.device))
    # Soft-target cross-entropy, -Σ_j T_ij log p_ij, averaged over rows.
    return -(target * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


def info_nce_one_way(
    a: Tensor, b: Tensor, logit_scale: Tensor | float, targets: Tensor | None = None
) -> Tensor:
    """One-directional InfoNCE ``a → b`` (MultiviewVLM eq. (1); SMILE-VLM eq. (6) image→text).

    Args:
        a: ``(N, D)`` L2-normalised queries (e.g. image embeddings).
        b: ``(N, D)`` L2-normalised keys (e.g. prompt embeddings).
        logit_scale: multiplicative scale (already ``exp()``-ed), tensor or float.
        targets: ``None``, ``(N,)`` integer labels or an ``(N, N)`` probability matrix (module docstring).

    Returns:
        Scalar loss ``-(1/N) Σ_i Σ_j T_ij log softmax_j(s a_iᵀ b_j)``.

    Example:
        >>> a = torch.eye(3)
        >>> round(info_nce_one_way(a, a, 100.0).item(), 6)
        0.0
    """
    check_matrix(a, "a")
    check_matrix(b, "b")
    check_same_shape(a, b, "a", "b")
    target = _target_matrix(targets, a.shape[0], a)
    if target is not None and torch.any(target.sum(dim=1) <= 0):
        raise ValueError("targets: every row of the target matrix needs positive mass")
    return _cross_entropy(logit_scale * a @ b.T, target)


def info_nce(a: Tensor, b: Tensor, logit_scale: Tensor | float, targets: Tensor | None = None) -> Tensor:
    """Symmetric InfoNCE ``(L_a2b + L_b2a) / 2`` (MultiviewVLM eq. (1)-(3)).

    Args:
        a: ``(N, D)`` L2-normalised embeddings.
        b: ``(N, D)`` L2-normalised embeddings, ``b_i`` paired with ``a_i``.
        logit_scale: multiplicative scale (already ``exp()``-ed and clamped ≤ 100), tensor or float.
        targets: ``None`` (diagonal), ``(N,)`` integer labels (same label = positive, mass spread
            uniformly) or an ``(N, N)`` float matrix of target probabilities whose rows sum to 1;
            for b→a its transpose is used with rows re-normalised (every column needs mass).

    Returns:
        Scalar loss.

    Example:
        >>> a = torch.nn.functional.normalize(torch.ones(4, 8), dim=1)   # all equal: chance level
        >>> abs(info_nce(a, a, 10.0).item() - math.log(4)) < 1e-6
        True
        >>> a = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])   # two duplicated pairs
        >>> labels = torch.tensor([0, 0, 1, 1])   # minimum = entropy of the targets, log 2
        >>> abs(info_nce(a, a, 100.0, targets=labels).item() - math.log(2)) < 1e-6
        True
    """
    check_matrix(a, "a")
    check_matrix(b, "b")
    check_same_shape(a, b, "a", "b")
    target = _target_matrix(targets, a.shape[0], a)
    target_t = None
    if target is not None:
        if torch.any(target.sum(dim=1) <= 0):
            raise ValueError("targets: every row of the target matrix needs positive mass")
        col_mass = target.sum(dim=0)
        if torch.any(col_mass <= 0):
            raise ValueError("targets: every column of the target matrix needs positive mass (b→a direction)")
        target_t = target.T / col_mass[:, None]
    logits = logit_scale * a @ b.T
    return 0.5 * (_cross_entropy(logits, target) + _cross_entropy(logits.T, target_t))


class LogitScale(nn.Module):
    """CLIP's learnable temperature: parameter ``t`` (init ``log(1/0.07)``), forward ``min(exp(t), 100)``.

    Example:
        >>> round(LogitScale()().item(), 4)
        14.2857
    """

    def __init__(self, init: float = 1.0 / 0.07, max_scale: float = 100.0) -> None:
        super().__init__()
        if init <= 0 or max_scale <= 0:
            raise ValueError(f"LogitScale: init and max_scale must be positive, got {init}, {max_scale}")
        self.log_scale = nn.Parameter(torch.tensor(math.log(init)))
        self.max_scale = max_scale

    def forward(self) -> Tensor:
        return self.log_scale.exp().clamp(max=self.max_scale)
