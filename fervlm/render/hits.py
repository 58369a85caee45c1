"""Hit records of `fervlm.render`: the foreground pixels of all views, whether ray cast or splatted.

Everything after visibility — shading, texture lookup, label masks — works on this flat record of the
foreground pixels only, so its cost scales with the face's area, not with the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class _Hits:
    """Foreground pixels of all views, flattened: `index` into the (V·H·W) image (sorted, so each view's
    pixels are the contiguous `view_slices[v]`), the optical-axis depth, the unit surface normal in the
    *mesh* frame already turned towards the camera — stored component-major, (3, P) — and where on the
    surface each pixel landed."""

    shape: tuple[int, int, int]
    index: np.ndarray
    view_slices: list[slice]
    rotations: list[np.ndarray]
    depth: np.ndarray
    normal: np.ndarray
    primitive: np.ndarray | None = None  # triangle id (meshes)
    uv: np.ndarray | None = None  # (P, 2) open3d barycentrics (u, v) within the triangle (meshes)
    point: np.ndarray | None = None  # point id (point clouds)

    def bary(self) -> np.ndarray:
        """(P, 3) barycentric weights of the hit triangle's corners. open3d's (u, v) weight corners 1 and 2:
        p = (1 − u − v)·v0 + u·v1 + v·v2 (checked against the hit point in the tests)."""
        assert self.uv is not None
        return np.hstack([1.0 - self.uv[:, 0:1] - self.uv[:, 1:2], self.uv])

    def normal_cam(self) -> np.ndarray:
        """(P, 3) unit normals in camera coordinates (x right, y up, z towards the camera)."""
        out = np.empty((len(self.index), 3), dtype=np.float32)
        for sl, R in zip(self.view_slices, self.rotations, strict=True):
            out[sl] = (R.astype(np.float32) @ self.normal[:, sl]).T
        return out

    def dot_camera_vector(self, vector_cam: np.ndarray) -> np.ndarray:
        """n · u per pixel for a fixed camera-frame vector u, evaluated in the mesh frame (u ↦ Rᵀu per view),
        which avoids rotating every normal."""
        out = np.empty(len(self.index), dtype=np.float32)
        for sl, R in zip(self.view_slices, self.rotations, strict=True):
            a, b, c = (R.T @ vector_cam).astype(np.float32)
            n = self.normal[:, sl]
            out[sl] = a * n[0] + b * n[1] + c * n[2]
        return out


def _view_slices(index: np.ndarray, shape: tuple[int, int, int]) -> list[slice]:
    per_view = shape[1] * shape[2]
    bounds = np.searchsorted(index, np.arange(shape[0] + 1) * per_view)
    return [slice(int(bounds[v]), int(bounds[v + 1])) for v in range(shape[0])]


def _face_camera(hits: _Hits, ray_dirs: np.ndarray | None) -> None:
    """Flip normals that point away from the viewer (scans have no consistent winding: two-sided lighting).

    `ray_dirs` (P, 3) mesh-frame ray directions for a pinhole camera; None for orthographic, where the
    direction is the same for a whole view.
    """
    if ray_dirs is None:
        facing = hits.dot_camera_vector(np.array([0.0, 0.0, 1.0]))
    else:
        facing = -np.einsum("kp,pk->p", hits.normal, ray_dirs)
    hits.normal[:, facing < 0] *= -1
