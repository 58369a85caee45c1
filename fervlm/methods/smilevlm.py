"""SMILE-VLM (self-supervised): multiview Barlow Twins, view-aware fusion, cross-modal redundancy.

SMILE-VLM paper (Behzad, IEEE Access 13, 2025), docs/methods.md §4. Two augmentations A, B of every view pass
through the shared image tower and a nonlinear projector; ``z^A``, ``z^B`` (before normalisation) feed the
multiview Barlow Twins term (eq. 1–4), ``z'_i = normalize(z^A_i)`` are fused by view-aware attention
(eq. 5, 7) and aligned with the prompts (eq. 6), and the fused embedding's cross-correlation with the
prompt embeddings is pushed to the identity (eq. 8–9). Inference is zero-shot: the fused embedding
against the class prototypes.

Alignment targets (``TrainConfig.align_targets``): eq. (6) is a one-to-one InfoNCE — sample ``i``'s
positive is its own prompt, every other prompt of the batch a negative — and that is the default
(``"pair"``). ``"class"`` makes every sample whose prompt has the same (pseudo-)class a positive, so a
prompt of the sample's own class (with few prompts per class, often the very same text) is not
pushed away; it departs from the paper and is kept as a named option for comparison.

Projector (choice): ``g(x) = x + W_2 GELU(W_1 x)`` with ``W_2`` initialised to zero, i.e. the
identity at initialisation. The projector output must live in the text embedding space (it is
compared with prompts), and starting from the identity keeps a pretrained CLIP's zero-shot ability
intact at step 0 instead of replacing it by a random map.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from fervlm.losses import SmileVLMLoss, ViewAwareFusion
from fervlm.methods.base import FERMethod
from fervlm.methods.config import TrainConfig
from fervlm.methods.prompting import PromptTable

__all__ = ["ResidualProjector", "SmileVLM"]


class ResidualProjector(nn.Module):
    """``x + W_2 GELU(W_1 x)``, identity at initialisation (``W_2 = 0``)."""

    def __init__(self, dim: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or 2 * dim
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.net(x)


class SmileVLM(FERMethod):
    """SMILE-VLM: ``L = α L_mv-bt + β L_vl-align + γ L_red-min`` (SMILE-VLM eq. (10); docs/methods.md §4)."""

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
        dim = int(prototypes.shape[1])
        self.projector = ResidualProjector(dim)
        self.fusion = ViewAwareFusion(dim)
        self.loss = SmileVLMLoss(
            alpha=config.alpha,
            beta=config.beta,
            gamma=config.gamma,
            lambd=config.lambd,
            disabled=config.disabled_losses,
        )

    def project(self, images: Tensor) -> Tensor:
        """``(B, V, 3, H, W)`` → ``(V, B, D)`` projector outputs (not normalised)."""
        return self.projector(self.encode_views(images))

    def embed_views(self, images: Tensor) -> Tensor:
        return F.normalize(self.project(images), dim=-1)

    def fuse(self, z: Tensor) -> Tensor:
        """View-aware fusion ``z_mv`` (SMILE-VLM eq. (5), (7))."""
        return self.fusion(z)[0]

    def compute_loss(self, batch: dict[str, Any]) -> tuple[dict[str, Tensor], Tensor]:
        z_a = self.project(batch["images_a"])
        z_b = self.project(batch["images_b"])
        z_views = F.normalize(z_a, dim=-1)
        fused = self.fuse(z_views)
        cls = self.class_of(batch)
        t = self.prompt_table.embed(self.prompt_table.draw(batch["index"], cls, self.prompt_key()))
        # Eq. (6) is one-to-one (align_targets="pair"); "class" makes same-class prompts positives.
        prompt_labels = cls if self.config.align_targets == "class" else None
        parts = self.loss(
            z_a=z_a,
            z_b=z_b,
            z_fused=fused,
            t=t,
            logit_scale=self.logit_scale(),
            prompt_labels=prompt_labels,
            z_views=z_views,
        )
        return parts, fused
