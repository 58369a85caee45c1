"""Grad-CAM per view on open_clip image towers, and the pointing game against expression masks.

**Grad-CAM** (Selvaraju et al., ICCV 2017, eq. 1-2) with the `grad-cam` package (`pytorch_grad_cam.GradCAM`):
for one image, activations `A ∈ R^{C×h×w}` of a target layer and a scalar target `y`,

    w_c = (1/(h w)) Σ_{i,j} ∂y/∂A_{c,i,j}          (eq. 1, global-average-pooled gradients)
    M   = ReLU(Σ_c w_c A_c)                        (eq. 2)

then per-image min–max scaling (`(M − min M) / (max(M − min M) + 1e-7)`) and a bilinear upsample to the
input size (the library's `scale_cam_image`; docs/algorithms.md §2.1). Our target is not a logit but the
cosine similarity of a view's embedding to a class prototype, `y = cos(f_v(x), p_c)`
(docs/methods.md §1: prototypes `p_c` are the mean normalised prompt embeddings; the predicted class is
`argmax_c cos(z_fused, p_c)` with `z_fused` the normalised mean of the normalised view embeddings). Layers
(docs/algorithms.md §2.4): the last block's `ln_1` for an open_clip `VisionTransformer`
(the CLS-token pooled output has exactly zero gradient w.r.t. the patch tokens of the last block's output),
`layer4` for a `ModifiedResNet` (the input of its attention pool).

**Pointing game** (Zhang et al., "Top-down neural attention by excitation backprop", ECCV 2016 / IJCV 2018,
§5.1): a map scores a hit when its maximum falls inside the ground-truth region (here: the AU-displacement
masks of the synthetic faces, docs/design.md "Ground truth for explanations"); the score is the hit rate over
maps. Its chance level is the hit rate of uniformly random maps, whose maximum is a uniformly random pixel, so
the expected hit rate is the mean mask-area fraction (`random_baseline`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:  # matplotlib is imported by the plot helper only
    from matplotlib.figure import Figure

__all__ = [
    "PrototypeSimilarityTarget",
    "gradcam_views",
    "overlay",
    "plot_view_cams",
    "pointing_game",
    "pointing_game_report",
    "random_baseline",
    "reshape_transform_for",
    "target_layer",
    "to_uint8",
]

_TIE_RULES = ("any", "fraction")

# ---------------------------------------------------------------------------------------------
# Target layer and reshape transform per tower type


def _tower_kind(visual: nn.Module) -> str:
    from open_clip.modified_resnet import ModifiedResNet
    from open_clip.transformer import VisionTransformer

    if isinstance(visual, VisionTransformer):
        return "vit"
    if isinstance(visual, ModifiedResNet):
        return "resnet"
    raise TypeError(
        f"Grad-CAM: unsupported image tower {type(visual).__module__}.{type(visual).__name__}; supported are "
        "open_clip VisionTransformer (target resblocks[-1].ln_1) and ModifiedResNet (target layer4). "
        "timm / Hugging Face towers would need their own layer choice (docs/algorithms.md §2.3-2.4)."
    )


def target_layer(visual: nn.Module) -> nn.Module:
    """The layer whose activations and gradients Grad-CAM uses (docs/algorithms.md §2.4).

    Args:
        visual: an open_clip image tower (`backbone.visual` / `clip_model.visual`).

    Returns:
        `visual.transformer.resblocks[-1].ln_1` for a VisionTransformer — the last attention reads the patch
        tokens through it, whereas the last block's output reaches the CLS-pooled embedding only through the
        CLS token — or `visual.layer4` for a ModifiedResNet (the feature map fed to the attention pool).

    Raises:
        TypeError: any other tower type.
    """
    if _tower_kind(visual) == "vit":
        return visual.transformer.resblocks[-1].ln_1
    return visual.layer4


def reshape_transform_for(visual: nn.Module) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The `reshape_transform` that turns the target layer's output into a (B, C, h, w) map, or None.

    For a VisionTransformer the tokens are (B, L, C) when the transformer runs batch-first (open_clip >= 2.26,
    `visual.transformer.batch_first`) and (L, B, C) otherwise; the prefix tokens (CLS and any others: the
    first `L − h·w`) are dropped and the rest reshaped to the patch grid `visual.grid_size`
    (docs/algorithms.md §2.3).
    A ModifiedResNet's `layer4` already gives (B, C, h, w): no transform (None).

    Raises:
        TypeError: unsupported tower type.
    """
    if _tower_kind(visual) == "resnet":
        return None
    grid_h, grid_w = (int(g) for g in visual.grid_size)
    # Older open_clip (<= 2.24) had no attribute and ran the stack sequence-first (LND).
    batch_first = bool(getattr(visual.transformer, "batch_first", False))

    def vit_tokens_to_map(tokens: torch.Tensor) -> torch.Tensor:
        if tokens.ndim != 3:
            raise ValueError(f"ViT reshape_transform: expected 3-D tokens, got shape {tuple(tokens.shape)}")
        if not batch_first:
            tokens = tokens.transpose(0, 1)
        n_prefix = tokens.shape[1] - grid_h * grid_w
        if n_prefix < 0:
            raise ValueError(
                f"ViT reshape_transform: {tokens.shape[1]} tokens cannot hold the {grid_h}x{grid_w} patch "
                "grid of the tower (is the input size the tower's image_size?)"
            )
        patches = tokens[:, n_prefix:, :].reshape(tokens.shape[0], grid_h, grid_w, tokens.shape[2])
        return patches.permute(0, 3, 1, 2)

    return vit_tokens_to_map


# ---------------------------------------------------------------------------------------------
# Target and model wrapper


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

    Returns:
        `(cams, classes)`: float32 numpy array (V, H, W) or (B, V, H, W) with values in [0, 1], and the int64
        class id per sample that the maps explain (shape () or (B,)).

    Raises:
        ValueError: bad shapes or class ids. TypeError: unsupported backbone / tower.
    """
    from pytorch_grad_cam import GradCAM

    visual, encode = _visual_and_encoder(backbone)
    layer = target_layer(visual)  # raises TypeError for unsupported towers before anything is changed
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
    cam = None
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
        cam = GradCAM(model=wrapper, target_layers=[layer], reshape_transform=reshape)
        per_image_class = classes.repeat_interleave(n_views)
        out = []
        for start in range(0, flat.shape[0], batch_size):
            chunk = flat[start : start + batch_size].detach().clone().requires_grad_(True)
            # One explicit target per image (pitfalls 1-2: None would explain the largest embedding
            # coordinate, a shorter list would be truncated silently by zip).
            chunk_classes = per_image_class[start : start + len(chunk)]
            targets = [PrototypeSimilarityTarget(protos[c]) for c in chunk_classes]
            with torch.enable_grad():  # callers may sit inside no_grad (pitfall 3)
                out.append(np.asarray(cam(input_tensor=chunk, targets=targets, eigen_smooth=eigen_smooth)))
    finally:
        if cam is not None:
            cam.activations_and_grads.release()
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


# ---------------------------------------------------------------------------------------------
# Display


def to_uint8(
    images: torch.Tensor | np.ndarray,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> np.ndarray:
    """Undo the CLIP normalisation of (..., 3, H, W) images and return uint8 (..., H, W, 3) for display.

    Args:
        images: normalised images, channels first.
        mean, std: per-channel normalisation used by the backbone (default: open_clip's OpenAI constants,
            the ones `preprocess_val` uses for our configs).
    """
    from open_clip import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().float().numpy()
    arr = np.asarray(images, dtype=np.float64)
    if arr.ndim < 3 or arr.shape[-3] != 3:
        raise ValueError(f"to_uint8: images must be (..., 3, H, W), got {arr.shape}")
    m = np.asarray(OPENAI_DATASET_MEAN if mean is None else mean, dtype=np.float64)[:, None, None]
    s = np.asarray(OPENAI_DATASET_STD if std is None else std, dtype=np.float64)[:, None, None]
    rgb = np.moveaxis(arr * s + m, -3, -1)
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def overlay(image: np.ndarray, cam: np.ndarray, image_weight: float = 0.5) -> np.ndarray:
    """Blend a Grad-CAM map (jet colormap) over an RGB image (pytorch_grad_cam's `show_cam_on_image`).

    Args:
        image: uint8 (H, W, 3) RGB.
        cam: (H, W) map with values in [0, 1] (values outside are clipped).
        image_weight: weight of the image in the blend, in [0, 1].

    Returns:
        uint8 (H, W, 3) RGB.
    """
    from pytorch_grad_cam.utils.image import show_cam_on_image

    image = np.asarray(image)
    cam = np.asarray(cam)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"overlay: image must be uint8 (H,W,3), got {image.dtype} {image.shape}")
    if cam.shape != image.shape[:2]:
        raise ValueError(f"overlay: cam shape {cam.shape} does not match the image's {image.shape[:2]}")
    if not 0.0 <= image_weight <= 1.0:
        raise ValueError(f"overlay: image_weight must be in [0, 1], got {image_weight}")
    mask = np.clip(np.nan_to_num(cam.astype(np.float32)), 0.0, 1.0)
    return show_cam_on_image(image.astype(np.float32) / 255.0, mask, use_rgb=True, image_weight=image_weight)


def plot_view_cams(
    images: np.ndarray,
    cams: np.ndarray,
    titles: Sequence[str] | None = None,
    row_labels: Sequence[str] | None = None,
    show_images: bool = True,
) -> Figure:
    """A grid of per-view Grad-CAM overlays: one column per view, one row (or two) per sample.

    Args:
        images: uint8 (V, H, W, 3) or (N, V, H, W, 3) RGB views (see `to_uint8`).
        cams: (V, H, W) or (N, V, H, W) maps in [0, 1], as returned by `gradcam_views`.
        titles: V column titles (e.g. the view yaws), or None.
        row_labels: N row labels (e.g. "happy → pred. happy"), or None.
        show_images: add a row with the plain views above each sample's overlays.

    Returns:
        a matplotlib Figure (not attached to pyplot).
    """
    from matplotlib.figure import Figure

    images = np.asarray(images)
    cams = np.asarray(cams)
    if images.ndim == 4:
        images = images[None]
        if cams.ndim == 3:
            cams = cams[None]
    if images.ndim != 5 or cams.shape != images.shape[:4]:
        raise ValueError(
            f"plot_view_cams: images (N,V,H,W,3) and cams (N,V,H,W) must agree, got {images.shape} and "
            f"{cams.shape}"
        )
    n, v = images.shape[:2]
    if titles is not None and len(titles) != v:
        raise ValueError(f"plot_view_cams: {len(titles)} titles for {v} views")
    if row_labels is not None and len(row_labels) != n:
        raise ValueError(f"plot_view_cams: {len(row_labels)} row labels for {n} samples")
    per = 2 if show_images else 1
    fig = Figure(figsize=(2.2 * v, 2.2 * n * per), layout="constrained")
    axes = np.asarray(fig.subplots(n * per, v, squeeze=False))
    for i in range(n):
        for j in range(v):
            if show_images:
                axes[i * per, j].imshow(images[i, j])
            axes[i * per + per - 1, j].imshow(overlay(images[i, j], cams[i, j]))
        if row_labels is not None:
            axes[i * per, 0].set_ylabel(row_labels[i])
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    if titles is not None:
        for j, title in enumerate(titles):
            axes[0, j].set_title(str(title))
    return fig


# ---------------------------------------------------------------------------------------------
# Pointing game


def _as_maps(name: str, arr: Any) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim < 2:
        raise ValueError(f"{name}: expected (..., H, W) maps, got shape {arr.shape}")
    return arr.reshape(-1, *arr.shape[-2:])


def _check_masks(masks: Any, shape: tuple[int, ...] | None = None, name: str = "masks") -> np.ndarray:
    m = _as_maps(name, masks)
    if m.dtype != np.bool_:
        raise ValueError(f"{name}: must be boolean, got dtype {m.dtype}")
    if shape is not None and m.shape != shape:
        raise ValueError(f"{name}: shape {m.shape} (flattened) does not match the maps' {shape}")
    return m


def _dilate(masks: np.ndarray, tolerance_px: float) -> np.ndarray:
    """Pixels within `tolerance_px` (Euclidean) of each mask (the original pointing game uses 15 px)."""
    if tolerance_px < 0:
        raise ValueError(f"tolerance_px must be >= 0, got {tolerance_px}")
    if tolerance_px == 0:
        return masks
    from scipy.ndimage import distance_transform_edt

    out = np.zeros_like(masks)
    for i, m in enumerate(masks):
        if m.any():
            out[i] = distance_transform_edt(~m) <= tolerance_px
    return out


def pointing_game(cams: Any, masks: Any, ties: str = "any", tolerance_px: float = 0.0) -> dict[str, Any]:
    """Pointing-game hit rate (Zhang et al. 2016, §5.1): the fraction of maps whose maximum lies in the mask.

    Maps whose mask is empty have no answer and are skipped (counted in `n_skipped_empty`).

    Args:
        cams: (..., H, W) saliency maps (flattened to (N, H, W)).
        masks: bool, same shape: the ground-truth regions.
        ties: what a hit means when several pixels share the maximum. "any" (default): a hit when *any*
            maximal pixel lies in the mask. "fraction": the fraction of maximal pixels in the mask, i.e. the
            expected hit under uniform random tie-breaking (a constant map then scores its mask fraction
            instead of 1). Either way, `n_tied` reports how many maps had tied maxima.
        tolerance_px: a maximum within this Euclidean distance of the mask also counts (Zhang et al. use 15 px
            at full resolution); 0 = strictly inside.

    Returns:
        dict with `hit_rate` (NaN when nothing could be evaluated), `n_hits`, `n_evaluated`,
        `n_skipped_empty`, `n_tied`, `ties`, `tolerance_px`, and `hits` ((N,) per map, NaN where skipped).
    """
    c = _as_maps("cams", cams).astype(np.float64)
    m = _dilate(_check_masks(masks, c.shape), tolerance_px)
    if ties not in _TIE_RULES:
        raise ValueError(f"ties must be one of {_TIE_RULES}, got {ties!r}")
    if not np.isfinite(c).all():
        raise ValueError("cams: contain NaN or inf")
    valid = m.any(axis=(1, 2))
    is_max = c == c.max(axis=(1, 2), keepdims=True)
    n_max = is_max.sum(axis=(1, 2))
    n_max_in = (is_max & m).sum(axis=(1, 2))
    hit = (n_max_in > 0).astype(np.float64) if ties == "any" else n_max_in / n_max
    hits = np.where(valid, hit, np.nan)
    n_eval = int(valid.sum())
    return {
        "hit_rate": float(hits[valid].mean()) if n_eval else float("nan"),
        "n_hits": float(hits[valid].sum()),
        "n_evaluated": n_eval,
        "n_skipped_empty": int((~valid).sum()),
        "n_tied": int((n_max[valid] > 1).sum()),
        "ties": ties,
        "tolerance_px": float(tolerance_px),
        "hits": hits,
    }


def random_baseline(
    masks: Any,
    n_draws: int = 1000,
    seed: int = 0,
    foreground: Any = None,
    tolerance_px: float = 0.0,
) -> dict[str, Any]:
    """Pointing-game score of uniformly random maps: the chance level for `pointing_game`.

    A map of i.i.d. continuous random values has its maximum at a uniformly random pixel (of the foreground,
    when the random maps are restricted to it), so its expected hit rate is, exactly,
    `mean_i |mask_i ∩ F_i| / |F_i|` — the mean mask-area fraction over the image (F = all pixels) or over
    the foreground. **`hit_rate` is this analytic value.** The simulation (`n_draws` uniform maximum
    positions per map, the same distribution as the arg-max of a random map) is reported beside it as a
    check, with its Monte-Carlo standard error. Empty masks are skipped, as in `pointing_game`.

    Args:
        masks: bool (..., H, W) ground-truth regions.
        n_draws: random maps simulated per mask.
        seed: seed of the simulation.
        foreground: optional bool masks of the same shape (e.g. the face pixels of a rendered view); each must
            be non-empty where the mask is.
        tolerance_px: as in `pointing_game` (the masks are dilated the same way).

    Returns:
        dict with `hit_rate` (analytic), `hit_rate_simulated`, `simulated_se`, `n_draws`, `n_evaluated`,
        `n_skipped_empty`, `region` ("image" or "foreground"), `method`, and `fractions` ((N,), NaN where
        skipped).
    """
    m = _dilate(_check_masks(masks), tolerance_px)
    if n_draws < 1:
        raise ValueError(f"n_draws must be >= 1, got {n_draws}")
    region = np.ones_like(m) if foreground is None else _check_masks(foreground, m.shape, name="foreground")
    valid = m.any(axis=(1, 2))
    empty_fg = valid & ~region.any(axis=(1, 2))
    if empty_fg.any():
        raise ValueError(f"foreground: empty for maps {np.flatnonzero(empty_fg).tolist()} whose mask is not")
    inside = m & region
    fractions = np.where(valid, inside.sum(axis=(1, 2)) / np.maximum(region.sum(axis=(1, 2)), 1), np.nan)
    n_eval = int(valid.sum())
    rng = np.random.default_rng(seed)
    sim_hits = np.zeros((n_eval, n_draws), dtype=bool)
    for row, i in enumerate(np.flatnonzero(valid)):
        pixels = np.flatnonzero(region[i])
        draws = pixels[rng.integers(0, pixels.size, size=n_draws)]
        sim_hits[row] = inside[i].reshape(-1)[draws]
    per_draw = sim_hits.mean(axis=0) if n_eval else np.full(n_draws, np.nan)
    return {
        "hit_rate": float(np.nanmean(fractions)) if n_eval else float("nan"),
        "hit_rate_simulated": float(per_draw.mean()),
        "simulated_se": float(per_draw.std(ddof=1) / np.sqrt(n_draws)) if n_draws > 1 else float("nan"),
        "n_draws": int(n_draws),
        "n_evaluated": n_eval,
        "n_skipped_empty": int((~valid).sum()),
        "region": "image" if foreground is None else "foreground",
        "method": "analytic: mean mask-area fraction (simulation reported alongside as a check)",
        "fractions": fractions,
    }


def pointing_game_report(
    cams: Any,
    masks: Any,
    ties: str = "any",
    tolerance_px: float = 0.0,
    foreground: Any = None,
    n_draws: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Pointing game of `cams` against `masks` beside its random baseline, on the same (non-empty) masks.

    Returns:
        dict with `pointing_game` (see `pointing_game`), `random_baseline` (see `random_baseline`), `ratio`
        = hit rate / analytic baseline (NaN if the baseline is 0 or nothing was evaluated) and `gain` = their
        difference.
    """
    pg = pointing_game(cams, masks, ties=ties, tolerance_px=tolerance_px)
    rb = random_baseline(masks, n_draws=n_draws, seed=seed, foreground=foreground, tolerance_px=tolerance_px)
    base = rb["hit_rate"]
    ratio = pg["hit_rate"] / base if np.isfinite(base) and base > 0 else float("nan")
    return {
        "pointing_game": pg,
        "random_baseline": rb,
        "ratio": float(ratio),
        "gain": float(pg["hit_rate"] - base),
    }
