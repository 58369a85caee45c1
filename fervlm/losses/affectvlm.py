"""AffectVLM total loss ``L = λ_align L_align + λ_mc L_mc + λ_mt L_mt``
(AffectVLM eq. (2); docs/methods.md §2)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import Tensor, nn

from ._checks import check_labels, check_views
from ._parts import gather_labels, gather_views, resolve_disabled
from .infonce import info_nce
from .margin import LearnableMargin
from .multiview_contrastive import multiview_contrastive_margin
from .triplet import multiview_triplet

__all__ = ["AffectVLMLoss"]

_TERMS = ("align", "mc", "mt")


class AffectVLMLoss(nn.Module):
    """AffectVLM's loss as a dict of weighted parts.

    * ``align_loss``: docs/methods.md §2 alignment term (choice): for every view ``v``, symmetric
      label-aware InfoNCE between ``z'_{v,·}`` and that view's prompt embeddings (all batch items
      of the same class are positives), averaged over views.
    * ``mc_loss``: :func:`~fervlm.losses.multiview_contrastive_margin` with the learnable margin.
    * ``mt_loss``: :func:`~fervlm.losses.multiview_triplet` with the same margin.
    * ``alpha``: the current margin (diagnostic; not summed by :func:`~fervlm.losses.total_loss`).

    Each ``*_loss`` is already multiplied by its weight. Batch-wide inputs are gathered over
    ranks (:mod:`fervlm.distributed`), so under DDP every rank computes the global-batch loss.

    Args:
        weights: ``{'align', 'mc', 'mt'}`` → λ (missing keys default to 1).
        margin_init: initial ``α`` of :class:`~fervlm.losses.LearnableMargin`.
        margin_mode: ``"learnable"`` (the paper) or ``"fixed"`` (α stays at ``margin_init``).
        disabled: names of terms to omit (not computed), e.g. ``("mt",)`` for an ablation.

    Example:
        >>> import torch.nn.functional as F
        >>> loss = AffectVLMLoss(disabled=("mt",))
        >>> z = F.normalize(torch.randn(3, 4, 8), dim=-1)
        >>> parts = loss(z=z, t=F.normalize(torch.randn(4, 8), dim=-1), labels=torch.tensor([0, 0, 1, 2]),
        ...              logit_scale=torch.tensor(14.3))
        >>> sorted(parts)
        ['align_loss', 'alpha', 'mc_loss']
    """

    def __init__(
        self,
        weights: Mapping[str, float] | None = None,
        margin_init: float = 0.2,
        disabled: Iterable[str] = (),
        margin_mode: str = "learnable",
    ) -> None:
        super().__init__()
        weights = dict(weights or {})
        unknown = sorted(set(weights) - set(_TERMS))
        if unknown:
            raise ValueError(f"AffectVLMLoss: weights {unknown} are unknown; valid names: {list(_TERMS)}")
        self.weights = {name: float(weights.get(name, 1.0)) for name in _TERMS}
        self.disabled = resolve_disabled(disabled, _TERMS, "AffectVLMLoss")
        if margin_mode not in ("learnable", "fixed"):
            raise ValueError(f"AffectVLMLoss: margin_mode must be 'learnable' or 'fixed': {margin_mode!r}")
        self.margin = LearnableMargin(margin_init, learnable=margin_mode == "learnable")

    def forward(
        self, *, z: Tensor, t: Tensor, labels: Tensor, logit_scale: Tensor | float
    ) -> dict[str, Tensor]:
        """Compute the enabled parts.

        Args:
            z: ``(V, B, D)`` L2-normalised view embeddings.
            t: prompt embeddings, ``(V, B, D)`` (each view drew its own prompt) or ``(B, D)``.
            labels: ``(B,)`` integer class labels.
            logit_scale: CLIP's multiplicative scale (e.g. from :class:`~fervlm.losses.LogitScale`).
        """
        check_views(z, "z")
        check_labels(labels, z.shape[1])
        if t.dim() == 2:
            t = t.unsqueeze(0).expand(z.shape[0], -1, -1)
        if t.shape != z.shape:
            raise ValueError(f"t: expected {tuple(z.shape)} or {tuple(z.shape[1:])}, got {tuple(t.shape)}")
        z = gather_views(z)
        y = gather_labels(labels)
        alpha = self.margin()
        parts: dict[str, Tensor] = {"alpha": alpha.detach()}
        if "align" not in self.disabled:
            t = gather_views(t)
            align = torch.stack([info_nce(z[v], t[v], logit_scale, targets=y) for v in range(z.shape[0])])
            parts["align_loss"] = self.weights["align"] * align.mean()
        if "mc" not in self.disabled:
            parts["mc_loss"] = self.weights["mc"] * multiview_contrastive_margin(z, y, alpha)
        if "mt" not in self.disabled:
            parts["mt_loss"] = self.weights["mt"] * multiview_triplet(z, y, alpha)
        return parts
