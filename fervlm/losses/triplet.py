"""AffectVLM multiview triplet term ``L_mt`` (AffectVLM eq. (2), third term; docs/methods.md §2).

Definition (choice, the paper leaves the sampling open). Flatten the ``V·B`` view embeddings.

* Anchor: every view embedding ``a = z_{v,b}``.
* Positives of ``a``: every view embedding ``z_{v',b'}`` with ``v' ≠ v`` and ``y_{b'} = y_b``
  (another view of a same-class sample, including the anchor's own sample).
* Negative of ``a``: the hardest different-class view embedding in the batch,
  ``n = argmin_{y_{b''} ≠ y_b} ‖a − z_{·,b''}‖²`` (selected without gradient, then differentiated).

``L_mt = mean over valid (anchor, positive) pairs of max(0, ‖a − p‖² − ‖a − n‖² + α)``; a pair is
valid when its anchor has at least one negative. No valid pair (e.g. one class) gives 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ._checks import check_labels, check_views
from ._pairs import flatten_views, masked_mean

__all__ = ["multiview_triplet"]


def multiview_triplet(z: Tensor, labels: Tensor, alpha: Tensor | float) -> Tensor:
    """AffectVLM ``L_mt`` with hardest negatives (eq. (2)).

    Args:
        z: ``(V, B, D)`` L2-normalised view embeddings (squared Euclidean distances are used as given).
        labels: ``(B,)`` integer class labels.
        alpha: margin (tensor or float).

    Returns:
        Scalar loss.

    Example:
        >>> z = torch.tensor([[[1.0, 0.0], [-1.0, 0.0]], [[1.0, 0.0], [-1.0, 0.0]]])  # well separated
        >>> multiview_triplet(z, torch.tensor([0, 1]), 0.2).item()
        0.0
    """
    check_views(z, "z")
    check_labels(labels, z.shape[1])
    flat, y, view, _ = flatten_views(z, labels)
    # ‖x_i − x_j‖² via differences (not the Gram trick) so equal vectors give exactly 0.
    dist2 = (flat[:, None, :] - flat[None, :, :]).pow(2).sum(dim=-1)
    same = y[:, None] == y[None, :]
    positive = same & (view[:, None] != view[None, :])
    negative = ~same
    has_negative = negative.any(dim=1)
    with torch.no_grad():
        hardest = dist2.masked_fill(~negative, float("inf")).argmin(dim=1)
    d_an = dist2.gather(1, hardest[:, None])  # (N, 1); rows without negatives are masked below
    hinge = F.relu(dist2 - d_an + alpha)  # hinge[i, j]: anchor i, positive j
    return masked_mean(hinge, positive & has_negative[:, None])
