"""The cross-entropy ceiling: the same image tower with a linear head, trained by plain cross-entropy.

A diagnostic, not one of the papers' methods (docs/methods.md §6, "Cross-entropy ceiling"). When a
vision-language method (AffectVLM, MultiviewVLM, SMILE-VLM) does not beat the linear probe on the
same prior, the question is whether the *tower* can do better at all on these folds with this
data module, augmentation and budget. This module answers it with the most direct supervised
objective: ``L_ce = CE(W z_fused + b, y)`` on the fused multiview embedding
``z_fused = normalize(mean_v z'_v)`` (docs/methods.md §1), trained end to end with the same optimiser,
schedule, epochs, unlocked groups and mixed-view augmentation as the method it bounds
(`fervlm cv --method ceiling`, every other key shared).

The head starts as the zero-shot classifier, ``W = s·P`` (the class prototypes times CLIP's logit
scale ``s``), ``b = 0``: a randomly initialised head would first push random gradients into a
pretrained tower (the feature distortion that Kumar et al., "Fine-Tuning can Distort Pretrained
Features and Underperform Out-of-Distribution", ICLR 2022, measure), so starting from the prior's
own classifier makes the ceiling an upper reference of *fine-tuning the prior*, as the methods do.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fervlm.methods.base import FERMethod
from fervlm.methods.config import TrainConfig
from fervlm.methods.prompting import PromptTable

__all__ = ["CrossEntropyCeiling"]


class CrossEntropyCeiling(FERMethod):
    """Image tower + linear head on the fused embedding, trained with cross-entropy on the labels."""

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
        C, D = int(prototypes.shape[0]), int(prototypes.shape[1])
        self.head = nn.Linear(D, C)
        # CLIP's logit scale plays no part in this loss: frozen, so DDP sees no unused parameter.
        self.backbone.logit_scale.requires_grad_(False)
        with torch.no_grad():
            scale = float(self.logit_scale().detach())
            self.head.weight.copy_(scale * F.normalize(prototypes.float(), dim=-1))
            self.head.bias.zero_()

    def compute_loss(self, batch: dict[str, Any]) -> tuple[dict[str, Tensor], Tensor]:
        fused = self.fuse(self.embed_views(batch["images"]))  # (B, D)
        labels = self.class_of(batch)  # the labels: prompt_source is "label" (validated)
        return {"ce_loss": F.cross_entropy(self.head(fused), labels)}, fused

    def scores(self, fused: Tensor) -> tuple[Tensor, Tensor]:
        """``(pred, softmax probabilities)`` of the linear head."""
        logits = self.head(fused)
        return logits.argmax(dim=-1), torch.softmax(logits, dim=-1)
