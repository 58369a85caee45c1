"""Multiview projection of a face mesh or point cloud to images (CPU, headless).

Triangle meshes are ray cast with open3d's Embree-backed `o3d.t.geometry.RaycastingScene`: the scene (BVH)
is built once per mesh (and kept in a small content-checked cache, so rendering the same mesh again in
another mode reuses it), the rays of *all* views go to one `cast_rays` call as a (V, H, W, 6) tensor, and
everything after the cast — normals, shading, texture lookup, label masks — is vectorised numpy over the
foreground pixels only.

Geometry and conventions:

* The face looks along +z, y is up, x is the image's right (the benchmarks' scanner frame).
* A view with yaw θ (degrees) shows the mesh rotated by R_y(θ) about the vertical axis through the face
  centre (right-hand rule about +y). For θ > 0 the nose turns towards the image's right and the camera
  sees more of the face's +x side — the subject's *left* cheek; θ < 0 is the mirror image. Following
  CONTRIBUTING.md, −30/0/+30 are named ``left``/``front``/``right``. For a face symmetric in x,
  ``view(−θ)`` is exactly the horizontal flip of ``view(+θ)`` (the pixel grid is symmetric too).
  Rather than rotating the mesh, the rays are rotated by R_y(θ)ᵀ — equivalent and cheaper.
* Framing is shared by all views: the rotation centre projects to the image centre and one scale is used
  for every view, chosen so the robust (1st–99th percentile) extent of the face in *every* requested view,
  times `margin`, fits in the image. The extent comes from the vertices, or from `mesh.landmarks` when the
  mesh carries at least 3 landmarks (then `landmark_margin` applies: landmarks hug the face, so the crop
  needs more room).
* Orthographic projection by default (camera looking along −z from in front of the face); ``"pinhole"``
  puts a camera with field of view `fov` at the distance where the face centre plane has the same framing.
* Sequences: `frame_views(first_frame, yaws)` returns the framing, and ``render_views(...,
  framing=...)`` renders any mesh with it — the frames of a 4D sequence must share one camera, or a
  changing extent would move the face between frames (see `fervlm.dynamic.render_sequence`).
* Point clouds (no faces) are rendered by *splatting*: each point is projected and drawn as a square of
  about one point spacing with a z-buffer (nearest point wins); normals are estimated with open3d
  (`estimate_normals`, oriented towards the camera). No surface is reconstructed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from fervlm.io.mesh import Mesh

MODES = ("shaded", "depth", "normals", "texture")
PROJECTIONS = ("orthographic", "pinhole")

# A fixed light a little above the camera (x = 0 keeps left/right views exact mirror images).
_LIGHT = np.array([0.0, 0.3, 1.0], dtype=np.float32) / np.float32(math.hypot(0.3, 1.0))
_INVALID = np.uint32(0xFFFFFFFF)


# ----------------------------------------------------------------------------------------------- cache


@dataclass
class _SceneEntry:
    """A built raycasting scene and per-mesh data derived once (normals), keyed by the mesh's content."""

    vertices: np.ndarray
    faces: np.ndarray
    scene: object
    _vertex_normals: np.ndarray | None = field(default=None, repr=False)
    _corner_normals: np.ndarray | None = field(default=None, repr=False)
    # The framing of the latest camera set-up, keyed by the framing parameters (warm re-renders).
    cameras: dict = field(default_factory=dict, repr=False)

    def corner_normals(self) -> np.ndarray:
        """(3 corners, 3 components, M) float32 vertex normals of each face's corners. Component-major so
        that the per-pixel interpolation runs on contiguous 1-D arrays (numpy is slow on (P, 3) rows)."""
        if self._corner_normals is None:
            self._corner_normals = np.ascontiguousarray(self.vertex_normals()[self.faces].transpose(1, 2, 0))
        return self._corner_normals

    def vertex_normals(self) -> np.ndarray:
        """Area-weighted vertex normals (N, 3) float32, unit length (zero for isolated vertices)."""
        if self._vertex_normals is None:
            v, f = self.vertices, self.faces
            # Un-normalised cross products weight each face by its area, the usual smooth-shading choice.
            fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
            flat = f.ravel()
            vn = np.empty((len(v), 3), dtype=np.float32)
            for k in range(3):
                vn[:, k] = np.bincount(flat, weights=np.repeat(fn[:, k], 3), minlength=len(v))
            norm = np.linalg.norm(vn, axis=1, keepdims=True)
            self._vertex_normals = vn / np.maximum(norm, 1e-12)
        return self._vertex_normals


class _SceneCache:
    """A tiny LRU of raycasting scenes; entries are matched by array *content*, so a mutated or new mesh
    with equal arrays is handled correctly (comparing 35k vertices costs ~30 µs, building the BVH ~20 ms)."""

    def __init__(self, capacity: int = 4) -> None:
        self.capacity = capacity
        self.entries: list[_SceneEntry] = []

    def _find(self, vertices: np.ndarray, faces: np.ndarray) -> int | None:
        for i, e in enumerate(self.entries):
            if (
                e.vertices.shape == vertices.shape
                and e.faces.shape == faces.shape
                and np.array_equal(e.vertices, vertices)
                and np.array_equal(e.faces, faces)
            ):
                return i
        return None

    def get(self, mesh: Mesh) -> _SceneEntry:
        """The entry for `mesh`'s arrays; on a miss the mesh is validated and its scene built."""
        vertices, faces = mesh.vertices, mesh.faces
        i = self._find(vertices, faces)
        if i is not None:
            self.entries.append(self.entries.pop(i))
            return self.entries[-1]
        mesh.validate()
        import open3d as o3d

        scene = o3d.t.geometry.RaycastingScene(nthreads=_THREADS["n"])
        scene.add_triangles(
            o3d.core.Tensor(np.ascontiguousarray(vertices, dtype=np.float32)),
            o3d.core.Tensor(np.ascontiguousarray(faces, dtype=np.uint32)),
        )
        entry = _SceneEntry(vertices.copy(), faces.copy(), scene)
        self.entries.append(entry)
        del self.entries[: -self.capacity]
        return entry

    def clear(self) -> None:
        self.entries.clear()


_CACHE = _SceneCache()
_RAYS: dict[tuple, tuple] = {}  # rays of recent camera set-ups, shared by every mesh framed the same way


_THREADS = {"n": 0}  # open3d threads for BVH builds and ray casts; 0 = all cores


def set_num_threads(n: int) -> None:
    """Threads open3d may use per scene build / ray cast (0 = all cores, the default). Process pools that
    already run one worker per core (`fervlm prepare`) set 1 to avoid oversubscribing the CPU."""
    if int(n) < 0:
        raise ValueError(f"n={n}: expected 0 (all cores) or a positive thread count")
    _THREADS["n"] = int(n)


def clear_cache() -> None:
    """Forget every cached raycasting scene (they hold the mesh's BVH in memory) and cached rays."""
    _CACHE.clear()
    _RAYS.clear()


# -------------------------------------------------------------------------------------------- cameras


def _rotation_y(yaw_deg: float) -> np.ndarray:
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
    vmin, vmax = mesh.vertices.min(axis=0), mesh.vertices.max(axis=0)
    radius = float(np.linalg.norm(np.maximum(np.abs(vmax - centre), np.abs(vmin - centre))))
    return Framing(centre=centre, half=half, distance=max(2.0 * radius, 2.0 * half) + 1e-3)


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
        if projection == "orthographic":
            h = np.float32(framing.half)
            across = (xs.T * h) * ex  # (W, 3)
            down = centre + np.float32(dist) * ez + (ys * h) * ey  # (H, 3)
            np.add(down[:, None, :], across[None, :, :], out=rays[v, :, :, 0:3])
            rays[v, :, :, 3:6] = -ez
        else:
            k = np.float32(framing.half / dist)  # tan of the half field of view actually used
            rays[v, :, :, 0:3] = centre + np.float32(dist) * ez
            np.add(((ys * k) * ey - ez)[:, None, :], ((xs.T * k) * ex)[None, :, :], out=rays[v, :, :, 3:6])
    return rays, rotations


# ------------------------------------------------------------------------------------------ hit records


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
        c = np.take(entry.corner_normals(), prim, axis=2)  # (3 corners, 3 components, P)
        normal = c[0] * (1.0 - u - v)
        normal += c[1] * u
        normal += c[2] * v
        length = np.sqrt(normal[0] * normal[0] + normal[1] * normal[1] + normal[2] * normal[2])
        normal /= np.maximum(length, 1e-12)
    else:
        face_normals = result["primitive_normals"].numpy().reshape(-1, 3)
        normal = np.ascontiguousarray(np.take(face_normals, index, axis=0).T)
    slices = _view_slices(index, shape)
    hits = _Hits(shape, index, slices, rotations, depth, normal, primitive=prim, uv=uv)
    _face_camera(hits, None if ray_dirs is None else ray_dirs[index])
    return hits


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


# ------------------------------------------------------------------------------------------- shading


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


def frame_views(
    mesh: Mesh, yaws: Sequence[float] = (-30, 0, 30), margin: float = 1.08, landmark_margin: float = 1.35
) -> Framing:
    """The shared framing (centre, scale) `render_views` would choose for `mesh` and `yaws`.

    Pass it back as ``render_views(..., framing=...)`` to render other meshes — e.g. every frame of a 4D
    sequence — with exactly the same camera, so that only the face moves between frames.
    """
    mesh.validate()
    return _framing(mesh, [float(y) for y in yaws], margin, landmark_margin)


# ------------------------------------------------------------------------------------------ public API


def render_views(
    mesh: Mesh,
    yaws: Sequence[float] = (-30, 0, 30),
    size: int = 224,
    mode: str = "shaded",
    projection: str = "orthographic",
    labels: np.ndarray | None = None,
    return_masks: bool | str = False,
    *,
    fov: float = 30.0,
    margin: float = 1.08,
    landmark_margin: float = 1.35,
    smooth: bool = True,
    ambient: float = 0.15,
    point_radius: float | None = None,
    framing: Framing | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Render a face mesh (or point cloud) from several yaw angles.

    See the module docstring for the yaw sign convention (θ > 0 turns the nose to the image's right),
    framing and the point-cloud splatting.

    Args:
        mesh: the face; vertices in any unit (framing adapts to the extent).
        yaws: view angles in degrees about the vertical axis through the face centre.
        size: output height and width in pixels.
        mode: ``shaded`` (Lambertian, light slightly above the camera, `ambient` term; smooth normals
            interpolated from area-weighted vertex normals unless `smooth=False`), ``depth`` (nearer =
            brighter, min–max over each view's visible face, 1..255), ``normals`` (camera-space unit normal
            n ↦ round((n + 1)·127.5), facing the camera), or ``texture`` (bilinear lookup of the mesh
            texture at the barycentric-interpolated corner UV; meshes with a texture and UVs only).
        projection: ``orthographic`` (default) or ``pinhole`` (square field of view `fov`, narrowed if the
            camera must step back to stay in front of the whole mesh).
        labels: optional (N,) integer bit masks per vertex; defaults to `mesh.vertex_labels`. Only used
            with `return_masks`.
        return_masks: also return region masks (V, K, H, W) bool, K = bit length of the largest label:
            pixel ∈ region k when the surface point it shows (the barycentric-nearest corner of the hit
            triangle) has bit k set. ``return_masks="packed"`` returns the per-pixel label bits instead,
            int64 (V, H, W), 0 on the background (cheaper; what `fervlm prepare` saves).
        fov: pinhole field of view in degrees.
        margin: framing slack around the vertices' robust extent (≥ 1 keeps the face inside the image).
        landmark_margin: framing slack when the extent comes from `mesh.landmarks`.
        smooth: interpolate vertex normals (True) or use flat face normals (False).
        ambient: ambient share of the shaded intensity.
        point_radius: splat half-size in pixels for point clouds (default: 0.6 point spacing).
        framing: a fixed camera framing (`frame_views`) instead of the one derived from this mesh — for
            sequences, where a per-frame framing would add spurious motion to a dynamic image.

    Returns:
        uint8 (V, H, W, 3) images with a black background, or ``(images, masks)``.

    Raises:
        ValueError: an unknown mode/projection, bad size, texture mode without a texture, or labels
            that do not match the vertices.
    """
    if mode not in MODES:
        raise ValueError(f"mode={mode!r}: expected one of {MODES}")
    if projection not in PROJECTIONS:
        raise ValueError(f"projection={projection!r}: expected one of {PROJECTIONS}")
    if int(size) != size or size < 8:
        raise ValueError(f"size={size!r}: expected an integer ≥ 8")
    if not 0 < fov < 180:
        raise ValueError(f"fov={fov!r}: expected degrees in (0, 180)")
    yaws = [float(y) for y in yaws]
    if not yaws:
        raise ValueError("yaws: at least one view angle is needed")
    size = int(size)
    if mesh.is_point_cloud:
        mesh.validate()  # meshes are validated by the scene cache when their scene is built
    if return_masks:
        labels = mesh.vertex_labels if labels is None else labels
        if labels is None:
            raise ValueError(f"{mesh.source or 'mesh'}: return_masks=True needs labels or mesh.vertex_labels")
        labels = np.asarray(labels).astype(np.int64).ravel()
        if len(labels) != len(mesh.vertices):
            raise ValueError(f"labels: {len(labels)} values for {len(mesh.vertices)} vertices")

    if mesh.is_point_cloud:
        if mode == "texture":
            raise ValueError(f"{mesh.source or 'mesh'}: mode='texture' is not available for a point cloud")
        framing = framing or _framing(mesh, yaws, margin, landmark_margin)
        hits = _splat_points(mesh, framing, yaws, size, projection, fov, point_radius)
    else:
        camera = _mesh_camera(mesh, yaws, size, projection, fov, margin, landmark_margin, framing)
        hits = _cast_mesh(mesh, *camera, smooth)

    if mode == "shaded":
        colours = _shade(hits, ambient)
    elif mode == "depth":
        colours = _depth(hits)
    elif mode == "normals":
        colours = _normals(hits)
    else:
        colours = _texture(mesh, hits)
    n_views = len(yaws)
    if colours.ndim == 1:  # grey modes: fill one channel, then replicate (3× fewer scattered writes)
        grey = np.zeros(n_views * size * size, dtype=np.uint8)
        grey[hits.index] = colours
        grey = grey.reshape(n_views, size, size)
        images = np.stack([grey, grey, grey], axis=-1)
    else:
        images = np.zeros((n_views * size * size, 3), dtype=np.uint8)
        images[hits.index] = colours
        images = images.reshape(n_views, size, size, 3)
    if not return_masks:
        return images
    label_map = np.zeros(n_views * size * size, dtype=np.int64)
    label_map[hits.index] = _label_bits(mesh, hits, labels)
    label_map = label_map.reshape(n_views, size, size)
    if return_masks == "packed":
        return images, label_map
    k = max(int(np.bitwise_or.reduce(labels)).bit_length(), 1) if len(labels) else 1
    return images, ((label_map[:, None] >> np.arange(k)[None, :, None, None]) & 1).astype(bool)


def pack_masks(masks: np.ndarray) -> np.ndarray:
    """Pack (V, K, H, W) bool region masks into per-pixel bit masks (V, H, W) of the smallest unsigned
    dtype that holds K bits (bit k = region k), e.g. for saving explanation ground truth compactly."""
    masks = np.asarray(masks, dtype=bool)
    k = masks.shape[1]
    dtype = next(d for d in (np.uint8, np.uint16, np.uint32, np.uint64) if np.iinfo(d).bits >= k)
    weights = (np.ones(1, dtype=dtype) << np.arange(k, dtype=dtype)).astype(dtype)
    return np.tensordot(masks.astype(dtype), weights, axes=([1], [0])).astype(dtype)
