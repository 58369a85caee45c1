"""Ground truth for explanations: the synthetic faces' Action-Unit regions of a sample's expression.

`prepare` renders, beside every view, a per-pixel bit mask of the AU regions that moved (bit k =
`fervlm.synth.AU_NAMES[k]`; docs/design.md "Ground truth for explanations"). The region a map should point at
is the union of the regions of the expression's core AUs (`fervlm.synth.EMOTION_AUS`).
"""

from __future__ import annotations

import numpy as np

#: Facial regions for display: which AUs move which part of the face (FACS; the synthetic rig's AUs).
FACE_REGIONS: dict[str, tuple[str, ...]] = {
    "brows": ("AU1", "AU2", "AU4"),
    "eyes": ("AU5", "AU6", "AU7", "AU43"),
    "nose": ("AU9", "AU10"),
    "mouth": ("AU12", "AU14", "AU15", "AU17", "AU20", "AU23", "AU25", "AU26"),
}


def active_region_mask(bits: np.ndarray, emotion: str) -> np.ndarray:
    """Pixels inside the region of any core AU of `emotion` (`fervlm.synth.EMOTION_AUS`).

    Args:
        bits: integer per-pixel AU bit masks (bit k = `fervlm.synth.AU_NAMES[k]`), as `prepare` renders them.
        emotion: the sample's label.

    Returns:
        bool array of `bits`' shape. Optional and noise AUs the generator may add are not part of the
        expression's prototype and are left out.
    """
    from fervlm.synth import AU_NAMES, EMOTION_AUS

    if emotion not in EMOTION_AUS:
        raise ValueError(f"emotion={emotion!r}: no AU prototype; known: {', '.join(EMOTION_AUS)}")
    wanted = sum(1 << AU_NAMES.index(au) for au in EMOTION_AUS[emotion])
    return (np.asarray(bits, dtype=np.int64) & wanted) != 0


def region_masks(bits: np.ndarray, emotion: str) -> dict[str, np.ndarray]:
    """Active-AU pixels of `emotion` split by facial region (`FACE_REGIONS`), to outline them on a figure."""
    from fervlm.synth import AU_NAMES, EMOTION_AUS

    out = {}
    for region, aus in FACE_REGIONS.items():
        chosen = [au for au in aus if au in EMOTION_AUS[emotion]]
        if chosen:
            wanted = sum(1 << AU_NAMES.index(a) for a in chosen)
            out[region] = (np.asarray(bits, dtype=np.int64) & wanted) != 0
    return out


def resize_nearest(array: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour resize of a (H, W) array to (size, size): label maps must not be interpolated."""
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"resize_nearest: expected a 2-D array, got shape {array.shape}")
    rows = np.minimum((np.arange(size) + 0.5) * array.shape[0] / size, array.shape[0] - 1).astype(int)
    cols = np.minimum((np.arange(size) + 0.5) * array.shape[1] / size, array.shape[1] - 1).astype(int)
    return array[np.ix_(rows, cols)]
