"""Scanner realism for synthetic faces: head pose and scale jitter, vertex noise, small holes, a texture
image.

Holes drop faces only; vertex indices stay as they are so per-vertex AU labels stay aligned with the mesh.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fervlm.synth.face import FaceModel, anchor_points

# Skin tones (sRGB) per BU-3DFE ethnicity code; only for a plausible-looking optional texture.
_SKIN = {
    "WH": (224, 184, 160),
    "AE": (226, 190, 150),
    "BL": (120, 84, 60),
    "LA": (196, 150, 115),
    "IN": (170, 120, 90),
    "AM": (200, 160, 125),
}


@dataclass(frozen=True)
class Pose:
    """A rigid head pose plus a scale: yaw (about y), pitch (about x), roll (about z) in degrees."""

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    scale: float = 1.0
    shift: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @classmethod
    def random(
        cls, rng: np.random.Generator, degrees: float = 4.0, scale: float = 0.03, shift: float = 2.0
    ) -> Pose:
        """Uniform angles within ±`degrees`, scale within 1 ± `scale`, shift within ±`shift` mm."""
        a = rng.uniform(-degrees, degrees, 3)
        return cls(
            float(a[0]),
            float(a[1]),
            float(a[2]),
            float(1.0 + rng.uniform(-scale, scale)),
            tuple(float(v) for v in rng.uniform(-shift, shift, 3)),
        )

    def matrix(self) -> np.ndarray:
        """The 3×3 rotation R = R_z(roll) R_x(pitch) R_y(yaw), times the scale."""
        y, p, r = np.deg2rad([self.yaw, self.pitch, self.roll])
        ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
        rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
        rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
        return self.scale * rz @ rx @ ry

    def apply(self, vertices: np.ndarray) -> np.ndarray:
        """Rotate and scale about the origin, then shift."""
        return vertices @ self.matrix().T + np.asarray(self.shift)


def add_noise(vertices: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Isotropic Gaussian vertex noise of standard deviation `sigma` mm."""
    if sigma <= 0:
        return vertices
    return vertices + rng.normal(0.0, sigma, vertices.shape)


def hole_mask(
    model: FaceModel, rng: np.random.Generator, max_holes: int = 3, radius: tuple[float, float] = (2.5, 5.0)
) -> np.ndarray:
    """Faces to keep (bool, (M,)) after punching 0-`max_holes` small round holes where scanners lose data.

    Holes are placed near the regions a structured-light or stereo scanner typically misses: the eyes
    (specular), under the nose, the nostrils and the face rim.
    """
    anchors = anchor_points(model.subject)
    candidates = [
        anchors[k] for k in ("eye_l", "eye_r", "ala_l", "ala_r", "subnasale", "brow_out_l", "brow_out_r")
    ]
    keep = np.ones(len(model.faces), dtype=bool)
    n_holes = int(rng.integers(0, max_holes + 1))
    if n_holes == 0:
        return keep
    centroids = model.vertices[model.faces, :2].mean(axis=1)
    for i in rng.choice(len(candidates), size=n_holes, replace=False):
        cx, cy = candidates[int(i)]
        cx, cy = cx + rng.normal(0, 3), cy + rng.normal(0, 3)
        r = rng.uniform(*radius)
        keep &= (centroids[:, 0] - cx) ** 2 + (centroids[:, 1] - cy) ** 2 > r * r
    return keep


def make_texture(model: FaceModel, size: int = 256) -> np.ndarray:
    """A skin-coloured texture (H, W, 3) uint8 with darker brows, lips and eye region, addressed by
    `model.uv`.

    Row 0 of the image is the top of the face (VRML texture origin is bottom-left, so v = 1 - row / H).
    """
    s = model.subject.shape
    half_w, half_h = s["width"] / 2, s["height"] / 2
    cols = (np.arange(size) + 0.5) / size
    rows = 1.0 - (np.arange(size) + 0.5) / size
    x = cols[None, :] * 2 * half_w - half_w
    y = rows[:, None] * 2 * half_h - half_h
    x, y = np.broadcast_to(x, (size, size)), np.broadcast_to(y, (size, size))
    a = anchor_points(model.subject)
    skin = np.array(_SKIN.get(model.subject.ethnicity, _SKIN["WH"]), dtype=float)

    def blob(cx: float, cy: float, sx: float, sy: float) -> np.ndarray:
        return np.exp(-0.5 * (((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))

    dark = np.zeros((size, size))
    red = np.zeros((size, size))
    for side in ("l", "r"):
        bx, by = a[f"brow_mid_{side}"]
        dark += 0.6 * blob(bx, by - 2.0, 14.0, 2.5)
        ex, ey = a[f"eye_{side}"]
        dark += 0.5 * blob(ex, ey, 9.0, 3.0)
    red += blob(0.0, a["upper_lip"][1], 0.8 * a["mouth_l"][0], 0.7 * s["lip_thickness"])
    red += blob(0.0, a["lower_lip"][1], 0.7 * a["mouth_l"][0], 0.8 * s["lip_thickness"])
    img = skin[None, None, :] * (1.0 - 0.55 * np.clip(dark, 0, 1))[..., None]
    lip = np.array([150.0, 70.0, 70.0]) * (skin.mean() / 190.0)
    w = np.clip(red, 0, 1)[..., None]
    img = img * (1 - 0.7 * w) + lip * 0.7 * w
    return np.clip(img, 0, 255).astype(np.uint8)
