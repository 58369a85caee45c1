"""Point-cloud splatting for `fervlm.render`: meshes without faces.

Each point is projected and drawn as a square of about one point spacing with a z-buffer (nearest point
wins); normals are estimated with open3d (`estimate_normals`, oriented towards the camera). No surface is
reconstructed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from fervlm.io.mesh import Mesh
from fervlm.render.camera import Framing, _camera_distance, _rotation_y
from fervlm.render.hits import _face_camera, _Hits, _view_slices


def _splat_points(
    mesh: Mesh,
    framing: Framing,
    yaws: Sequence[float],
    size: int,
    projection: str,
    fov: float,
    radius_px: float | None,
) -> _Hits:
    """Z-buffered square splats of the points in every view (see the module docstring)."""
    import open3d as o3d

    pts = mesh.vertices.astype(np.float64)
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
    spacing = float(np.median(np.asarray(pcd.compute_nearest_neighbor_distance()))) if len(pts) > 1 else 0.0
    if spacing <= 0:
        spacing = framing.half / size
    pcd.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=4 * spacing, max_nn=20))
    normals = np.asarray(pcd.normals, dtype=np.float32)
    dist = _camera_distance(framing, projection, fov)
    pixel = 2.0 * framing.half / size  # mesh units per pixel at the centre plane
    r = math.ceil(0.6 * spacing / pixel) if radius_px is None else math.ceil(radius_px)
    r = max(r, 0)
    offsets = np.arange(-r, r + 1)
    oy, ox = (a.ravel() for a in np.meshgrid(offsets, offsets, indexing="ij"))
    n_pix = size * size
    idx_parts: list[np.ndarray] = []
    pid_parts: list[np.ndarray] = []
    depth_parts: list[np.ndarray] = []
    rotations = []
    for v, yaw in enumerate(yaws):
        R = _rotation_y(yaw)
        rotations.append(R)
        cam = (pts - framing.centre) @ R.T
        depth = dist - cam[:, 2]
        if projection == "orthographic":
            xn, yn = cam[:, 0] / framing.half, cam[:, 1] / framing.half
        else:
            t = framing.half / dist
            xn, yn = cam[:, 0] / (depth * t), cam[:, 1] / (depth * t)
        col = np.floor((xn + 1.0) * size / 2.0).astype(np.int64)
        row = np.floor((1.0 - yn) * size / 2.0).astype(np.int64)
        cols = (col[:, None] + ox[None, :]).ravel()
        rows = (row[:, None] + oy[None, :]).ravel()
        pid = np.repeat(np.arange(len(pts)), len(ox))
        ok = (cols >= 0) & (cols < size) & (rows >= 0) & (rows < size) & (depth[pid] > 0)
        flat = v * n_pix + rows[ok] * size + cols[ok]
        idx_parts.append(flat)
        pid_parts.append(pid[ok])
        depth_parts.append(depth[pid[ok]])
    flat = np.concatenate(idx_parts)
    pid = np.concatenate(pid_parts)
    depth = np.concatenate(depth_parts)
    # Z-buffer: sort by (pixel, depth) and keep each pixel's nearest splat.
    order = np.lexsort((depth, flat))
    flat, pid, depth = flat[order], pid[order], depth[order]
    first = np.ones(len(flat), dtype=bool)
    first[1:] = flat[1:] != flat[:-1]
    index, pid, depth = flat[first], pid[first], depth[first].astype(np.float32)
    shape = (len(yaws), size, size)
    slices = _view_slices(index, shape)
    hits = _Hits(shape, index, slices, rotations, depth, np.ascontiguousarray(normals[pid].T), point=pid)
    # Orient towards the camera's optical axis (exact for orthographic, close enough for a pinhole).
    _face_camera(hits, None)
    return hits
