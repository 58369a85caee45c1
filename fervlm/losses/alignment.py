"""SMILE-VLM vision-language alignment ``L_vl-align`` (SMILE-VLM eq. (6); docs/methods.md §4).

Image→text InfoNCE over the batch's prompts for each of the ``V`` views and for the fused
embedding; ``L_vl-align`` is the mean of those ``V + 1`` terms.
"""

from __future__ import annotations

from torch import Tensor

from ._checks import check_matrix, check_views
from .infonce import info_nce_one_way

__all__ = ["vision_language_alignment"]


def vision_language_alignment(
    z_views: Tensor,
    z_fused: Tensor,
    t: Tensor,
    logit_scale: Tensor | float,
    targets: Tensor | None = None,
) -> Tensor:
    """SMILE-VLM eq. (6).

    Args:
        z_views: ``(V, B, D)`` L2-normalised view embeddings ``z'_i``.
        z_fused: ``(B, D)`` L2-normalised fused embedding ``z_mv``.
        t: ``(B, D)`` L2-normalised prompt embeddings.
        logit_scale: multiplicative scale (already ``exp()``-ed), tensor or float.
        targets: as in :func:`~fervlm.losses.info_nce` (``None`` = diagonal; ``(B,)`` prompt-class
            labels make every sample with the same prompt class a positive).

    Returns:
        Scalar ``(Σ_i L_i2t(z'_i) + L_i2t(z_mv)) / (V + 1)``.

    Example:
        >>> import torch
        >>> t = torch.eye(4)
        >>> round(vision_language_alignment(torch.stack([t, t]), t, t, 100.0).item(), 6)
        0.0
    """
    check_views(z_views, "z_views")
    check_matrix(z_fused, "z_fused")
    check_matrix(t, "t")
    if z_fused.shape != z_views.shape[1:] or t.shape != z_views.shape[1:]:
        raise ValueError(
            f"z_fused and t: expected shape {tuple(z_views.shape[1:])} to match z_views (V, B, D), "
            f"got {tuple(z_fused.shape)} and {tuple(t.shape)}"
        )
    terms = [info_nce_one_way(z, t, logit_scale, targets) for z in z_views]
    terms.append(info_nce_one_way(z_fused, t, logit_scale, targets))
    return sum(terms) / len(terms)
