"""Display helpers for Grad-CAM maps: undo the CLIP normalisation, blend a map over an image (arrays only)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


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
