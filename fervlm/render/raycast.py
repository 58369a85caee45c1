"""Ray casting of triangle meshes for `fervlm.render` (open3d's Embree-backed `RaycastingScene`).

The scene (BVH) of a mesh comes from the content-checked cache (`fervlm.render.cache`), the rays of *all*
views go to one `cast_rays` call as a (V, H, W, 6) tensor, and everything after the cast — the foreground
pixels' depth, barycentrics and interpolated normals — is vectorised numpy over the foreground only.
"""

from __future__ import annotations

import numpy as np

from fervlm.io.mesh import Mesh
from fervlm.render.cache import _CACHE, _RAYS, _THREADS, _SceneEntry
from fervlm.render.camera import Framing, _framing, _rays
from fervlm.render.hits import _face_camera, _Hits, _view_slices

_INVALID = np.uint32(0xFFFFFFFF)  # open3d's primitive id of a ray that hit nothing


def _cast_mesh(
    mesh: Mesh,
    entry: _SceneEntry,
    rays: object,
    shape: tuple[int, int, int],
    rotations: list[np.ndarray],
    ray_dirs: np.ndarray | None,
    smooth: bool,
) -> _Hits:
    result = entry.scene.cast_rays(rays, nthreads=_THREADS["n"])
    prim_all = result["primitive_ids"].numpy().reshape(-1)
    index = np.flatnonzero(prim_all != _INVALID)
    prim = np.take(prim_all, index).astype(np.int64)
    depth = np.take(result["t_hit"].numpy().reshape(-1), index)
    # Gather the (u, v) pairs as one 8-byte word each: ~10× faster than fancy-indexing (P, 2) float32 rows.
    uv_all = np.ascontiguousarray(result["primitive_uvs"].numpy()).reshape(-1)
    uv = np.take(uv_all.view(np.float64), index).view(np.float32).reshape(-1, 2)
    if smooth:
        # open3d's barycentrics (u, v) weight corners 1 and 2: p = (1 − u − v)·v0 + u·v1 + v·v2.
        u, v = np.ascontiguousarray(uv.T)
        vn = entry.vertex_normals()  # (3 components, N)
        normal = np.empty((3, len(prim)), dtype=np.float32)
        # Σ_corners weight · n(corner), gathering only the hit triangles' corners (1-D takes: fast).
        for i, (corner, weight) in enumerate(zip(entry.corners(), (1.0 - u - v, u, v), strict=True)):
            vid = np.take(corner, prim)
            for k in range(3):
                term = np.take(vn[k], vid) * weight
                if i == 0:
                    normal[k] = term
                else:
                    normal[k] += term
        length = np.sqrt(normal[0] * normal[0] + normal[1] * normal[1] + normal[2] * normal[2])
        normal /= np.maximum(length, 1e-12)
    else:
        face_normals = result["primitive_normals"].numpy().reshape(-1, 3)
        normal = np.ascontiguousarray(np.take(face_normals, index, axis=0).T)
    slices = _view_slices(index, shape)
    hits = _Hits(shape, index, slices, rotations, depth, normal, primitive=prim, uv=uv)
    _face_camera(hits, None if ray_dirs is None else ray_dirs[index])
    return hits


def _mesh_camera(
    mesh: Mesh,
    yaws: list[float],
    size: int,
    projection: str,
    fov: float,
    margin: float,
    landmark_margin: float,
    framing: Framing | None,
) -> tuple[_SceneEntry, object, tuple[int, int, int], list[np.ndarray], np.ndarray | None]:
    """The cached scene of `mesh` and the rays (an open3d tensor) of this camera set-up. The framing is
    cached per mesh and the rays per framing, so re-rendering a mesh, or rendering the frames of a sequence
    with one shared `framing`, builds no rays again."""
    import open3d as o3d

    entry = _CACHE.get(mesh)
    if framing is None:
        lm = None if mesh.landmarks is None else np.asarray(mesh.landmarks).tobytes()
        fkey = (tuple(yaws), margin, landmark_margin, lm)
        if fkey not in entry.cameras:
            entry.cameras.clear()  # one framing per mesh is the common case; keep memory flat
            entry.cameras[fkey] = _framing(mesh, yaws, margin, landmark_margin)
        framing = entry.cameras[fkey]
    rkey = (framing.centre.tobytes(), framing.half, framing.distance, tuple(yaws), size, projection, fov)
    if rkey not in _RAYS:
        rays, rotations = _rays(framing, yaws, size, projection, fov)
        dirs = None if projection == "orthographic" else rays[..., 3:6].reshape(-1, 3).copy()
        if len(_RAYS) >= 4:
            _RAYS.pop(next(iter(_RAYS)))
        _RAYS[rkey] = (o3d.core.Tensor(rays), rays.shape[:3], rotations, dirs)
    return (entry, *_RAYS[rkey])
