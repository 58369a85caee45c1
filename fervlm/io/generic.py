"""Formats open3d reads well: `.ply`/`.off`/`.stl` meshes and `.pcd`/`.xyz`/face-less `.ply` point clouds."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fervlm.io.mesh import Mesh, MeshFormatError

TRIANGLE_MESH_EXTENSIONS = (".ply", ".off", ".stl")
POINT_CLOUD_EXTENSIONS = (".pcd", ".xyz")


# Byte size of each PLY scalar type, under both its old and its sized name.
_PLY_SIZES = {
    **dict.fromkeys(("char", "uchar", "int8", "uint8"), 1),
    **dict.fromkeys(("short", "ushort", "int16", "uint16"), 2),
    **dict.fromkeys(("int", "uint", "int32", "uint32", "float", "float32"), 4),
    **dict.fromkeys(("double", "float64"), 8),
}


def check_ply_size(path: Path) -> None:
    """Raise when a `.ply` holds less data than its header announces.

    open3d (RPly) reports a truncated body only as a warning and hands back uninitialised vertices, so the
    check is ours: ASCII bodies need one line per element, binary bodies at least the bytes of their
    fixed-size properties (a list property counts its length field plus three items, the triangle minimum).
    """
    data = path.read_bytes()
    end = data.find(b"end_header")
    if not data.startswith(b"ply") or end < 0:
        raise MeshFormatError(path, "not a PLY file: missing 'ply' magic or 'end_header'")
    body_start = data.find(b"\n", end) + 1
    fmt, counts, row_bytes = "", [], []
    for line in data[:end].decode("latin-1").splitlines():
        words = line.split()
        if words[:1] == ["format"] and len(words) > 1:
            fmt = words[1]
        elif words[:1] == ["element"] and len(words) == 3 and words[2].isdigit():
            counts.append(int(words[2]))
            row_bytes.append(0)
        elif words[:1] == ["property"] and row_bytes:
            if words[1:2] == ["list"] and len(words) >= 5:
                row_bytes[-1] += _PLY_SIZES.get(words[2], 1) + 3 * _PLY_SIZES.get(words[3], 1)
            elif len(words) >= 3:
                row_bytes[-1] += _PLY_SIZES.get(words[1], 1)
    body = data[body_start:] if body_start > 0 else b""
    if fmt == "ascii":
        have, need = sum(1 for row in body.splitlines() if row.strip()), sum(counts)
        unit = "rows"
    else:
        have, need = len(body), sum(c * r for c, r in zip(counts, row_bytes, strict=True))
        unit = "bytes"
    if have < need:
        raise MeshFormatError(path, f"truncated PLY: header needs at least {need} data {unit}, found {have}")


def _quiet():
    """open3d reports unreadable files as warnings on stdout; keep logs clean, we raise our own error."""
    import open3d as o3d

    return o3d.utility.VerbosityContextManager(o3d.utility.VerbosityLevel.Error)


def read_point_cloud(path: str | Path) -> Mesh:
    """Read a point cloud (`.pcd`, `.xyz`, `.ply` without faces) with open3d; `faces` is empty.

    Raises:
        MeshFormatError: missing or unreadable file, no points, NaN coordinates.
    """
    import open3d as o3d

    path = Path(path)
    if not path.is_file():
        raise MeshFormatError(path, "file not found")
    if path.suffix.lower() == ".ply":
        check_ply_size(path)
    with _quiet():
        cloud = o3d.io.read_point_cloud(str(path))
    points = np.asarray(cloud.points)
    if len(points) == 0:
        raise MeshFormatError(path, "no vertices: open3d read no points (empty, truncated or garbled file)")
    return Mesh(vertices=points, source=path).validate()


def read_triangle_mesh(path: str | Path) -> Mesh:
    """Read `.ply`/`.off`/`.stl` with open3d; a `.ply` without faces is read as a point cloud.

    open3d's per-corner `triangle_uvs` become `Mesh.uv` with `uv_faces` = corner number. STL triangle soups
    get their duplicated corners merged so the mesh is connected.

    Raises:
        MeshFormatError: missing or unreadable file, no vertices, index out of range, NaN coordinates.
    """
    import open3d as o3d

    path = Path(path)
    if not path.is_file():
        raise MeshFormatError(path, "file not found")
    if path.suffix.lower() == ".ply":
        check_ply_size(path)
    with _quiet():
        mesh = o3d.io.read_triangle_mesh(str(path))
    if len(mesh.triangles) == 0:
        if path.suffix.lower() == ".ply":
            return read_point_cloud(path)
        if len(mesh.vertices) == 0:
            raise MeshFormatError(path, "no vertices: open3d read nothing (empty, truncated or garbled file)")
    if path.suffix.lower() == ".stl":
        mesh.remove_duplicated_vertices()
    faces = np.asarray(mesh.triangles, dtype=np.int64)
    uv = uv_faces = None
    if mesh.has_triangle_uvs() and len(mesh.triangle_uvs) == 3 * len(faces):
        uv = np.asarray(mesh.triangle_uvs)
        uv_faces = np.arange(3 * len(faces)).reshape(-1, 3)
    return Mesh(
        vertices=np.asarray(mesh.vertices), faces=faces, uv=uv, uv_faces=uv_faces, source=path
    ).validate()
