"""FACS Action Units as localised, smooth 3D displacement fields on the synthetic face.

Each AU is a sum of Gaussian-windowed components centred on the subject's named feature anchors (bilateral AUs
are mirrored: the x component of the direction flips on the subject's right). At activation 1 the peak
displacement is several millimetres, so the shaded renders of different AU combinations differ visibly. The
per-vertex windows also give the AU regions (a bit mask per vertex) used as ground truth for explanations
(docs/design.md, "Ground truth for explanations"). Muscle descriptions follow the FACS manual (Ekman & Friesen
1978).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fervlm.synth.face import FaceModel, anchor_points

AU_NAMES: tuple[str, ...] = (
    "AU1",
    "AU2",
    "AU4",
    "AU5",
    "AU6",
    "AU7",
    "AU9",
    "AU10",
    "AU12",
    "AU14",
    "AU15",
    "AU17",
    "AU20",
    "AU23",
    "AU25",
    "AU26",
    "AU43",
)
"""AU order; bit k of a vertex label is AU_NAMES[k]."""

REGION_THRESHOLD = 0.3
"""A vertex belongs to an AU's region where the AU's normalised window exceeds this."""


@dataclass(frozen=True)
class _Component:
    anchor: str  # anchor name without side suffix for bilateral components (e.g. "mouth" → mouth_l/mouth_r)
    offset: tuple[float, float]  # (dx, dy) from the anchor, dx mirrored on the right
    sigma: tuple[float, float]
    direction: tuple[float, float, float]  # dx mirrored on the right
    amplitude: float  # mm at activation 1
    bilateral: bool = True


_AUS: dict[str, tuple[_Component, ...]] = {
    # Frontalis pars medialis: inner brows up (and a little forward, wrinkling the forehead).
    "AU1": (_Component("brow_in", (0.0, 2.0), (9.0, 8.0), (0.0, 1.0, 0.35), 6.0),),
    # Frontalis pars lateralis: outer brows up.
    "AU2": (_Component("brow_out", (-4.0, 2.0), (11.0, 8.0), (0.0, 1.0, 0.3), 6.0),),
    # Corrugator/depressor supercilii: brows down and together, a bulge between them.
    "AU4": (
        _Component("brow_in", (2.0, -1.0), (11.0, 8.0), (-0.5, -1.0, 0.45), 6.0),
        _Component("nose_root", (0.0, 10.0), (6.0, 6.0), (0.0, -0.3, 1.0), 3.0, bilateral=False),
    ),
    # Levator palpebrae: upper lid retracts up and back (eyes widen).
    "AU5": (_Component("eye", (0.0, 4.0), (10.0, 4.5), (0.0, 0.8, -0.8), 4.5),),
    # Orbicularis oculi pars orbitalis: cheeks pushed up and out, crow's feet.
    "AU6": (_Component("cheek", (0.0, 6.0), (15.0, 11.0), (0.1, 0.7, 0.7), 6.0),),
    # Orbicularis oculi pars palpebralis: lower lid up and tense.
    "AU7": (_Component("eye", (0.0, -5.0), (10.0, 4.0), (0.0, 0.8, 0.6), 3.5),),
    # Levator labii superioris alaeque nasi: nose sides wrinkle up, alae lift.
    "AU9": (
        _Component("ala", (2.0, 10.0), (7.0, 10.0), (0.0, 0.6, 0.8), 5.0),
        _Component("ala", (1.0, 0.0), (5.0, 5.0), (0.3, 0.8, 0.2), 3.0),
    ),
    # Levator labii superioris: upper lip up, nasolabial furrow deepens.
    "AU10": (_Component("upper_lip", (0.0, 0.0), (14.0, 5.0), (0.0, 1.0, 0.5), 5.0, bilateral=False),),
    # Zygomaticus major: lip corners up and out along the cheekbone.
    "AU12": (
        _Component("mouth", (2.0, 1.0), (10.0, 9.0), (0.7, 0.75, -0.1), 8.0),
        _Component("cheek", (-6.0, -8.0), (10.0, 9.0), (0.0, 0.4, 0.9), 3.5),
    ),
    # Buccinator: lip corners tightened inward, dimple.
    "AU14": (_Component("mouth", (3.0, 0.0), (7.0, 7.0), (-0.3, 0.0, -1.0), 3.5),),
    # Depressor anguli oris: lip corners down.
    "AU15": (_Component("mouth", (1.0, -3.0), (9.0, 10.0), (0.15, -1.0, -0.15), 6.0),),
    # Mentalis: chin boss up and forward, lower lip pushed up.
    "AU17": (_Component("chin", (0.0, 10.0), (15.0, 11.0), (0.0, 0.7, 0.75), 6.0, bilateral=False),),
    # Risorius/platysma: lips stretched horizontally.
    "AU20": (_Component("mouth", (4.0, -2.0), (10.0, 8.0), (1.0, -0.25, -0.25), 7.0),),
    # Orbicularis oris: lips narrowed and pressed (red parts thin, roll in).
    "AU23": (
        _Component("upper_lip", (0.0, 0.0), (16.0, 4.0), (0.0, -0.6, -0.8), 3.5, bilateral=False),
        _Component("lower_lip", (0.0, 0.0), (16.0, 4.0), (0.0, 0.6, -0.8), 3.5, bilateral=False),
        _Component("mouth", (-2.0, 0.0), (6.0, 6.0), (-1.0, 0.0, 0.0), 2.5),
    ),
    # Lips part: the lower lip drops a little.
    "AU25": (_Component("lower_lip", (0.0, -1.0), (16.0, 6.0), (0.0, -1.0, -0.2), 4.0, bilateral=False),),
    # Jaw drop: handled as a windowed smooth step below the mouth line (see `_jaw_window`).
    "AU26": (),
    # Eyes closed: upper lid comes down over the socket.
    "AU43": (_Component("eye", (0.0, 3.0), (10.0, 5.0), (0.0, -1.0, 0.7), 5.0),),
}
_JAW_AMPLITUDE = 10.0
_JAW_DIRECTION = np.array([0.0, -1.0, -0.25])


def _jaw_window(model: FaceModel, xy: np.ndarray) -> np.ndarray:
    """Weight of the jaw-drop field: ~1 below the mouth, ~0 above, fading toward the cheeks."""
    a = anchor_points(model.subject)
    my = a["mouth"][1]
    step = 1.0 / (1.0 + np.exp((xy[:, 1] - (my - 2.0)) / 3.0))
    window = np.exp(-0.5 * (xy[:, 0] / 32.0) ** 2)
    return step * window


def au_basis(model: FaceModel) -> tuple[np.ndarray, np.ndarray]:
    """Displacement fields and region windows of every AU on the model's neutral vertices.

    Args:
        model: the subject's face.

    Returns:
        (fields, windows): fields (A, N, 3) float64, the displacement in mm at activation 1 of AU_NAMES[a];
        windows (A, N) in [0, 1], each AU's spatial support normalised to a maximum of 1.
    """
    xy = model.vertices[:, :2]
    anchors = anchor_points(model.subject)
    n = len(xy)
    fields = np.zeros((len(AU_NAMES), n, 3))
    windows = np.zeros((len(AU_NAMES), n))
    for k, name in enumerate(AU_NAMES):
        if name == "AU26":
            w = _jaw_window(model, xy)
            d = _JAW_DIRECTION / np.linalg.norm(_JAW_DIRECTION)
            fields[k] = _JAW_AMPLITUDE * w[:, None] * d
            windows[k] = w
            continue
        for comp in _AUS[name]:
            sides = (("l", 1.0), ("r", -1.0)) if comp.bilateral else (("", 1.0),)
            for side, sign in sides:
                ax, ay = anchors[f"{comp.anchor}_{side}" if side else comp.anchor]
                cx, cy = ax + sign * comp.offset[0], ay + comp.offset[1]
                w = np.exp(
                    -0.5 * (((xy[:, 0] - cx) / comp.sigma[0]) ** 2 + ((xy[:, 1] - cy) / comp.sigma[1]) ** 2)
                )
                d = np.array([sign * comp.direction[0], comp.direction[1], comp.direction[2]])
                fields[k] += comp.amplitude * w[:, None] * (d / np.linalg.norm(d))
                windows[k] = np.maximum(windows[k], w)
    peak = windows.max(axis=1, keepdims=True)
    windows = windows / np.where(peak > 0, peak, 1.0)
    return fields, windows


def region_mask(
    windows: np.ndarray, active: np.ndarray | None = None, threshold: float = REGION_THRESHOLD
) -> np.ndarray:
    """Per-vertex int64 bit mask: bit k set where AU k's window exceeds `threshold` (and AU k is active).

    Args:
        windows: (A, N) from `au_basis`.
        active: optional (A,) bool; AUs not active contribute no bits.
        threshold: window level that counts as inside the region.

    Returns:
        (N,) int64.
    """
    inside = windows > threshold
    if active is not None:
        inside &= np.asarray(active, dtype=bool)[:, None]
    bits = np.left_shift(np.int64(1), np.arange(len(windows), dtype=np.int64))
    return (inside.astype(np.int64) * bits[:, None]).sum(axis=0).astype(np.int64)


def decode_mask(mask: np.ndarray | int) -> list[str]:
    """The AU names whose bit is set anywhere in `mask` (a per-vertex or per-pixel array, or one integer)."""
    combined = int(np.bitwise_or.reduce(np.asarray(mask, dtype=np.int64).ravel()))
    return [name for k, name in enumerate(AU_NAMES) if combined >> k & 1]


def au_mask(mask: np.ndarray, au: str) -> np.ndarray:
    """Boolean per-vertex region of one AU from a bit mask."""
    if au not in AU_NAMES:
        raise ValueError(f"au={au!r}: not one of {', '.join(AU_NAMES)}")
    return (np.asarray(mask, dtype=np.int64) >> AU_NAMES.index(au) & 1).astype(bool)
