"""Baselines: zero-shot prototypes (no training) and a linear probe on frozen fused embeddings.

* :class:`ZeroShot`: CLIP zero-shot classification (docs/methods.md §1 prediction with the untrained
  backbone): ``ŷ = argmax_c sim(normalize(mean_v z'_v), p_c)``.
* :class:`LinearProbe`: multinomial logistic regression (scikit-learn) on the frozen fused
  embeddings of the training split, the standard CLIP linear-probe protocol (Radford et al. 2021).
  It uses labels, so it is a supervised upper reference for the frozen features.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from fervlm.methods.base import FERMethod
from fervlm.methods.config import TrainConfig
from fervlm.methods.prompting import PromptTable

__all__ = ["LinearProbe", "ZeroShot"]


class ZeroShot(FERMethod):
    """Zero-shot prediction by class prototypes; nothing is trained."""

    trainable = False


class LinearProbe(FERMethod):
    """Logistic regression on frozen fused embeddings (fit with :meth:`fit_probe`)."""

    trainable = False

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
        C, D = len(self.classes), int(prototypes.shape[1])
        self.register_buffer("probe_weight", torch.zeros(C, D))
        self.register_buffer("probe_bias", torch.zeros(C))
        self.fitted = False

    def fit_probe(self, loader: Any) -> dict[str, Any]:
        """Fit on every sample of ``loader`` (the training split without augmentation)."""
        from sklearn.linear_model import LogisticRegression

        _, fused, labels, _ = self.embed_loader(loader)
        y = labels.numpy()
        if (y < 0).any():
            raise ValueError("linear probe: some training labels are not among the configured classes")
        if len(np.unique(y)) < 2:
            raise ValueError("linear probe: the training split holds a single class")
        x = fused.double().numpy()
        # Standardise features first: frozen embeddings of similar faces differ in a few directions
        # only (cosine ~0.99), which an unscaled, L2-regularised probe would flatten to one class.
        mu, sigma = x.mean(0), x.std(0) + 1e-8
        clf = LogisticRegression(C=self.config.probe_c, max_iter=5000, random_state=self.config.seed)
        clf.fit((x - mu) / sigma, y)
        W = torch.zeros_like(self.probe_weight)
        # A class absent from the training split can never be predicted.
        b = torch.full_like(self.probe_bias, -torch.inf)
        coef, intercept = clf.coef_, clf.intercept_
        if len(clf.classes_) == 2:  # scikit-learn stores one row for binary problems
            coef, intercept = np.vstack([-coef, coef]) / 2, np.array([-intercept[0], intercept[0]]) / 2
        # Fold the standardisation into the linear map: w·(x − μ)/σ + b = (w/σ)·x + (b − w·μ/σ).
        coef, intercept = coef / sigma, intercept - (coef / sigma) @ mu
        for row, cls in enumerate(clf.classes_):
            W[int(cls)] = torch.as_tensor(coef[row], dtype=W.dtype)
            b[int(cls)] = float(intercept[row])
        self.probe_weight.copy_(W)
        self.probe_bias.copy_(b)
        self.fitted = True
        return {"train_accuracy": float(clf.score((x - mu) / sigma, y)), "n_train": len(y)}

    def scores(self, fused: Tensor) -> tuple[Tensor, Tensor]:
        if not self.fitted:
            raise RuntimeError("LinearProbe: call fit_probe() before predicting")
        logits = fused @ self.probe_weight.T + self.probe_bias
        return logits.argmax(dim=-1), torch.softmax(logits, dim=-1)
