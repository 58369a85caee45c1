"""MultiviewVLM total ``L = L_con + λ_mv L_mv + λ_pn (L_pos + L_neg)``

MultiviewVLM eq. 1-8; docs/methods.md §3.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from ._checks import check_labels, check_matrix, check_views
from ._parts import gather_labels, gather_views, resolve_disabled
from .consistency import multiview_consistency
from .infonce import info_nce
from .pair import negative_pair_loss, positive_pair_loss

__all__ = ["MultiviewVLMLoss"]

_TERMS = ("con", "mv", "pos", "neg")


class MultiviewVLMLoss(nn.Module):
    """MultiviewVLM's loss as a dict of weighted parts.

    * ``con_loss``: symmetric InfoNCE (eq. 1-3) between the ``V·B`` flattened view embeddings and
      their sample's prompt embedding (the ``V`` views of a sample share one prompt, so the text
      side holds ``V`` copies of it). Targets, ``con_targets``:

      - ``"label"`` (default, the paper): the negatives of eq. (1)-(2) are prompts of a *different*
        emotion, so every view/prompt pair whose (pseudo-)labels agree is a positive, target mass
        spread uniformly over them; a prompt of the sample's own class is never pushed away.
      - ``"sample"``: *sample identity* — only the copies of a sample's own prompt are positives;
        other samples' prompts are negatives even when they share the class or the very text
        (a CLIP-style instance objective; kept as a documented option for comparison).
    * ``mv_loss``: ``λ_mv`` × :func:`~fervlm.losses.multiview_consistency` (eq. 4).
    * ``pos_loss`` / ``neg_loss``: ``λ_pn`` × :func:`~fervlm.losses.positive_pair_loss` /
      :func:`~fervlm.losses.negative_pair_loss` (eq. 5-8) with the (pseudo-)labels.

    Batch-wide inputs are gathered over ranks, so under DDP every rank computes the global loss.

    Args:
        lambda_mv: weight of the consistency term.
        lambda_pn: weight of the positive and negative pair terms.
        tau_p: pair-loss temperature.
        disabled: names among ``("con", "mv", "pos", "neg")`` to omit; ``"pn"`` omits both pair terms.
        con_targets: ``"label"`` (default, the paper) or ``"sample"``, see above.

    Example:
        >>> import torch.nn.functional as F
        >>> loss = MultiviewVLMLoss()
        >>> z = F.normalize(torch.randn(3, 4, 8), dim=-1)
        >>> parts = loss(z=z, t=F.normalize(torch.randn(4, 8), dim=-1), labels=torch.tensor([0, 1, 1, 2]),
        ...              logit_scale=14.3)
        >>> sorted(parts)
        ['con_loss', 'mv_loss', 'neg_loss', 'pos_loss']
    """

    def __init__(
        self,
        lambda_mv: float = 1.0,
        lambda_pn: float = 1.0,
        tau_p: float = 0.1,
        disabled: Iterable[str] = (),
        con_targets: str = "label",
    ) -> None:
        super().__init__()
        if con_targets not in ("sample", "label"):
            raise ValueError(f"MultiviewVLMLoss: con_targets must be 'label' or 'sample': {con_targets!r}")
        if tau_p <= 0:
            raise ValueError(f"MultiviewVLMLoss: tau_p must be positive, got {tau_p}")
        self.lambda_mv = float(lambda_mv)
        self.lambda_pn = float(lambda_pn)
        self.tau_p = float(tau_p)
        self.con_targets = con_targets
        disabled = resolve_disabled(disabled, (*_TERMS, "pn"), "MultiviewVLMLoss")
        # "pn" is the paper's ablation unit (positive-negative alignment): both pair terms.
        self.disabled = disabled | {"pos", "neg"} if "pn" in disabled else disabled

    def forward(
        self, *, z: Tensor, t: Tensor, labels: Tensor, logit_scale: Tensor | float
    ) -> dict[str, Tensor]:
        """Compute the enabled parts.

        Args:
            z: ``(V, B, D)`` L2-normalised view embeddings.
            t: ``(B, D)`` L2-normalised prompt embeddings (one prompt per sample).
            labels: ``(B,)`` integer pseudo-labels (or labels, see docs/methods.md "prompt source").
            logit_scale: CLIP's multiplicative scale.
        """
        check_views(z, "z")
        check_matrix(t, "t")
        check_labels(labels, z.shape[1])
        if t.shape != z.shape[1:]:
            raise ValueError(f"t: expected shape {tuple(z.shape[1:])}, got {tuple(t.shape)}")
        z = gather_views(z)
        y = gather_labels(labels)
        V, B, D = z.shape
        parts: dict[str, Tensor] = {}
        if "con" not in self.disabled or "mv" not in self.disabled:
            t = gather_views(t.unsqueeze(0))[0]
        if "con" not in self.disabled:
            ids = torch.arange(B, device=z.device) if self.con_targets == "sample" else y.to(z.device)
            flat = z.reshape(V * B, D)  # view-major, matching t.repeat(V, 1) and ids.repeat(V)
            parts["con_loss"] = info_nce(flat, t.repeat(V, 1), logit_scale, targets=ids.repeat(V))
        if "mv" not in self.disabled:
            parts["mv_loss"] = self.lambda_mv * multiview_consistency(z, t)
        if "pos" not in self.disabled:
            parts["pos_loss"] = self.lambda_pn * positive_pair_loss(z, self.tau_p)
        if "neg" not in self.disabled:
            parts["neg_loss"] = self.lambda_pn * negative_pair_loss(z, y, self.tau_p)
        return parts
