"""The raycasting-scene cache and open3d's thread count (`fervlm.render`).

Building a mesh's BVH is the dearest step of a cold render, so the scene — and the per-mesh data derived
from it once (vertex normals) — is kept in a small LRU matched by the mesh's array *content*: rendering
the same mesh again in another mode reuses it, and a mesh mutated in place is rebuilt.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fervlm.io.mesh import Mesh

_THREADS = {"n": 0}  # open3d threads for BVH builds and ray casts; 0 = all cores


@dataclass
class _SceneEntry:
    """A built raycasting scene and per-mesh data derived once (normals), keyed by the mesh's content."""

    vertices: np.ndarray
    faces: np.ndarray
    scene: object
    _vertex_normals: np.ndarray | None = field(default=None, repr=False)
    _corners: np.ndarray | None = field(default=None, repr=False)
    # The framing of the latest camera set-up, keyed by the framing parameters (warm re-renders).
    cameras: dict = field(default_factory=dict, repr=False)

    def corners(self) -> np.ndarray:
        """(3 corners, M) vertex ids of each face's corners, component-major: numpy gathers 1-D columns
        several times faster than (M, 3) rows, which is what a cold render pays for."""
        if self._corners is None:
            self._corners = np.ascontiguousarray(self.faces.T)
        return self._corners

    def vertex_normals(self) -> np.ndarray:
        """Area-weighted vertex normals, component-major (3 components, N) float32, unit length (zero for
        isolated vertices). Only the hit triangles' corners are looked up later (`_cast_mesh`), so a cold
        render never gathers a normal per face corner."""
        if self._vertex_normals is None:
            n = len(self.vertices)
            v = np.ascontiguousarray(self.vertices.T, dtype=np.float32)
            f0, f1, f2 = self.corners()
            x0, y0, z0 = (np.take(c, f0) for c in v)
            ax, ay, az = (np.take(c, f1) - c0 for c, c0 in zip(v, (x0, y0, z0), strict=True))
            bx, by, bz = (np.take(c, f2) - c0 for c, c0 in zip(v, (x0, y0, z0), strict=True))
            # Un-normalised cross products weight each face by its area, the usual smooth-shading choice.
            face_normal = (ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx)
            vn = np.empty((3, n), dtype=np.float32)
            for k, fn in enumerate(face_normal):
                vn[k] = np.bincount(f0, fn, n) + np.bincount(f1, fn, n) + np.bincount(f2, fn, n)
            length = np.sqrt(vn[0] * vn[0] + vn[1] * vn[1] + vn[2] * vn[2])
            self._vertex_normals = vn / np.maximum(length, 1e-12)
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
