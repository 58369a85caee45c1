"""The synthetic face: a per-subject height field over an elliptical domain, with named landmarks.

The surface is z = f(x, y) on a regular grid clipped to an ellipse (millimetres, face looking toward +z, y up,
subject's left at +x). Anatomical features are smooth Gaussian bumps and dips whose shape parameters are drawn
per subject, plus a low-frequency random field, so two subjects differ the way real scans do (face size, nose,
eyes, lips, chin, brows) while the topology stays a plain grid (which the Bosphorus `.bnt` writer needs).

This is the "face model" of the embedded default dataset (docs/design.md, "The embedded default").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fervlm.io.mesh import Mesh

ETHNICITIES = ("WH", "AE", "BL", "LA", "IN", "AM")
"""BU-3DFE ethnicity codes (docs/datasets.md §1.3); drawn with BU-3DFE's own frequencies (51/24/9/8/6/2)."""
_ETHNICITY_P = np.array([51, 24, 9, 8, 6, 2], dtype=float) / 100.0
AGE_GROUPS = ("young", "middle", "older")

BOSPHORUS_LANDMARKS = (
    "Outer left eyebrow",
    "Middle left eyebrow",
    "Inner left eyebrow",
    "Inner right eyebrow",
    "Middle right eyebrow",
    "Outer right eyebrow",
    "Outer left eye corner",
    "Inner left eye corner",
    "Inner right eye corner",
    "Outer right eye corner",
    "Nose saddle left",
    "Nose saddle right",
    "Left nose peak",
    "Nose tip",
    "Right nose peak",
    "Left mouth corner",
    "Upper lip outer middle",
    "Right mouth corner",
    "Upper lip inner middle",
    "Lower lip inner middle",
    "Lower lip outer middle",
    "Chin middle",
)
"""The 22 Bosphorus `.lm3` label names (docs/datasets.md §4.4), in the order they are written."""


@dataclass
class Subject:
    """One synthetic identity: metadata, face-shape parameters and idiosyncratic AU gains.

    Attributes:
        subject_id: the id used in file names (e.g. ``F0001``).
        sex: ``"F"`` or ``"M"``.
        age_group: one of `AGE_GROUPS`.
        ethnicity: one of `ETHNICITIES`.
        shape: named shape parameters in millimetres (see `sample_subject`).
        field_coef: coefficients of the low-frequency random field, (K, 4): amplitude, kx, ky, phase.
        au_gain: per-AU multiplicative gain (the subject's idiosyncrasy), keyed by AU name.
        seed: the integer the subject's random stream was derived from (for provenance).
    """

    subject_id: str
    sex: str
    age_group: str
    ethnicity: str
    shape: dict[str, float]
    field_coef: np.ndarray
    au_gain: dict[str, float] = field(default_factory=dict)
    seed: int = 0


def sample_subject(
    rng: np.random.Generator, subject_id: str | None = None, sex: str | None = None
) -> Subject:
    """Draw a subject: metadata and face-shape parameters.

    Args:
        rng: the subject's own random stream (derive it per subject for parallel-safe determinism).
        subject_id: the id; defaults to ``<sex>0001``.
        sex: force ``"F"``/``"M"``; drawn otherwise.

    Returns:
        The `Subject`.
    """
    from fervlm.synth.aus import AU_NAMES  # local: aus imports face for the landmark helpers

    sex = sex or ("F" if rng.random() < 0.55 else "M")
    male = sex == "M"
    age_group = AGE_GROUPS[int(rng.choice(3, p=[0.6, 0.3, 0.1]))]
    ethnicity = ETHNICITIES[int(rng.choice(len(ETHNICITIES), p=_ETHNICITY_P))]
    n = rng.normal
    shape = {
        "width": 142.0 + 8.0 * male + n(0, 5),  # face width (x extent of the ellipse)
        "height": 190.0 + 10.0 * male + n(0, 7),
        "depth": 62.0 + n(0, 4),  # dome depth from the nose plane to the rim
        "nose_length": 42.0 + 3.0 * male + n(0, 3),
        "nose_height": 20.0 + 2.0 * male + n(0, 2.5),
        "nose_width": 17.0 + n(0, 1.8),
        "eye_spacing": 64.0 + n(0, 3),
        "eye_depth": 11.0 + n(0, 1.5),
        "eye_y": 28.0 + n(0, 2),
        "lip_thickness": 5.0 - 0.6 * male + n(0, 0.8),
        "mouth_width": 50.0 + n(0, 3),
        "mouth_y": -38.0 + n(0, 2),
        "chin": 6.0 + 1.5 * male + n(0, 1.2),
        "brow": 5.0 + 2.0 * male + n(0, 1.0),
        "cheek": 6.0 + n(0, 1.2) - 1.5 * (age_group == "older"),
    }
    k = 6
    field_coef = np.column_stack(
        [
            rng.normal(0, 0.6, k),
            rng.uniform(-1, 1, k) * 2 * np.pi / 90,
            rng.uniform(-1, 1, k) * 2 * np.pi / 90,
            rng.uniform(0, 2 * np.pi, k),
        ]
    )
    gains = np.clip(rng.lognormal(0.0, 0.18, len(AU_NAMES)), 0.65, 1.5)
    return Subject(
        subject_id=subject_id or f"{sex}0001",
        sex=sex,
        age_group=age_group,
        ethnicity=ethnicity,
        shape=shape,
        field_coef=field_coef,
        au_gain=dict(zip(AU_NAMES, gains.tolist(), strict=True)),
        seed=int(rng.integers(2**31)),
    )


def _gauss(x: np.ndarray, y: np.ndarray, cx: float, cy: float, sx: float, sy: float) -> np.ndarray:
    return np.exp(-0.5 * (((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))


def anchor_points(subject: Subject) -> dict[str, tuple[float, float]]:
    """Named 2D (x, y) anchor positions of the subject's features (left = +x), used by shape and AUs."""
    s = subject.shape
    ex, ey = s["eye_spacing"] / 2, s["eye_y"]
    brow_y = ey + 14.0
    tip_y = ey - s["nose_length"]
    mx, my = s["mouth_width"] / 2, s["mouth_y"]
    chin_y = -0.5 * s["height"] + 22.0
    return {
        "eye_l": (ex, ey),
        "eye_r": (-ex, ey),
        "brow_in_l": (12.0, brow_y),
        "brow_in_r": (-12.0, brow_y),
        "brow_mid_l": (ex, brow_y + 3.0),
        "brow_mid_r": (-ex, brow_y + 3.0),
        "brow_out_l": (ex + 18.0, brow_y),
        "brow_out_r": (-ex - 18.0, brow_y),
        "nose_root": (0.0, ey),
        "nose_tip": (0.0, tip_y),
        "ala_l": (s["nose_width"] / 2, tip_y - 2.0),
        "ala_r": (-s["nose_width"] / 2, tip_y - 2.0),
        "subnasale": (0.0, tip_y - 8.0),
        "mouth_l": (mx, my),
        "mouth_r": (-mx, my),
        "mouth": (0.0, my),
        "upper_lip": (0.0, my + 0.9 * s["lip_thickness"]),
        "lower_lip": (0.0, my - 1.1 * s["lip_thickness"]),
        "chin": (0.0, chin_y),
        "cheek_l": (ex + 8.0, ey - 28.0),
        "cheek_r": (-ex - 8.0, ey - 28.0),
    }


def height(subject: Subject, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The subject's neutral face height z(x, y) in millimetres (nose tip ≈ the maximum)."""
    s = subject.shape
    a = anchor_points(subject)
    ax, by = 0.62 * s["width"], 0.6 * s["height"]
    r2 = np.clip((x / ax) ** 2 + (y / by) ** 2, 0.0, 1.0)
    z = s["depth"] * np.sqrt(1.0 - r2) - s["depth"]  # a dome whose rim curves away from the viewer
    ey, tip_y = s["eye_y"], a["nose_tip"][1]
    # Nose: a ridge growing from the root to the tip, a tip bulb and the two alae.
    t = np.clip((ey + 6.0 - y) / (ey + 6.0 - tip_y), 0.0, 1.0)
    ridge_w = 4.0 + 0.35 * s["nose_width"] * t
    z += (
        s["nose_height"]
        * t**1.3
        * np.exp(-0.5 * (x / ridge_w) ** 2)
        * (1.0 / (1.0 + np.exp((tip_y - 3.0 - y) / 1.5)))
    )
    z += 0.25 * s["nose_height"] * _gauss(x, y, 0.0, tip_y + 1.0, 6.0, 5.0)
    for side in ("l", "r"):
        cx, cy = a[f"ala_{side}"]
        z += 0.3 * s["nose_height"] * _gauss(x, y, cx, cy, 4.0, 4.0)
        ex, _ = a[f"eye_{side}"]
        z -= s["eye_depth"] * _gauss(x, y, ex, ey, 13.0, 8.0)  # eye socket
        z += 2.0 * _gauss(x, y, ex, ey - 0.5, 6.0, 3.0)  # eyeball/lid bulge inside the socket
        bx, byy = a[f"brow_mid_{side}"]
        z += s["brow"] * _gauss(x, y, bx, byy - 3.0, 20.0, 5.0)  # brow ridge
        cx, cy = a[f"cheek_{side}"]
        z += s["cheek"] * _gauss(x, y, cx, cy, 15.0, 13.0)
    mx, my = a["mouth_l"][0], s["mouth_y"]
    lt = s["lip_thickness"]
    z += 0.9 * lt * _gauss(x, y, 0.0, a["upper_lip"][1], 0.8 * mx, 0.55 * lt)  # upper lip
    z += 1.0 * lt * _gauss(x, y, 0.0, a["lower_lip"][1], 0.7 * mx, 0.65 * lt)  # lower lip
    z -= 1.5 * _gauss(x, y, 0.0, my, 0.85 * mx, 0.9)  # the mouth line
    z += 3.0 * _gauss(x, y, 0.0, my + 12.0, 6.0, 5.0) - 1.5 * _gauss(
        x, y, 0.0, my + 13.0, 2.5, 4.0
    )  # philtrum
    z += s["chin"] * _gauss(x, y, 0.0, a["chin"][1] + 4.0, 16.0, 10.0)
    z -= 2.5 * _gauss(x, y, 0.0, my - 16.0, 14.0, 3.5)  # labiomental fold
    c = subject.field_coef
    z += (
        (c[:, :1] * np.sin(np.outer(c[:, 1], x) + np.outer(c[:, 2], y) + c[:, 3:4]))
        .sum(axis=0)
        .reshape(x.shape)
    )
    return z


@dataclass
class FaceModel:
    """A subject's neutral face mesh on a regular grid clipped to an ellipse.

    Attributes:
        subject: the identity.
        grid_shape: (nrows, ncols) of the full rectangular grid (row 0 = top of the face).
        grid_index: (nrows, ncols) int64, the vertex index of each grid cell or -1 outside the ellipse.
        vertices: (N, 3) float64 neutral vertices.
        faces: (M, 3) int64 triangles (counter-clockwise seen from +z).
        uv: (N, 2) float32 per-vertex texture coordinates in [0, 1] (VRML convention, origin bottom-left).
        landmarks83: (83, ) int64 vertex indices of the BU-3DFE-style landmarks (menpo3d grouping).
        landmarks_named: Bosphorus label -> vertex index.
    """

    subject: Subject
    grid_shape: tuple[int, int]
    grid_index: np.ndarray
    vertices: np.ndarray
    faces: np.ndarray
    uv: np.ndarray
    landmarks83: np.ndarray
    landmarks_named: dict[str, int]

    @classmethod
    def build(cls, subject: Subject, resolution: int = 5000) -> FaceModel:
        """Mesh the subject's face with about `resolution` vertices (2k-40k is the useful range)."""
        if resolution < 200:
            raise ValueError(f"resolution={resolution}: need at least 200 vertices for a face")
        s = subject.shape
        half_w, half_h = s["width"] / 2, s["height"] / 2
        step = float(np.sqrt(np.pi * half_w * half_h / resolution))
        xs = np.arange(-half_w, half_w + 1e-9, step)
        ys = np.arange(half_h, -half_h - 1e-9, -step)  # top row first
        gx, gy = np.meshgrid(xs, ys)
        inside = (gx / half_w) ** 2 + (gy / half_h) ** 2 <= 1.0
        grid_index = np.full(gx.shape, -1, dtype=np.int64)
        grid_index[inside] = np.arange(int(inside.sum()))
        # Keep only cells some triangle uses, in row-major order: exactly the vertices a `.bnt` reader
        # rebuilds from the grid (docs/datasets.md §4.3), so per-vertex labels stay aligned across formats.
        used = np.zeros(int(inside.sum()), dtype=bool)
        used[grid_faces(grid_index).ravel()] = True
        inside[inside] = used
        grid_index[:] = -1
        grid_index[inside] = np.arange(int(inside.sum()))
        x, y = gx[inside], gy[inside]
        vertices = np.column_stack([x, y, height(subject, x, y)])
        faces = grid_faces(grid_index)
        uv = np.column_stack([(x + half_w) / (2 * half_w), (y + half_h) / (2 * half_h)]).astype(np.float32)
        lm_xy = landmark_positions_83(subject)
        named_xy = bosphorus_positions(subject)
        xy = vertices[:, :2]
        lm83 = np.array([_nearest(xy, p) for p in lm_xy], dtype=np.int64)
        named = {k: _nearest(xy, p) for k, p in named_xy.items()}
        return cls(subject, gx.shape, grid_index, vertices, faces, uv, lm83, named)

    def mesh(self) -> Mesh:
        """The neutral face as a `Mesh` (float32 vertices, per-vertex UVs)."""
        return Mesh(vertices=self.vertices, faces=self.faces, uv=self.uv)


def grid_faces(grid_index: np.ndarray) -> np.ndarray:
    """Two triangles per grid cell whose corners are all inside; counter-clockwise seen from +z.

    Rows run top to bottom (y decreasing) and columns left to right (x increasing), so (r, c) → (r+1, c) →
    (r, c+1) turns counter-clockwise when viewed from +z.
    """
    a, b = grid_index[:-1, :-1], grid_index[1:, :-1]
    c, d = grid_index[:-1, 1:], grid_index[1:, 1:]
    t1 = np.stack([a, b, c], axis=-1).reshape(-1, 3)
    t2 = np.stack([c, b, d], axis=-1).reshape(-1, 3)
    tris = np.concatenate([t1, t2])
    return tris[(tris >= 0).all(axis=1)]


def _nearest(xy: np.ndarray, p: tuple[float, float]) -> int:
    return int(np.argmin((xy[:, 0] - p[0]) ** 2 + (xy[:, 1] - p[1]) ** 2))


def _ellipse(
    cx: float, cy: float, rx: float, ry: float, n: int, start: float = 0.0
) -> list[tuple[float, float]]:
    ang = start + 2 * np.pi * np.arange(n) / n
    return [(cx + rx * np.cos(t), cy + ry * np.sin(t)) for t in ang]


def landmark_positions_83(subject: Subject) -> list[tuple[float, float]]:
    """2D positions of 83 landmarks in menpo3d's BU-3DFE grouping (docs/datasets.md §1.9): left eye 0-8, right
    eye 8-16, left brow 16-26, right brow 26-36, nose 36-48, mouth 48-68, contour 68-83."""
    s, a = subject.shape, anchor_points(subject)
    pts: list[tuple[float, float]] = []
    for side in ("l", "r"):
        ex, ey = a[f"eye_{side}"]
        pts += _ellipse(ex, ey, 13.0, 5.0, 8)
    for sign in (1.0, -1.0):
        bx = np.linspace(10.0, s["eye_spacing"] / 2 + 20.0, 5)
        by = a["brow_mid_l"][1]
        pts += [(sign * v, by + 2.0 - 0.002 * (v - 30) ** 2) for v in bx]
        pts += [(sign * v, by - 3.0 - 0.002 * (v - 30) ** 2) for v in bx[::-1]]
    tip_y = a["nose_tip"][1]
    pts += [
        (-5.0, s["eye_y"]),
        (-7.0, tip_y + 20),
        (-9.0, tip_y + 8),
        (-s["nose_width"] / 2 - 2, tip_y),
        (-6.0, tip_y - 6),
        (-2.0, tip_y - 8),
        (2.0, tip_y - 8),
        (6.0, tip_y - 6),
        (s["nose_width"] / 2 + 2, tip_y),
        (9.0, tip_y + 8),
        (7.0, tip_y + 20),
        (5.0, s["eye_y"]),
    ]
    mx, my = a["mouth_l"][0], s["mouth_y"]
    pts += _ellipse(0.0, my, mx, 1.8 * s["lip_thickness"], 12, start=np.pi)
    pts += _ellipse(0.0, my, 0.7 * mx, 0.6 * s["lip_thickness"], 8, start=np.pi)
    half_w, half_h = s["width"] / 2, s["height"] / 2
    for t in np.linspace(np.pi * 1.05, np.pi * 1.95, 15)[::-1]:
        pts.append((0.92 * half_w * np.cos(t) * -1, 0.92 * half_h * np.sin(t) + 0.1 * half_h))
    return pts


def bosphorus_positions(subject: Subject) -> dict[str, tuple[float, float]]:
    """2D positions of the 22 Bosphorus landmarks (`BOSPHORUS_LANDMARKS`)."""
    s, a = subject.shape, anchor_points(subject)
    ex, ey = a["eye_l"]
    by = a["brow_mid_l"][1]
    tip_y = a["nose_tip"][1]
    mx, my = a["mouth_l"]
    lt = s["lip_thickness"]
    pos = {
        "Outer left eyebrow": (ex + 20.0, by - 3.0),
        "Middle left eyebrow": (ex, by),
        "Inner left eyebrow": (10.0, by - 2.0),
        "Inner right eyebrow": (-10.0, by - 2.0),
        "Middle right eyebrow": (-ex, by),
        "Outer right eyebrow": (-ex - 20.0, by - 3.0),
        "Outer left eye corner": (ex + 13.0, ey),
        "Inner left eye corner": (ex - 13.0, ey),
        "Inner right eye corner": (-ex + 13.0, ey),
        "Outer right eye corner": (-ex - 13.0, ey),
        "Nose saddle left": (8.0, ey - 2.0),
        "Nose saddle right": (-8.0, ey - 2.0),
        "Left nose peak": (s["nose_width"] / 2 + 1.0, tip_y - 2.0),
        "Nose tip": (0.0, tip_y),
        "Right nose peak": (-s["nose_width"] / 2 - 1.0, tip_y - 2.0),
        "Left mouth corner": (mx, my),
        "Upper lip outer middle": (0.0, my + 1.8 * lt),
        "Right mouth corner": (-mx, my),
        "Upper lip inner middle": (0.0, my + 0.3),
        "Lower lip inner middle": (0.0, my - 0.3),
        "Lower lip outer middle": (0.0, my - 2.0 * lt),
        "Chin middle": a["chin"],
    }
    return {k: pos[k] for k in BOSPHORUS_LANDMARKS}
