"""Grad-CAM per view on open_clip image towers, with the target "cosine similarity to a class prototype".

**Grad-CAM** (Selvaraju et al., ICCV 2017, eq. 1-2) with the `grad-cam` package (`pytorch_grad_cam.GradCAM`):
for one image, activations `A ∈ R^{C×h×w}` of a target layer and a scalar target `y`,

    w_c = (1/(h w)) Σ_{i,j} ∂y/∂A_{c,i,j}          (eq. 1, global-average-pooled gradients)
    M   = ReLU(Σ_c w_c A_c)                        (eq. 2)

then per-image min–max scaling (`(M − min M) / (max(M − min M) + 1e-7)`) and a bilinear upsample to the
input size (the library's `scale_cam_image`; docs/algorithms.md §2.1). Our target is not a logit but the
cosine similarity of a view's embedding to a class prototype, `y = cos(f_v(x), p_c)`
(docs/methods.md §1: prototypes `p_c` are the mean normalised prompt embeddings; the predicted class is
`argmax_c cos(z_fused, p_c)` with `z_fused` the normalised mean of the normalised view embeddings). The target
layer and the token-to-map reshape are `fervlm.explain.layers`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fervlm.explain.layers import reshape_transform_for, target_layer

#: The CAM variants `gradcam_views` offers: name → class of the `grad-cam` package (imported when used: the
#: package is slow to import). HiResCAM: Draelos & Carin, "Use HiResCAM instead of Grad-CAM for faithful
#: explanations of convolutional neural networks", arXiv:2011.08891, 2020.
CAM_METHODS: dict[str, str] = {"gradcam": "GradCAM", "hirescam": "HiResCAM"}


class PrototypeSimilarityTarget:
    """Grad-CAM target `y = cos(output, prototype)` for one sample's 1-D embedding.

    pytorch-grad-cam calls each target with one sample's model output (`zip(targets, outputs)` in
    `BaseCAM.forward`), here an embedding of size D. Same idea as the library tutorial's
    `SimilarityToConceptTarget` ("Pixel Attribution for embeddings"; docs/algorithms.md §2.2).

    Args:
        prototype: (D,) class prototype (normalised or not: cosine ignores its norm).
        scale: multiplies the cosine (e.g. CLIP's logit scale; any positive value leaves the map unchanged).
    """

    def __init__(self, prototype: torch.Tensor, scale: float = 1.0) -> None:
        if prototype.ndim != 1:
            raise ValueError(
                f"PrototypeSimilarityTarget: prototype must be 1-D (D,), got {tuple(prototype.shape)}"
            )
        self.prototype = prototype.detach()
        self.scale = float(scale)

    def __call__(self, model_output: torch.Tensor) -> torch.Tensor:
        proto = self.prototype.to(device=model_output.device, dtype=model_output.dtype)
        return self.scale * F.cosine_similarity(model_output, proto, dim=-1)


class _ImageEmbedder(nn.Module):
    """Wraps an image tower so the model handed to GradCAM maps (B,3,H,W) images to (B,D) embeddings.

    Only the tower is a submodule, so `GradCAM`'s `model.eval()` / `zero_grad()` touch nothing else.
    """

    def __init__(self, visual: nn.Module, encode: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.visual = visual
        self._encode = encode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._encode(x)


def _visual_and_encoder(backbone: Any) -> tuple[nn.Module, Callable[[torch.Tensor], torch.Tensor]]:
    """(image tower, unnormalised image encoder) of a fervlm Backbone or an open_clip CLIP model."""
    visual = getattr(backbone, "visual", None)
    if not isinstance(visual, nn.Module):
        raise TypeError(
            f"gradcam_views: backbone must be a fervlm Backbone or an open_clip model with a `.visual` image "
            f"tower, got {type(backbone).__name__}"
        )
    if hasattr(backbone, "encode_image"):
        # Unnormalised is enough: the cosine target removes the norm.
        def encode(x: torch.Tensor) -> torch.Tensor:
            return backbone.encode_image(x, normalize=False)
    else:
        encode = visual
    return visual, encode


# ---------------------------------------------------------------------------------------------
# Grad-CAM per view


def _target_classes(
    target_class: int | Sequence[int] | torch.Tensor | np.ndarray | None,
    n_samples: int,
    n_classes: int,
) -> torch.Tensor | None:
    if target_class is None:
        return None
    ids = torch.as_tensor(np.asarray(target_class), dtype=torch.long).reshape(-1)
    if ids.numel() == 1:
        ids = ids.expand(n_samples)
    if ids.numel() != n_samples:
        raise ValueError(
            f"target_class: expected one id or {n_samples} ids (one per sample), got {ids.numel()}"
        )
    if (ids < 0).any() or (ids >= n_classes).any():
        raise ValueError(f"target_class: ids must lie in [0, {n_classes}), got {ids.tolist()}")
    return ids.clone()


def gradcam_views(
    backbone: Any,
    images: torch.Tensor,
    prototypes: torch.Tensor,
    target_class: int | Sequence[int] | torch.Tensor | np.ndarray | None = None,
    eigen_smooth: bool = False,
    batch_size: int = 16,
    cam: str = "gradcam",
    stage: str = "layer4",
) -> tuple[np.ndarray, np.ndarray]:
    """Grad-CAM of every view for the target "cosine similarity to a class prototype" (module docstring).

    Each view gets its own map, for the same class per sample: the given `target_class`, or (None) the class
    predicted from the fused embedding `normalize(mean_v normalize(f(x_v)))` by nearest prototype
    (docs/methods.md §1). The call leaves the model as it found it: train/eval mode of every submodule,
    `requires_grad` flags and `.grad` tensors are restored. The tower's parameters are excluded from the
    backward (requires_grad off during the call) and the input requires grad instead, so frozen towers work
    (docs/algorithms.md §2.2 pitfall 4) and no parameter gradient is computed.

    Args:
        backbone: a `fervlm.backbones.Backbone` or an open_clip CLIP model (anything with `.visual` and
            `.encode_image`). Its image tower must be an open_clip VisionTransformer or ModifiedResNet.
        images: (V, 3, H, W) one sample's views or (B, V, 3, H, W), normalised as the backbone expects
            (`preprocess_val`), H = W = the tower's image size.
        prototypes: (C, D) class prototypes.
        target_class: None (predicted class per sample), one class id for all samples, or (B,) ids.
        eigen_smooth: use the first principal component of the weighted activations (library option).
        batch_size: images per Grad-CAM forward/backward (bounds memory; maps do not depend on it because the
            tower runs in eval mode, where every image is processed independently).
        cam: ``gradcam`` (eq. 1-2) or ``hirescam`` (`CAM_METHODS`): HiResCAM keeps the gradient of every
            cell, `M = ReLU(Σ_c ∂y/∂A_c ⊙ A_c)`, where Grad-CAM averages it over the map first.
        stage: the ResNet stage to read (`fervlm.explain.layers.resnet_stage`: ``layer1`` … ``layer4``,
            ``auto``); a ViT has one.

    Returns:
        `(cams, classes)`: float32 numpy array (V, H, W) or (B, V, H, W) with values in [0, 1], and the int64
        class id per sample that the maps explain (shape () or (B,)).

    Raises:
        ValueError: bad shapes, class ids, CAM or stage names. TypeError: unsupported backbone / tower.
    """
    if cam not in CAM_METHODS:
        raise ValueError(f"gradcam_views: cam={cam!r}; choose one of {sorted(CAM_METHODS)}")
    import pytorch_grad_cam

    cam_class = getattr(pytorch_grad_cam, CAM_METHODS[cam])
    visual, encode = _visual_and_encoder(backbone)
    layer = target_layer(visual, stage)  # raises TypeError for unsupported towers before anything is changed
    reshape = reshape_transform_for(visual)
    if images.ndim not in (4, 5) or images.shape[-3] != 3:
        raise ValueError(f"gradcam_views: images must be (V,3,H,W) or (B,V,3,H,W), got {tuple(images.shape)}")
    if prototypes.ndim != 2:
        raise ValueError(f"gradcam_views: prototypes must be (C,D), got {tuple(prototypes.shape)}")
    if batch_size < 1:
        raise ValueError(f"gradcam_views: batch_size must be >= 1, got {batch_size}")
    unbatched = images.ndim == 4
    x5 = images.unsqueeze(0) if unbatched else images
    n_samples, n_views, _, height, width = x5.shape
    params = list(visual.parameters())
    if not params:
        raise ValueError("gradcam_views: the image tower has no parameters")
    device, dtype = params[0].device, params[0].dtype
    if dtype == torch.bfloat16:
        raise ValueError("gradcam_views: the image tower is bfloat16; run Grad-CAM on an fp32/fp16 model")
    flat = x5.reshape(n_samples * n_views, 3, height, width).to(device=device, dtype=dtype)
    protos = prototypes.detach().to(device=device, dtype=torch.float32)
    classes = _target_classes(target_class, n_samples, protos.shape[0])

    saved_modes = [(m, m.training) for m in visual.modules()]
    saved_flags = [(p, p.requires_grad, p.grad) for p in params]
    wrapper = _ImageEmbedder(visual, encode)
    explainer = None
    try:
        wrapper.eval()
        if classes is None:
            from fervlm.evaluate import prototype_predict

            with torch.no_grad():
                z = torch.cat([encode(chunk) for chunk in flat.split(batch_size)]).float()
                z = F.normalize(z, dim=-1).reshape(n_samples, n_views, -1).mean(dim=1)
                classes, _ = prototype_predict(z, protos)
            classes = classes.cpu()
        for p in params:  # gradients flow to the input only; the hooked activations still get theirs
            p.requires_grad_(False)
        explainer = cam_class(model=wrapper, target_layers=[layer], reshape_transform=reshape)
        per_image_class = classes.repeat_interleave(n_views)
        out = []
        for start in range(0, flat.shape[0], batch_size):
            chunk = flat[start : start + batch_size].detach().clone().requires_grad_(True)
            # One explicit target per image (pitfalls 1-2: None would explain the largest embedding
            # coordinate, a shorter list would be truncated silently by zip).
            chunk_classes = per_image_class[start : start + len(chunk)]
            targets = [PrototypeSimilarityTarget(protos[c]) for c in chunk_classes]
            with torch.enable_grad():  # callers may sit inside no_grad (pitfall 3)
                out.append(
                    np.asarray(explainer(input_tensor=chunk, targets=targets, eigen_smooth=eigen_smooth))
                )
    finally:
        if explainer is not None:
            explainer.activations_and_grads.release()
        for p, flag, grad in saved_flags:
            p.requires_grad_(flag)
            p.grad = grad
        for m, mode in saved_modes:
            m.training = mode
    cams = np.concatenate(out).astype(np.float32).reshape(n_samples, n_views, height, width)
    ids = classes.numpy().astype(np.int64)
    if unbatched:
        return cams[0], ids.reshape(())
    return cams, ids
