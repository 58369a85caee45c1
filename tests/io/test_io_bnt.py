"""Bosphorus `.bnt` (docs/datasets.md §4.3, §8): hand-packed fixtures, triangulation, round trip, bad
files."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from fervlm.io import MeshFormatError, load_mesh, write_bnt
from fervlm.io.bnt import read_bnt_grid

ZMIN = -1e9


def _pack_bnt(
    path: Path,
    planes: np.ndarray,
    imfile: str = "bs000_E_HAPPY_0.png",
    zmin: float = ZMIN,
) -> Path:
    """Pack the §4.3 layout by hand with struct (independent of `write_bnt`): planes is (5, nrows, ncols)."""
    _, nrows, ncols = planes.shape
    name = imfile.encode("ascii")
    data = struct.pack("<HHdH", nrows, ncols, zmin, len(name)) + name + struct.pack("<I", planes.size)
    data += struct.pack(f"<{planes.size}d", *planes.ravel().tolist())
    path.write_bytes(data)
    return path


def _grid_planes(nrows: int = 3, ncols: int = 4, background: tuple[tuple[int, int], ...] = ()) -> np.ndarray:
    rows, cols = np.meshgrid(np.arange(nrows, dtype=float), np.arange(ncols, dtype=float), indexing="ij")
    depth = 50 + 0.1 * rows * cols
    planes = np.stack([cols * 2.0, rows * 2.0, depth, cols / (ncols - 1), rows / (nrows - 1)])
    for r, c in background:
        planes[:3, r, c] = ZMIN
    return planes


def _reference_triangles(valid: np.ndarray) -> set[frozenset[tuple[int, int]]]:
    """Pure-Python reference of §4.3: two triangles per 2x2 cell, kept when their 3 cells are valid."""
    tris = set()
    nrows, ncols = valid.shape
    for r in range(nrows - 1):
        for c in range(ncols - 1):
            a, b, cc, d = (r, c), (r + 1, c), (r, c + 1), (r + 1, c + 1)
            for tri in ((a, cc, b), (cc, d, b)):
                if all(valid[p] for p in tri):
                    tris.add(frozenset(tri))
    return tris


def _mesh_triangles_as_cells(mesh, ncols_step: float = 2.0) -> set[frozenset[tuple[int, int]]]:
    """Map mesh triangles back to grid cells through x = 2·col, y = 2·row."""
    cells = np.rint(mesh.vertices[:, [1, 0]] / ncols_step).astype(int)
    return {frozenset(tuple(cells[i]) for i in face) for face in mesh.faces}


@pytest.mark.parametrize(
    ("background", "n_tri", "n_vert"),
    [
        ((), 12, 12),
        # Interior cell: 6 triangles touch it; corner (2, 0) only lies in two of them, so it goes too.
        (((1, 1),), 6, 10),
        (((0, 0),), 11, 11),
        (((0, 1), (1, 0)), 8, 9),  # (0, 0) is valid but in no surviving triangle: dropped as unused
    ],
)
def test_background_cells(tmp_path: Path, background, n_tri: int, n_vert: int) -> None:
    planes = _grid_planes(background=background)
    mesh = load_mesh(_pack_bnt(tmp_path / "bs000_E_HAPPY_0.bnt", planes))
    valid = planes[2] != ZMIN
    assert len(mesh.faces) == n_tri == len(_reference_triangles(valid))
    assert len(mesh.vertices) == n_vert
    assert _mesh_triangles_as_cells(mesh) == _reference_triangles(valid)
    assert not (mesh.vertices == ZMIN).any()
    # Faces are oriented so that the summed normal points to +Z (the face looks at the camera).
    v = mesh.vertices[mesh.faces]
    assert np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])[:, 2].sum() > 0
    assert mesh.texture_path == tmp_path / "bs000_E_HAPPY_0.png"


def test_uv_converted_to_bottom_left_origin(tmp_path: Path) -> None:
    planes = _grid_planes()
    mesh = load_mesh(_pack_bnt(tmp_path / "a.bnt", planes))
    assert mesh.uv_faces is None and mesh.uv.shape == (12, 2)
    cells = np.rint(mesh.vertices[:, [1, 0]] / 2.0).astype(int)
    expected_u = planes[3][cells[:, 0], cells[:, 1]]
    expected_v = 1.0 - planes[4][cells[:, 0], cells[:, 1]]
    np.testing.assert_allclose(mesh.uv, np.stack([expected_u, expected_v], 1), atol=1e-7)


def test_grid_order_is_row_major(tmp_path: Path) -> None:
    """Element k of each plane is cell (k // ncols, k % ncols); the planes are x, y, z, u, v in that order."""
    planes = _grid_planes()
    xyz, uv, imfile, zmin = read_bnt_grid(_pack_bnt(tmp_path / "a.bnt", planes))
    np.testing.assert_array_equal(xyz[1, 3], planes[:3, 1, 3])
    np.testing.assert_array_equal(uv[2, 1], planes[3:, 2, 1])
    assert imfile == "bs000_E_HAPPY_0.png" and zmin == ZMIN


def test_write_matches_hand_packed_layout(tmp_path: Path) -> None:
    planes = _grid_planes(background=((1, 2),))
    grid = np.moveaxis(planes[:3], 0, -1).copy()
    grid[1, 2] = np.nan
    uv_mesh = np.stack([planes[3], 1.0 - planes[4]], -1)  # Mesh convention in, file convention stored
    written = write_bnt(tmp_path / "w.bnt", grid, uv_mesh, imfile="bs000_E_HAPPY_0.png")
    expected = planes.copy()
    expected[:, 1, 2] = ZMIN  # the writer marks all five channels of a background cell
    reference = _pack_bnt(tmp_path / "r.bnt", expected)
    assert written.read_bytes() == reference.read_bytes()


def test_round_trip_default_uv(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    grid = np.concatenate([np.mgrid[0:20, 0:15].transpose(1, 2, 0) * 1.5, rng.normal(size=(20, 15, 1))], -1)
    grid[5:8, 3:6] = np.nan
    mesh = load_mesh(write_bnt(tmp_path / "rt.bnt", grid, imfile=""))
    valid = np.isfinite(grid).all(-1)
    assert len(mesh.vertices) == valid.sum()  # a 3x3 hole in the middle leaves no valid vertex isolated
    assert mesh.texture_path is None
    np.testing.assert_allclose(np.sort(mesh.vertices[:, 2]), np.sort(grid[valid][:, 2]).astype(np.float32))
    assert mesh.uv.min() >= 0 and mesh.uv.max() <= 1


def test_all_background_and_bad_headers(tmp_path: Path) -> None:
    planes = _grid_planes(background=tuple((r, c) for r in range(3) for c in range(4)))
    with pytest.raises(MeshFormatError, match=r"allbg\.bnt.*no vertices"):
        load_mesh(_pack_bnt(tmp_path / "allbg.bnt", planes))

    good = _pack_bnt(tmp_path / "good.bnt", _grid_planes()).read_bytes()
    cases = {
        "short_data.bnt": (good[:-8], "truncated data"),
        "short_header.bnt": (good[:10], "truncated header"),
        "short_name.bnt": (good[:20], "truncated header"),
        "empty.bnt": (b"", "truncated header"),
        "bad_count.bnt": (good[: 14 + 19] + struct.pack("<I", 59) + good[14 + 19 + 4 :], "M = 59"),
    }
    for name, (data, problem) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(MeshFormatError, match=problem) as info:
            load_mesh(path)
        assert name in str(info.value)


def test_writer_rejects_bad_shapes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="vertices_grid"):
        write_bnt(tmp_path / "x.bnt", np.zeros((3, 4)))
    with pytest.raises(ValueError, match="uv_grid"):
        write_bnt(tmp_path / "x.bnt", np.zeros((3, 4, 3)), uv_grid=np.zeros((3, 4, 3)))
