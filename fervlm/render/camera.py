"""Cameras of `fervlm.render`: the shared framing of all views and the rays of each view.

Framing is shared by all views: the rotation centre projects to the image centre and one scale is used for
every view, chosen so the robust (1st–99th percentile) extent of the face in *every* requested view, times
`margin`, fits in the image. The extent comes from the vertices, or from `mesh.landmarks` when the mesh
carries at least 3 landmarks (then `landmark_margin` applies: landmarks hug the face, so the crop needs
more room). A view with yaw θ shows the mesh rotated by R_y(θ); rather than rotating the mesh, the rays
are rotated by R_y(θ)ᵀ — equivalent and cheaper.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fervlm.io.mesh import Mesh


def _rotation_y(yaw_deg: float) -> np.ndarray:
    """R_y(θ) (right-hand rule about +y), float64: mesh frame → camera frame of the view with yaw θ."""
    a = math.radians(yaw_deg)
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]], dtype=np.float64)


@dataclass(frozen=True)
class Framing:
    """Where the camera looks: rotation centre (mesh units), half image width in mesh units at the centre
    plane, and the distance from the centre to the ray origins (orthographic) or the camera (pinhole)."""

    centre: np.ndarray
    half: float
    distance: float


def _framing(mesh: Mesh, yaws: Sequence[float], margin: float, landmark_margin: float) -> Framing:
    use_landmarks = mesh.landmarks is not None and len(mesh.landmarks) >= 3
    pts = np.asarray(mesh.landmarks if use_landmarks else mesh.vertices, dtype=np.float64)
    # Percentiles of a strided subsample: robust to scanner spikes and cheap on 35k+ vertices.
    sample = pts[:: max(1, len(pts) // 4000)]
    q = 0.0 if use_landmarks else 1.0
    lo, hi = np.percentile(sample, [q, 100.0 - q], axis=0)
    centre = (lo + hi) / 2.0
    rel = sample - centre
    # Columns: y, then the horizontal image coordinate x' = x cos θ + z sin θ of every view.
    angles = np.radians(np.asarray(yaws, dtype=np.float64))
    coords = np.column_stack([rel[:, 1], rel[:, 0:1] * np.cos(angles) + rel[:, 2:3] * np.sin(angles)])
    half = float(np.abs(np.percentile(coords, [q, 100.0 - q], axis=0)).max())
    half *= landmark_margin if use_landmarks else margin
    if not np.isfinite(half) or half <= 0:
        raise ValueError(f"{mesh.source or 'mesh'}: degenerate extent, cannot frame the face")
    # Ray origins must lie in front of every vertex in every view: beyond the bounding sphere.
    # Per-column reductions of a transposed copy: numpy reduces an (N, 3) array along axis 0 ~10x slower.
    columns = np.ascontiguousarray(mesh.vertices.T)
    vmin, vmax = columns.min(axis=1), columns.max(axis=1)
    radius = float(np.linalg.norm(np.maximum(np.abs(vmax - centre), np.abs(vmin - centre))))
    return Framing(centre=centre, half=half, distance=max(2.0 * radius, 2.0 * half) + 1e-3)


def frame_views(
    mesh: Mesh, yaws: Sequence[float] = (-30, 0, 30), margin: float = 1.08, landmark_margin: float = 1.35
) -> Framing:
    """The shared framing (centre, scale) `render_views` would choose for `mesh` and `yaws`.

    Pass it back as ``render_views(..., framing=...)`` to render other meshes — e.g. every frame of a 4D
    sequence — with exactly the same camera, so that only the face moves between frames.
    """
    mesh.validate()
    return _framing(mesh, [float(y) for y in yaws], margin, landmark_margin)


def _pixel_grid(size: int) -> np.ndarray:
    """Pixel-centre coordinates in [−1, 1], symmetric about 0 (so flipping columns mirrors x exactly)."""
    return ((np.arange(size, dtype=np.float32) + 0.5) * (2.0 / size) - 1.0).astype(np.float32)


def _camera_distance(framing: Framing, projection: str, fov: float) -> float:
    if projection == "orthographic":
        return framing.distance
    # Pinhole: the centre plane spans ±half at this distance; stay in front of the face either way.
    return max(framing.half / math.tan(math.radians(fov) / 2.0), framing.distance)


def _rays(
    framing: Framing, yaws: Sequence[float], size: int, projection: str, fov: float
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Rays (V, H, W, 6) float32 in the mesh frame, and the per-view rotation R_y(θ) (mesh → camera).

    In camera coordinates, for pixel-centre coordinates x, y ∈ [−1, 1], an orthographic ray starts at
    (x·half, y·half, D) with direction (0, 0, −1); a pinhole ray starts at (0, 0, D) with direction
    (x·k, y·k, −1), k = half/D, so the plane through the centre spans ±half exactly as in orthographic
    views (k = tan(fov/2) unless the camera had to move back to stay outside the face's bounding sphere,
    which narrows the field of view). The directions are not normalised: their z is −1, so `t_hit` is the
    depth along the optical axis in both projections. Mapping to the mesh frame applies Rᵀ (rotating the
    rays by −θ is rotating the mesh by +θ).
    """
    g = _pixel_grid(size)
    xs, ys = g[None, :], -g[:, None]  # row 0 is the top of the image (largest y)
    dist = _camera_distance(framing, projection, fov)
    rays = np.empty((len(yaws), size, size, 6), dtype=np.float32)
    rotations = []
    centre = framing.centre.astype(np.float32)
    for v, yaw in enumerate(yaws):
        R = _rotation_y(yaw)
        rotations.append(R)
        ex, ey, ez = (R.T[:, k].astype(np.float32) for k in range(3))  # camera axes in the mesh frame
        # Each image-space term varies along one axis only: a (H, 3) "down" part plus a (W, 3) "across" part.
        if projection == "orthographic":
            h = np.float32(framing.half)
            across = (xs.T * h) * ex  # (W, 3)
            down = centre + np.float32(dist) * ez + (ys * h) * ey  # (H, 3)
            constant, out_sum, out_constant = -ez, slice(0, 3), 3
        else:
            k = np.float32(framing.half / dist)  # tan of the half field of view actually used
            across = (xs.T * k) * ex
            down = (ys * k) * ey - ez
            constant, out_sum, out_constant = centre + np.float32(dist) * ez, slice(3, 6), 0
        # One component at a time: numpy's inner loop then runs along a 224-long image row instead of over
        # 3 components, ~10x faster for the same float32 sums.
        for c in range(3):
            np.add(down[:, c : c + 1], across[None, :, c], out=rays[v, :, :, out_sum.start + c])
            rays[v, :, :, out_constant + c] = constant[c]
    return rays, rotations
