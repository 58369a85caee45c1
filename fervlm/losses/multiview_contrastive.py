"""AffectVLM multiview contrastive term ``L_mc`` (AffectVLM eq. (2), first two sums; docs/methods.md §2).

Over all ``V·B`` view embeddings with labels ``y``:

``L_mc = mean_{i≠j, y_i = y_j} (1 − cos(z_i, z_j)) + mean_{y_k ≠ y_l} max(0, cos(z_k, z_l) − α)``.

Means instead of the paper's sums (choice) so the scale does not grow with ``B``. An empty set of
pairs (e.g. a batch of one class has no different-class pairs) contributes 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ._checks import check_labels, check_views
from ._pairs import flatten_views, masked_mean

__all__ = ["multiview_contrastive_margin"]


def multiview_contrastive_margin(z: Tensor, labels: Tensor, alpha: Tensor | float) -> Tensor:
    """AffectVLM ``L_mc`` (eq. (2)).

    Args:
        z: ``(V, B, D)`` view embeddings (normalised; cosine similarity is used either way).
        labels: ``(B,)`` integer class labels.
        alpha: margin (tensor, e.g. from :class:`~fervlm.losses.LearnableMargin`, or float).

    Returns:
        Scalar loss.

    Example:
        >>> z = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]])  # V=2, B=2
        >>> multiview_contrastive_margin(z, torch.tensor([0, 1]), 0.2).item()   # aligned, orthogonal
        0.0
    """
    check_views(z, "z")
    check_labels(labels, z.shape[1])
    flat, y, _, _ = flatten_views(z, labels)
    unit = F.normalize(flat, dim=1)
    sim = unit @ unit.T
    same = y[:, None] == y[None, :]
    not_self = ~torch.eye(len(y), dtype=torch.bool, device=z.device)
    pull = masked_mean(1.0 - sim, same & not_self)
    push = masked_mean(F.relu(sim - alpha), ~same)
    return pull + push
