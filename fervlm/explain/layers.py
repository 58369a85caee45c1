"""Which layer of an open_clip image tower Grad-CAM reads, and how its output becomes a (B, C, h, w) map.

docs/algorithms.md §2.3-2.4: the last block's `ln_1` for an open_clip `VisionTransformer` (the CLS-token
pooled output has exactly zero gradient w.r.t. the patch tokens of the last block's output), `layer4` for a
`ModifiedResNet` (the input of its attention pool) unless another stage is asked for (§2.7).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


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


#: A ModifiedResNet's stages and how much each shrinks the input (stem ×4, then ×2 per stage after the first).
RESNET_STAGES = {"layer1": 4, "layer2": 8, "layer3": 16, "layer4": 32}

#: The smallest map `resnet_stage("auto")` accepts: 8 × 8 cells are 8 px at the quick profile's 64 px, about
#: the size of an AU region there; a 2 × 2 map upsampled has only corner plateaus (docs/algorithms.md §2.7).
MIN_AUTO_MAP = 8


def resnet_stage(visual: nn.Module, stage: str = "layer4") -> str:
    """The ResNet stage to explain: `stage` itself, or for ``"auto"`` the deepest stage whose map has at least
    `MIN_AUTO_MAP` × `MIN_AUTO_MAP` cells at the tower's input size (64 px: ``layer2``, 8 × 8; 224 px:
    ``layer3``, 14 × 14), because a deeper stage's coarser map cannot localise an AU region.

    Raises:
        ValueError: an unknown stage name.
    """
    if stage == "auto":
        size = visual.image_size
        size = int(size[0] if isinstance(size, (tuple, list)) else size)
        fine_enough = [name for name, stride in RESNET_STAGES.items() if size // stride >= MIN_AUTO_MAP]
        return fine_enough[-1] if fine_enough else "layer1"
    if stage not in RESNET_STAGES:
        raise ValueError(f"ResNet stage {stage!r}: choose one of {[*RESNET_STAGES, 'auto']}")
    return stage


def target_layer(visual: nn.Module, stage: str = "layer4") -> nn.Module:
    """The layer whose activations and gradients Grad-CAM uses (docs/algorithms.md §2.4).

    Args:
        visual: an open_clip image tower (`backbone.visual` / `clip_model.visual`).
        stage: for a ModifiedResNet, which stage (`resnet_stage`: ``layer1`` … ``layer4`` or ``auto``);
            ignored for a VisionTransformer, whose tokens keep one grid through the tower.

    Returns:
        `visual.transformer.resblocks[-1].ln_1` for a VisionTransformer — the last attention reads the patch
        tokens through it, whereas the last block's output reaches the CLS-pooled embedding only through the
        CLS token — or the chosen stage of a ModifiedResNet (default `layer4`, the feature map fed to the
        attention pool, as Grad-CAM's authors use the last convolutional layer). At the quick profile's
        64 px `layer4` is 2 × 2, too coarse to point at anything; notebook 07 uses ``auto``
        (docs/algorithms.md §2.7).

    Raises:
        TypeError: any other tower type. ValueError: an unknown stage.
    """
    if _tower_kind(visual) == "vit":
        return visual.transformer.resblocks[-1].ln_1
    return getattr(visual, resnet_stage(visual, stage))


def reshape_transform_for(visual: nn.Module) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The `reshape_transform` that turns the target layer's output into a (B, C, h, w) map, or None.

    For a VisionTransformer the tokens are (B, L, C) when the transformer runs batch-first (open_clip >= 2.26,
    `visual.transformer.batch_first`) and (L, B, C) otherwise; the prefix tokens (CLS and any others: the
    first `L − h·w`) are dropped and the rest reshaped to the patch grid `visual.grid_size`
    (docs/algorithms.md §2.3).
    A ModifiedResNet's stages already give (B, C, h, w): no transform (None).

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
