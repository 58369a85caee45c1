"""Bosphorus `.bnt` range grids (Savran's `read_bntfile` layout, docs/datasets.md §4.3).

Layout, little-endian: uint16 nrows, uint16 ncols, float64 zmin, uint16 L, L bytes imfile, uint32 M, then M
float64 stored channel-planar (all x, all y, all z, all u, all v). Grid element k is cell
(k // ncols, k % ncols); an entry equal to `zmin` marks background.

u, v in the file are image coordinates normalised to [0, 1] with row = v·H (origin top-left, §4.3). `Mesh.uv`
uses the VRML origin bottom-left, so the reader stores (u, 1 − v) and the writer undoes it.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from fervlm.io.mesh import Mesh, MeshFormatError
from fervlm.utils import atomic_write_bytes

_HEAD = struct.Struct("<HHdH")  # nrows, ncols, zmin, L
_COUNT = struct.Struct("<I")  # M


def read_bnt_grid(path: str | Path) -> tuple[np.ndarray, np.ndarray, str, float]:
    """Read the raw grid of a `.bnt` file.

    Returns:
        (xyz, uv_file, imfile, zmin): xyz (nrows, ncols, 3) and uv (nrows, ncols, 2) float64 exactly as stored
        (file uv convention, background entries equal to zmin), the image file name and zmin.

    Raises:
        MeshFormatError: missing file, truncated header or data, M inconsistent with nrows·ncols.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise MeshFormatError(path, f"cannot read file: {err.strerror or err}") from err
    try:
        nrows, ncols, zmin, name_len = _HEAD.unpack_from(data, 0)
        offset = _HEAD.size
        if len(data) < offset + name_len + _COUNT.size:
            raise MeshFormatError(path, f"truncated header: {len(data)} bytes, image name needs {name_len}")
        imfile = data[offset : offset + name_len].decode("latin-1").rstrip("\x00").strip()
        offset += name_len
        (count,) = _COUNT.unpack_from(data, offset)
        offset += _COUNT.size
    except struct.error as err:
        raise MeshFormatError(path, f"truncated header ({len(data)} bytes): {err}") from err
    cells = nrows * ncols
    if count != 5 * cells:
        raise MeshFormatError(path, f"M = {count} doubles, but 5·nrows·ncols = {5 * cells} ({nrows}x{ncols})")
    if len(data) - offset < 8 * count:
        raise MeshFormatError(
            path,
            f"truncated data: header says {count} doubles ({8 * count} B), {len(data) - offset} B follow",
        )
    planes = np.frombuffer(data, dtype="<f8", count=count, offset=offset).reshape(5, nrows, ncols)
    xyz = np.ascontiguousarray(np.moveaxis(planes[:3], 0, -1))
    uv = np.ascontiguousarray(np.moveaxis(planes[3:], 0, -1))
    return xyz, uv, imfile, float(zmin)


def grid_to_mesh(xyz: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Triangulate a range grid: two triangles per 2x2 cell, skipping triangles that touch an invalid cell.

    Cell (r, c) with corners a=(r,c), b=(r+1,c), c=(r,c+1), d=(r+1,c+1) gives (a, c, b) and (c, d, b)
    [docs/datasets.md §4.3, S27]. Vertices no triangle uses are dropped; when no triangle survives, the valid
    points are returned as a point cloud.

    Returns:
        (keep, faces): flat grid indices of the kept vertices and faces indexing into them.
    """
    nrows, ncols = valid.shape
    ids = np.arange(nrows * ncols).reshape(nrows, ncols)
    a, b = ids[:-1, :-1].ravel(), ids[1:, :-1].ravel()
    c, d = ids[:-1, 1:].ravel(), ids[1:, 1:].ravel()
    tris = np.concatenate([np.stack([a, c, b], 1), np.stack([c, d, b], 1)])
    flat_valid = valid.ravel()
    tris = tris[flat_valid[tris].all(axis=1)]
    if len(tris) == 0:
        return np.flatnonzero(flat_valid), np.zeros((0, 3), dtype=np.int64)
    # Which way rows run is not certain (§4.3 "stored upside down"); orient faces so the summed normal
    # points to +Z, the viewing direction every other reader's faces follow (§1.8).
    pts = xyz.reshape(-1, 3)
    normal_z = np.cross(pts[tris[:, 1]] - pts[tris[:, 0]], pts[tris[:, 2]] - pts[tris[:, 0]])[:, 2].sum()
    if normal_z < 0:
        tris = tris[:, [0, 2, 1]]
    keep, faces = np.unique(tris, return_inverse=True)
    return keep, faces.reshape(-1, 3)


def read_bnt(path: str | Path) -> Mesh:
    """Read a Bosphorus `.bnt` as a triangle mesh over its valid cells (docs/datasets.md §4.3).

    Per-vertex UVs come from the u, v planes (converted to the VRML origin bottom-left); the image file the
    header names becomes `texture_path`, resolved against the file's folder.

    Raises:
        MeshFormatError: missing/truncated file, inconsistent counts, no valid cell, NaN coordinates.
    """
    path = Path(path)
    xyz, uv_file, imfile, zmin = read_bnt_grid(path)
    valid = ~(xyz == zmin).any(axis=-1) & np.isfinite(xyz).all(axis=-1)
    if not valid.any():
        raise MeshFormatError(path, "no vertices: every grid cell is background (== zmin)")
    keep, faces = grid_to_mesh(xyz, valid)
    vertices = xyz.reshape(-1, 3)[keep]
    uv_kept = uv_file.reshape(-1, 2)[keep]
    uv = None
    if not (uv_kept == zmin).any():
        uv = np.stack([uv_kept[:, 0], 1.0 - uv_kept[:, 1]], axis=1)
    texture_path = path.parent / imfile if imfile else None
    return Mesh(vertices=vertices, faces=faces, uv=uv, texture_path=texture_path, source=path).validate()


def write_bnt(
    path: str | Path,
    vertices_grid: np.ndarray,
    uv_grid: np.ndarray | None = None,
    imfile: str = "",
    zmin: float = -1e9,
) -> Path:
    """Write a range grid in the `.bnt` layout of docs/datasets.md §4.3 (little-endian), atomically.

    Args:
        path: destination `.bnt`.
        vertices_grid: (nrows, ncols, 3) xyz; a cell with any NaN is background (all five channels = `zmin`).
        uv_grid: (nrows, ncols, 2) UVs in the `Mesh.uv` convention (origin bottom-left); defaults to the
            cell's normalised grid position. Stored as (u, 1 − v), the file's image convention.
        imfile: image file name stored in the header (e.g. `bs000_E_HAPPY_0.png`).
        zmin: background marker value.

    Returns:
        The written path.
    """
    path = Path(path)
    grid = np.asarray(vertices_grid, dtype=np.float64)
    if grid.ndim != 3 or grid.shape[2] != 3:
        raise ValueError(f"write_bnt {path}: vertices_grid must be (nrows, ncols, 3), got {grid.shape}")
    nrows, ncols = grid.shape[:2]
    if nrows > 0xFFFF or ncols > 0xFFFF:
        raise ValueError(f"write_bnt {path}: grid {nrows}x{ncols} exceeds the uint16 header fields")
    if uv_grid is None:
        rows, cols = np.meshgrid(np.arange(nrows), np.arange(ncols), indexing="ij")
        uv = np.stack([cols / max(ncols - 1, 1), rows / max(nrows - 1, 1)], axis=-1)
    else:
        uv = np.asarray(uv_grid, dtype=np.float64)
        if uv.shape != (nrows, ncols, 2):
            raise ValueError(f"write_bnt {path}: uv_grid must be {(nrows, ncols, 2)}, got {uv.shape}")
    uv_file = np.stack([uv[..., 0], 1.0 - uv[..., 1]], axis=-1)
    planes = np.concatenate([grid, uv_file], axis=-1)
    planes[~np.isfinite(grid).all(axis=-1)] = zmin
    name = imfile.encode("ascii")
    count = 5 * nrows * ncols
    payload = np.ascontiguousarray(np.moveaxis(planes, -1, 0), dtype="<f8").tobytes()
    header = _HEAD.pack(nrows, ncols, float(zmin), len(name)) + name + _COUNT.pack(count)
    return atomic_write_bytes(path, header + payload)
