"""MultiviewVLM (unsupervised): pseudo-labeled prompts, multiview consistency, positive–negative pairs.

MultiviewVLM paper (Behzad, arXiv:2505.09336, 2025), docs/methods.md §3. Each sample is paired with one prompt
of its prompt class — its current pseudo-label with ``prompt_source="pseudo"`` (strictly label-free) or its
label with ``"label"`` (the paper's protocol). ``con_targets`` chooses the positives of ``L_con``:
prompts of the same (pseudo-)class (``"label"``, the paper: its negatives are prompts of a different
emotion) or only the sample's own prompt (``"sample"``). The pseudo-labelling rounds (zero-shot or k-means at
round 0, k-means with Hungarian naming against the class prototypes every ``recluster_every``
epochs, on view-aggregated embeddings without augmentation) live in
:class:`~fervlm.methods.base.FERMethod`, because SMILE-VLM uses them too.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from fervlm.losses import MultiviewVLMLoss
from fervlm.methods.base import FERMethod
from fervlm.methods.config import TrainConfig
from fervlm.methods.prompting import PromptTable

__all__ = ["MultiviewVLM"]


class MultiviewVLM(FERMethod):
    """MultiviewVLM: ``L = L_con + λ_mv L_mv + λ_pn (L_pos + L_neg)`` (MultiviewVLM eq. (1)-(8))."""

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
        disabled = tuple(config.disabled_losses)
        if len(config.views) == 1 and "pos" not in disabled:
            # The positive pairs of eq. (5)-(6) are different views of one sample: a single-view variant
            # has none, so that term is dropped (the negatives of eq. (7)-(8) still apply).
            disabled += ("pos",)
        self.loss = MultiviewVLMLoss(
            lambda_mv=config.lambda_mv,
            lambda_pn=config.lambda_pn,
            tau_p=config.tau_p,
            disabled=disabled,
            con_targets=config.con_targets,
        )

    def compute_loss(self, batch: dict[str, Any]) -> tuple[dict[str, Tensor], Tensor]:
        z = self.embed_views(batch["images"])  # (V, B, D)
        cls = self.class_of(batch)  # (pseudo-)labels: prompt class and negatives of eq. (7)-(8)
        t = self.prompt_table.embed(self.prompt_table.draw(batch["index"], cls, self.prompt_key()))  # (B, D)
        parts = self.loss(z=z, t=t, labels=cls, logit_scale=self.logit_scale())
        return parts, self.fuse(z)
