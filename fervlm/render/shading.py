"""Shading of `fervlm.render`'s hit records: the four modes' colours and the per-pixel label bits.

Each function maps the foreground pixels of a `_Hits` record to colours (grey modes return one channel);
the background stays 0, and no foreground pixel maps to 0, so the silhouette is the same in every mode.
"""

from __future__ import annotations

import math

import numpy as np

from fervlm.io.mesh import Mesh
from fervlm.render.hits import _Hits

# A fixed light a little above the camera (x = 0 keeps left/right views exact mirror images).
_LIGHT = np.array([0.0, 0.3, 1.0], dtype=np.float32) / np.float32(math.hypot(0.3, 1.0))


def _shade(hits: _Hits, ambient: float) -> np.ndarray:
    lambert = np.clip(hits.dot_camera_vector(_LIGHT), 0.0, 1.0)
    # Foreground never maps to 0 so the silhouette is identical in every mode.
    value = (1.5 + 254.0 * ambient) + (254.0 * (1.0 - ambient)) * lambert
    return value.astype(np.uint8)  # truncation of x + 0.5 rounds half up; one channel (grey)


def _depth(hits: _Hits) -> np.ndarray:
    out = np.empty(len(hits.index), dtype=np.uint8)
    for sl in hits.view_slices:
        d = hits.depth[sl]
        if len(d) == 0:
            continue
        near, far = float(d.min()), float(d.max())
        span = far - near if far > near else 1.0
        # Nearer is brighter; 1..255 so the background (0) stays distinct.
        out[sl] = np.floor(1.0 + 254.0 * (far - d) / span + 0.5).astype(np.uint8)
    return out


def _normals(hits: _Hits) -> np.ndarray:
    rgb = np.floor((hits.normal_cam() + 1.0) * 127.5 + 0.5)
    rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    # Keep the silhouette: a pure-black normal colour is impossible for a unit vector facing the camera,
    # but guard anyway so masks agree across modes.
    dark = rgb.max(axis=1) == 0
    rgb[dark] = 1
    return rgb


def _texture(mesh: Mesh, hits: _Hits) -> np.ndarray:
    tex = mesh.texture
    corner_uv = mesh.corner_uv()
    if hits.primitive is None or tex is None or corner_uv is None:
        what = "no UVs" if corner_uv is None else "no texture"
        raise ValueError(
            f"{mesh.source or 'mesh'}: mode='texture' needs a textured mesh with UVs, but it has {what} "
            f"(texture_path={mesh.texture_path})"
        )
    uv = np.einsum("pc,pck->pk", hits.bary(), corner_uv[hits.primitive])
    h, w = tex.shape[:2]
    # VRML UVs: origin bottom-left, so image row = (1 − v)·(h − 1). Bilinear, clamped at the borders.
    x = np.clip(uv[:, 0], 0.0, 1.0) * (w - 1)
    y = (1.0 - np.clip(uv[:, 1], 0.0, 1.0)) * (h - 1)
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    t = tex.astype(np.float32)
    rgb = (t[y0, x0] * (1 - fx) + t[y0, x1] * fx) * (1 - fy) + (t[y1, x0] * (1 - fx) + t[y1, x1] * fx) * fy
    return np.clip(np.floor(rgb + 0.5), 0, 255).astype(np.uint8)


def _label_bits(mesh: Mesh, hits: _Hits, labels: np.ndarray) -> np.ndarray:
    """Per foreground pixel, the label bits of the surface point it shows: for meshes the hit triangle's
    barycentric-nearest corner vertex, for point clouds the splatted point."""
    if hits.point is not None:
        vertex = hits.point
    else:
        corner = np.argmax(hits.bary(), axis=1)
        vertex = mesh.faces[hits.primitive, corner]
    return labels[vertex]
