"""SMILE-VLM multiview Barlow Twins ``L_mv-bt`` (SMILE-VLM eq. (1)-(4); docs/methods.md §4).

For each view ``i`` the projector outputs of two augmentations are standardised per dimension over
the batch (zero mean, unit variance, as Barlow Twins' affine-free BatchNorm does: biased variance
plus ``eps``), ``C_i = (1/B) Σ_b ẑ^A_{i,b} ẑ^{Bᵀ}_{i,b}`` (eq. 1-2), ``C̄ = mean_i C_i`` (eq. 3) and

``L_mv-bt = Σ_k (C̄_kk − 1)² + λ Σ_{k≠l} C̄_kl²`` (eq. 4), ``λ = 0.0051``.

The sums grow with the width ``D``: with uncorrelated inputs the loss is about ``D (1 + λ (D−1)/B)``.
"""

from __future__ import annotations

from torch import Tensor

from ._checks import check_matrix, check_same_shape, check_views

__all__ = ["barlow_objective", "multiview_barlow_twins", "standardise"]


def standardise(x: Tensor, eps: float = 1e-5, dim: int = -2) -> Tensor:
    """Zero-mean, unit-variance along ``dim`` (the batch): ``(x − μ) / sqrt(var + eps)``, biased var.

    Example:
        >>> import torch
        >>> standardise(torch.tensor([[1.0], [3.0]]), eps=0.0).flatten().tolist()
        [-1.0, 1.0]
    """
    mean = x.mean(dim=dim, keepdim=True)
    var = x.var(dim=dim, unbiased=False, keepdim=True)
    return (x - mean) / (var + eps).sqrt()


def barlow_objective(c: Tensor, lambd: float) -> Tensor:
    """``Σ_k (C_kk − 1)² + λ Σ_{k≠l} C_kl²`` for a square ``(D, D)`` cross-correlation matrix."""
    diag = c.diagonal()
    on = (diag - 1.0).pow(2).sum()
    off = c.pow(2).sum() - diag.pow(2).sum()
    return on + lambd * off


def multiview_barlow_twins(z_a: Tensor, z_b: Tensor, lambd: float = 0.0051, eps: float = 1e-5) -> Tensor:
    """SMILE-VLM eq. (1)-(4).

    Args:
        z_a: ``(V, B, D)`` projector outputs (before normalisation) of augmentation A.
        z_b: ``(V, B, D)`` projector outputs of augmentation B.
        lambd: off-diagonal weight ``λ_mv-bt``.
        eps: variance floor of the per-dimension standardisation.

    Returns:
        Scalar loss.

    Example:
        >>> import torch
        >>> z = torch.randn(3, 64, 4, generator=torch.Generator().manual_seed(0))
        >>> multiview_barlow_twins(z, 2 * z + 1, eps=0.0).item() < 1.0   # perfectly correlated views
        True
    """
    if z_a.dim() == 2:
        check_matrix(z_b, "z_b")
    else:
        check_views(z_a, "z_a")
        check_views(z_b, "z_b")
    check_same_shape(z_a, z_b, "z_a", "z_b")
    if lambd < 0:
        raise ValueError(f"lambd: must be non-negative, got {lambd}")
    a = standardise(z_a, eps)
    b = standardise(z_b, eps)
    n = z_a.shape[-2]
    c = (a.transpose(-1, -2) @ b) / n  # (V, D, D) or (D, D): C_i, eq. (2)
    if c.dim() == 3:
        c = c.mean(dim=0)  # C̄, eq. (3)
    return barlow_objective(c, lambd)
