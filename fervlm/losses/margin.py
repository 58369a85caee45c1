"""Learnable margin of AffectVLM's loss (AffectVLM §III-D, eq. (2); METHODS.md §2).

``α = sigmoid(a)`` with a free parameter ``a`` initialised so that ``α = init`` (choice): keeps
``α ∈ (0, 1)``, which is meaningful both as a cosine margin (``L_mc``) and as a margin between squared
distances of unit vectors (``L_mt``, range [0, 4]).
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

    Example:
        >>> round(LearnableMargin(0.2)().item(), 6)
        0.2
    """

    def __init__(self, init: float = 0.2) -> None:
        super().__init__()
        if not 0.0 < init < 1.0:
            raise ValueError(f"LearnableMargin: init must lie in (0, 1), got {init}")
        self.raw = nn.Parameter(torch.tensor(math.log(init / (1.0 - init))))

    def forward(self) -> Tensor:
        return torch.sigmoid(self.raw)
