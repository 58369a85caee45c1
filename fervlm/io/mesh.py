"""The `Mesh` container shared by every reader, writer and the renderer."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class MeshFormatError(ValueError):
    """A mesh or landmark file could not be read.

    The message always names the file and what is wrong with it (truncated, no vertices, an index out of
    range, NaN coordinates, an unknown extension, ...), so a long batch job can log it and go on.
    """

    def __init__(self, path: str | Path | None, problem: str) -> None:
        self.path = None if path is None else Path(path)
        self.problem = problem
        where = f"{self.path}: " if self.path is not None else ""
        super().__init__(f"{where}{problem}")


@dataclass
class Mesh:
    """A triangle mesh (or a point cloud when `faces` is empty).

    Attributes:
        vertices: (N, 3) float32 coordinates, in the file's own units (millimetres for the benchmarks).
        faces: (M, 3) int64 vertex indices; (0, 3) for a point cloud.
        uv: (K, 2) float32 texture coordinates with the VRML convention (origin bottom-left), or None.
        uv_faces: (M, 3) int64 indices into `uv` per face corner, or None when `uv` is per vertex
            (then K == N and the corner's UV is `uv[faces]`).
        texture_path: the texture image the file names (resolved against the file's folder), or None.
        vertex_labels: optional (N,) int64 bit mask per vertex (bit k = synthetic AU region k is active);
            used as ground truth for explanations.
        landmarks: optional (L, 3) float32 landmark coordinates.
        source: the file the mesh was read from, for error messages.
    """

    vertices: np.ndarray
    faces: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=np.int64))
    uv: np.ndarray | None = None
    uv_faces: np.ndarray | None = None
    texture_path: Path | None = None
    vertex_labels: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    source: Path | None = None
    _texture: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.vertices = np.ascontiguousarray(self.vertices, dtype=np.float32).reshape(-1, 3)
        self.faces = np.ascontiguousarray(self.faces, dtype=np.int64).reshape(-1, 3)
        if self.uv is not None:
            self.uv = np.ascontiguousarray(self.uv, dtype=np.float32).reshape(-1, 2)
        if self.uv_faces is not None:
            self.uv_faces = np.ascontiguousarray(self.uv_faces, dtype=np.int64).reshape(-1, 3)

    @property
    def is_point_cloud(self) -> bool:
        """True when the mesh has no faces."""
        return len(self.faces) == 0

    @property
    def texture(self) -> np.ndarray | None:
        """The texture image as uint8 (H, W, 3), loaded on first use; None when there is none."""
        if self._texture is None and self.texture_path is not None and Path(self.texture_path).is_file():
            from PIL import Image

            with Image.open(self.texture_path) as im:
                self._texture = np.asarray(im.convert("RGB"))
        return self._texture

    @texture.setter
    def texture(self, image: np.ndarray | None) -> None:
        self._texture = None if image is None else np.asarray(image, dtype=np.uint8)

    def corner_uv(self) -> np.ndarray | None:
        """UV per face corner, (M, 3, 2), whichever way the file stored them; None without UVs."""
        if self.uv is None:
            return None
        index = self.uv_faces if self.uv_faces is not None else self.faces
        return self.uv[index]

    def validate(self) -> Mesh:
        """Check the invariants every consumer relies on; raise `MeshFormatError` otherwise."""
        if len(self.vertices) == 0:
            raise MeshFormatError(self.source, "no vertices")
        if not np.isfinite(self.vertices).all():
            raise MeshFormatError(self.source, "NaN or infinite vertex coordinates")
        if len(self.faces) and (self.faces.min() < 0 or self.faces.max() >= len(self.vertices)):
            raise MeshFormatError(
                self.source,
                f"face index out of range: indices span [{self.faces.min()}, {self.faces.max()}] "
                f"but there are {len(self.vertices)} vertices",
            )
        if (
            self.uv_faces is not None
            and self.uv is not None
            and len(self.uv_faces)
            and (self.uv_faces.min() < 0 or self.uv_faces.max() >= len(self.uv))
        ):
            raise MeshFormatError(self.source, "texture-coordinate index out of range")
        if self.vertex_labels is not None and len(self.vertex_labels) != len(self.vertices):
            raise MeshFormatError(self.source, "vertex_labels length does not match the vertex count")
        return self
