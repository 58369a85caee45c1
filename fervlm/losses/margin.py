"""Learnable margin of AffectVLM's loss (AffectVLM §III-D, eq. (2); docs/methods.md §2).

``α = sigmoid(a)`` with a free parameter ``a`` initialised so that ``α = init`` (choice): keeps
``α ∈ (0, 1)``, which is meaningful both as a cosine margin (``L_mc``) and as a margin between squared
distances of unit vectors (``L_mt``, range [0, 4]).

Why α can drift: α receives gradient only from the hinge terms it relaxes. In ``L_mc`` a larger α
lowers every active negative hinge ``max(0, sim − α)``, so that term pushes α *up*; in ``L_mt`` a
larger α raises every active triplet hinge, so that term pushes α *down*. With ``λ_mt = 0`` nothing
opposes the first push and α drifts toward 1, where the negative hinge of ``L_mc`` switches off; the
speed is the optimiser's (AdamW moves ``a`` by about one learning rate per step: 0.200 → 0.210 over
the quick profile's 20 epochs, fold 0 of the synthetic BU-3DFE). ``learnable=False`` keeps α at its
initial value (``TrainConfig.margin_mode="fixed"``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["LearnableMargin"]


class LearnableMargin(nn.Module):
    """``α = sigmoid(a)``, ``a`` initialised to ``logit(init)``.

    Args:
        init: initial margin, strictly between 0 and 1 (default 0.2).
        learnable: False freezes ``a`` (no gradient, not optimised): a fixed margin ``α = init``.

    Example:
        >>> round(LearnableMargin(0.2)().item(), 6)
        0.2
    """

    def __init__(self, init: float = 0.2, learnable: bool = True) -> None:
        super().__init__()
        if not 0.0 < init < 1.0:
            raise ValueError(f"LearnableMargin: init must lie in (0, 1), got {init}")
        # A frozen parameter (not a buffer) keeps checkpoints of both modes interchangeable.
        self.raw = nn.Parameter(torch.tensor(math.log(init / (1.0 - init))), requires_grad=bool(learnable))

    def forward(self) -> Tensor:
        return torch.sigmoid(self.raw)
