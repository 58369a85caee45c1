"""SMILE-VLM cross-modal redundancy minimisation ``L_red-min`` (SMILE-VLM eq. (8)-(9); docs/methods.md §4).

Standardise the fused visual embedding ``z_mv`` and the prompt embedding ``z^t`` per dimension over
the batch, ``C_vt = (1/B) Σ_b ẑ^mv_b ẑ^{tᵀ}_b`` (eq. 8) and
``L_red-min = Σ_k (C_vt,kk − 1)² + λ Σ_{k≠l} C_vt,kl²`` (eq. 9).

Many samples can share a prompt class, so a text dimension may have (near) zero variance over the
batch; ``eps`` keeps the standardisation (and its gradient) finite: such a dimension contributes
``ẑ = 0``.
"""

from __future__ import annotations

from torch import Tensor

from ._checks import check_matrix, check_same_shape
from .barlow import barlow_objective, standardise

__all__ = ["cross_modal_redundancy"]


def cross_modal_redundancy(z_v: Tensor, z_t: Tensor, lambd: float = 0.0051, eps: float = 1e-5) -> Tensor:
    """SMILE-VLM eq. (8)-(9).

    Args:
        z_v: ``(B, D)`` fused visual embeddings ``z_mv``.
        z_t: ``(B, D)`` prompt embeddings ``z^t``.
        lambd: off-diagonal weight ``λ_rm``.
        eps: variance floor of the standardisation.

    Returns:
        Scalar loss.

    Example:
        >>> import torch
        >>> z = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
        >>> cross_modal_redundancy(z, z).item() < cross_modal_redundancy(z, -z).item()
        True
    """
    check_matrix(z_v, "z_v")
    check_matrix(z_t, "z_t")
    check_same_shape(z_v, z_t, "z_v", "z_t")
    if lambd < 0:
        raise ValueError(f"lambd: must be non-negative, got {lambd}")
    c = standardise(z_v, eps).T @ standardise(z_t, eps) / z_v.shape[0]
    return barlow_objective(c, lambd)
