"""AffectVLM (supervised): multiview joint embedding, augmented textual prompts, learnable margin.

AffectVLM paper (Behzad & Zhao, arXiv:2504.19739, 2025), docs/methods.md §2. Every view embedding ``z'_{v,b}``
is aligned with *its own* prompt drawn from the sample's class bank (with metadata, "an older man looking very
happy"), and the ``V·B`` view embeddings are pulled together by class with the multiview
contrastive and triplet terms of eq. (2) under one learnable margin ``α = sigmoid(a)``
(``margin_mode="fixed"`` freezes it at ``margin_init``; why α drifts: `fervlm.losses.margin`). Mixed-view
augmentation happens in the data (`fervlm.data`, ``augment="mixed"``). Fusion is the mean of views.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from fervlm.losses import AffectVLMLoss
from fervlm.methods.base import FERMethod
from fervlm.methods.config import TrainConfig
from fervlm.methods.prompting import PromptTable

__all__ = ["AffectVLM"]


class AffectVLM(FERMethod):
    """AffectVLM: ``L = λ_align L_align + λ_mc L_mc + λ_mt L_mt`` (AffectVLM eq. (2); docs/methods.md §2)."""

    def __init__(
        self,
        config: TrainConfig,
        backbone: nn.Module,
        classes: list[str],
        prompt_table: PromptTable,
        prototypes: Tensor,
        n_samples: int,
    ) -> None:
        super().__init__(config, backbone, classes, prompt_table, prototypes, n_samples)
        self.loss = AffectVLMLoss(
            weights={"align": config.lambda_align, "mc": config.lambda_mc, "mt": config.lambda_mt},
            margin_init=config.margin_init,
            disabled=config.disabled_losses,
            margin_mode=config.margin_mode,
        )

    def epoch_scalars(self) -> dict[str, float]:
        """The margin α at the end of the epoch (``alpha`` in ``history.csv``), learnable or fixed."""
        return {"alpha": float(self.loss.margin().detach())}

    def compute_loss(self, batch: dict[str, Any]) -> tuple[dict[str, Tensor], Tensor]:
        z = self.embed_views(batch["images"])  # (V, B, D)
        cls = self.class_of(batch)
        # Each view draws its own prompt of the sample's class (AffectVLM §III-B).
        ids = self.prompt_table.draw(batch["index"], cls, self.prompt_key(), n_views=z.shape[0])  # (B, V)
        t = self.prompt_table.embed(ids).transpose(0, 1)  # (V, B, D)
        parts = self.loss(z=z, t=t, labels=cls, logit_scale=self.logit_scale())
        return parts, self.fuse(z)
