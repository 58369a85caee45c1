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
