"""A trained method ready for single-sample inference, and what it answers (AffectVLM paper §III-F).

:class:`Predictor` predicts like every method does at test time (docs/methods.md §1): the fused multiview
embedding ``z`` against the class prototypes ``p_c``, ``ŷ = argmax_c cos(z, p_c)``, with class probabilities
``softmax(s · cos(z, p_c))`` (``s`` the model's clamped CLIP logit scale), plus the SMILE-VLM view-fusion
weights (SMILE-VLM eq. 5, 7), the bank's nearest prompts, and per-view Grad-CAM maps of the predicted class
(`fervlm.explain.gradcam_views`). It is built by `fervlm.inference.loading` (a checkpoint or a zero-shot
model); its input is uint8 views (`fervlm.inference.views`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from fervlm.inference.uploads import InputError
from fervlm.viewpoints import VIEW_YAWS, YAW_BY_NAME, view_name, yaw_of

__all__ = ["NearestPrompt", "Prediction", "Predictor"]


@dataclass(frozen=True)
class NearestPrompt:
    """A prompt of the bank near the fused embedding: its text, class and cosine similarity."""

    text: str
    label: str
    cosine: float


@dataclass
class Prediction:
    """What :meth:`Predictor.predict` returns for one sample.

    Attributes:
        classes: class names (label-id order).
        label: the predicted class name; ``class_index`` its position in ``classes``.
        probabilities: (C,) ``softmax(s · scores)`` (docs/methods.md §1; the linear probe's own softmax).
        scores: (C,) cosine similarities of the fused embedding to the class prototypes.
        logit_scale: the ``s`` used for the probabilities.
        embedding: (D,) the fused, L2-normalised multiview embedding.
        view_weights: (V,) SMILE-VLM view-aware fusion weights (eq. 5), None for mean-fusion methods.
        nearest_prompts: the bank's prompts closest to the embedding, most similar first.
        view_names: the names (yaws) of the views used, in order.
    """

    classes: list[str]
    label: str
    class_index: int
    probabilities: np.ndarray
    scores: np.ndarray
    logit_scale: float
    embedding: np.ndarray
    view_weights: np.ndarray | None = None
    nearest_prompts: list[NearestPrompt] = field(default_factory=list)
    view_names: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (for session state, logs and comparisons)."""
        return {
            "label": self.label,
            "class_index": self.class_index,
            "classes": list(self.classes),
            "probabilities": self.probabilities.tolist(),
            "scores": self.scores.tolist(),
            "view_weights": None if self.view_weights is None else self.view_weights.tolist(),
            "nearest_prompts": [(p.text, p.label, p.cosine) for p in self.nearest_prompts],
            "view_names": list(self.view_names),
        }


class _FusedViewEncoder:
    """Presents a method's per-view embedding (projector included) as a backbone to Grad-CAM.

    `fervlm.explain.gradcam_views` needs ``.visual`` (the hooked tower) and ``.encode_image``; routing
    ``encode_image`` through :meth:`FERMethod.embed_views` makes the map explain the embedding the method
    actually compares with the prototypes (SMILE-VLM's projector output, not the raw tower output).
    """

    def __init__(self, method: Any) -> None:
        self.method = method
        self.visual = method.backbone.visual

    def encode_image(self, x: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        return self.method.embed_views(x[:, None])[0]


@contextmanager
def _no_parameter_grads(module: torch.nn.Module) -> Iterator[None]:
    """Switch parameter gradients off (Grad-CAM needs only the input's) and restore the flags after."""
    saved = [(p, p.requires_grad) for p in module.parameters()]
    try:
        for p, _ in saved:
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in saved:
            p.requires_grad_(flag)


class Predictor:
    """A method ready for single-sample inference on CPU (or the device it sits on).

    Args:
        method: a `fervlm.methods` module in eval mode, with prototypes from its (loaded) text tower.
        prompts: the bank's prompts (no metadata) over ``method.classes`` and the class of each.
        prompt_embeddings: (P, D) their normalised text embeddings.
        source: where the weights came from (a checkpoint path or a description).
        trained: False for an untrained model (its predictions are meaningless).
    """

    #: Whether :meth:`gradcam` can explain the prediction (False for the pixel baseline).
    explainable = True

    def __init__(
        self,
        method: Any,
        prompts: Sequence[str],
        prompt_classes: Sequence[str],
        prompt_embeddings: torch.Tensor,
        source: str,
        trained: bool,
    ) -> None:
        from fervlm.data import normalization_of

        self.method = method.eval()
        self.config = method.config
        self.prompts = list(prompts)
        self.prompt_classes = list(prompt_classes)
        self.prompt_embeddings = F.normalize(prompt_embeddings.float(), dim=-1)
        self.source = source
        self.trained = trained
        self.yaws = [yaw_of(v) for v in self.config.views]
        self.image_size = int(self.config.image_size or method.backbone.image_size)
        mean, std = normalization_of(method.backbone.preprocess_val)
        self._mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
        self._std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)

    @property
    def classes(self) -> list[str]:
        return list(self.method.classes)

    @property
    def method_name(self) -> str:
        return str(self.config.method)

    @property
    def prompt_source(self) -> str:
        """The run's prompt source (``label``/``pseudo``), as `fervlm.protocols.protocol_name` reads it."""
        return str(self.config.prompt_source)

    @property
    def backbone_name(self) -> str:
        return str(self.config.backbone)

    @property
    def view_names(self) -> list[str]:
        """Each view's name (``left``/``front``/``right``), or its yaw in degrees when it has none."""
        return [view_name(y) if view_name(y) in YAW_BY_NAME else f"{y:g}°" for y in self.yaws]

    # ------------------------------------------------------------------ input
    def select_views(self, views: np.ndarray) -> np.ndarray:
        """The model's views out of ``views``: already its ``V`` views, or the three left/front/right.

        Raises:
            InputError: wrong dtype or shape, or views the model needs that are not among the three.
        """
        views = np.asarray(views)
        if views.dtype != np.uint8 or views.ndim != 4 or views.shape[-1] != 3:
            raise InputError(
                f"views: expected uint8 (V, H, W, 3) RGB images, got {views.dtype} {views.shape}"
            )
        if views.shape[0] == len(self.yaws):
            return views
        if views.shape[0] == len(VIEW_YAWS):
            missing = [y for y in self.yaws if y not in VIEW_YAWS]
            if not missing:
                return views[[VIEW_YAWS.index(int(y)) for y in self.yaws]]
        raise InputError(
            f"views: the model uses {len(self.yaws)} view(s) at yaws {self.yaws}, "
            f"got {views.shape[0]} image(s)"
        )

    def preprocess(self, views: np.ndarray) -> torch.Tensor:
        """uint8 (V, H, W, 3) → the normalised (V, 3, S, S) tensor the model takes.

        Same steps as training (`fervlm.data.MultiviewDataset`): a bilinear PIL resize to the model's
        input size ``S``, scaling to [0, 1], the backbone's mean/std normalisation.
        """
        from PIL import Image

        views = self.select_views(views)
        size = self.image_size
        arrays = []
        for view in views:
            if view.shape[:2] != (size, size):
                view = np.asarray(Image.fromarray(view).resize((size, size), Image.Resampling.BILINEAR))
            arrays.append(view)
        x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255.0
        device = next(self.method.parameters()).device
        return ((x - self._mean) / self._std).to(device)

    # ------------------------------------------------------------------ prediction
    @torch.no_grad()
    def predict(self, views: np.ndarray, top_k: int = 5) -> Prediction:
        """Classify one sample (docs/methods.md §1) and report the fusion weights and nearest prompts.

        Args:
            views: uint8 (V, H, W, 3): the model's views, or the three left/front/right views.
            top_k: how many nearest prompts to report.
        """
        from fervlm.evaluate import softmax_probs
        from fervlm.methods.baselines import LinearProbe

        x = self.preprocess(views)[None]  # (1, V, 3, S, S)
        z = self.method.embed_views(x)  # (V, 1, D)
        fused = self.method.fuse(z)  # (1, D)
        weights = None
        fusion = getattr(self.method, "fusion", None)
        if fusion is not None:  # SMILE-VLM view-aware fusion (eq. 5): report its attention weights
            weights = fusion(z)[1][0].float().cpu().numpy()
        pred, scores = self.method.scores(fused)
        scale = float(self.method.logit_scale())
        # The linear probe's scores are already probabilities.
        probs = scores if isinstance(self.method, LinearProbe) else softmax_probs(scores.float(), scale)
        emb = fused[0].float().cpu()
        cos = self.prompt_embeddings @ F.normalize(emb, dim=-1)
        order = torch.argsort(cos, descending=True)[: max(0, int(top_k))]
        nearest = [
            NearestPrompt(self.prompts[i], self.prompt_classes[i], float(cos[i])) for i in order.tolist()
        ]
        index = int(pred[0])
        return Prediction(
            classes=self.classes,
            label=self.classes[index],
            class_index=index,
            probabilities=probs[0].float().cpu().numpy(),
            scores=scores[0].float().cpu().numpy(),
            logit_scale=scale,
            embedding=emb.numpy(),
            view_weights=weights,
            nearest_prompts=nearest,
            view_names=self.view_names,
        )

    def gradcam(self, views: np.ndarray, target_class: int | None = None) -> np.ndarray:
        """Grad-CAM per view (`fervlm.explain.gradcam_views`) of ``cos(z_v, p_c)`` for the class ``c``.

        Args:
            views: as for :meth:`predict`.
            target_class: class id to explain; None = the class :meth:`predict` returns (so the maps
                explain the shown prediction, whatever the method's fusion).

        Returns:
            float32 (V, H, W) maps in [0, 1] at the size of the given views.
        """
        from fervlm.explain import gradcam_views

        selected = self.select_views(views)
        if target_class is None:
            target_class = self.predict(selected, top_k=0).class_index
        x = self.preprocess(selected)
        with _no_parameter_grads(self.method):
            cams, _ = gradcam_views(
                _FusedViewEncoder(self.method), x, self.method.prototypes, target_class=int(target_class)
            )
        height, width = selected.shape[1:3]
        if cams.shape[1:] != (height, width):
            resized = F.interpolate(torch.from_numpy(cams)[:, None], size=(height, width), mode="bilinear")
            cams = resized[:, 0].clamp(0, 1).numpy()
        return cams.astype(np.float32)
