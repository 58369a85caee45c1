"""`load_mesh` dispatch and the open3d-backed formats (.ply/.off/.stl, point clouds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import open3d as o3d
import pytest

from fervlm.io import MESH_EXTENSIONS, Mesh, MeshFormatError, load_mesh, write_obj, write_wrl


def _o3d_mesh() -> o3d.geometry.TriangleMesh:
    mesh = o3d.geometry.TriangleMesh.create_icosahedron(radius=50.0)
    mesh.compute_vertex_normals()
    return mesh


def _triangle_set(vertices: np.ndarray, faces: np.ndarray) -> set[frozenset[tuple[float, ...]]]:
    """Triangles as sets of rounded corner coordinates: equal up to vertex order and corner rotation."""
    corners = np.round(np.asarray(vertices, dtype=np.float32).astype(np.float64), 3)
    return {frozenset(tuple(corners[i].tolist()) for i in face) for face in faces}


@pytest.mark.parametrize("ext", [".ply", ".off", ".stl"])
def test_open3d_mesh_round_trip(tmp_path: Path, ext: str) -> None:
    source = _o3d_mesh()
    path = tmp_path / f"ico{ext}"
    assert o3d.io.write_triangle_mesh(str(path), source, write_ascii=ext != ".stl")
    mesh = load_mesh(path)
    expected = _triangle_set(np.asarray(source.vertices), np.asarray(source.triangles))
    assert _triangle_set(mesh.vertices, mesh.faces) == expected
    assert len(mesh.vertices) == 12  # STL's triangle soup is merged back to shared vertices
    assert mesh.source == path


@pytest.mark.parametrize("ext", [".ply", ".pcd", ".xyz"])
def test_point_clouds(tmp_path: Path, ext: str) -> None:
    points = np.random.default_rng(0).normal(size=(100, 3)) * 20
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    path = tmp_path / f"cloud{ext}"
    assert o3d.io.write_point_cloud(str(path), cloud, write_ascii=True)
    mesh = load_mesh(path)
    assert mesh.is_point_cloud and mesh.faces.shape == (0, 3)
    np.testing.assert_allclose(mesh.vertices, points, atol=1e-3)


def test_extension_case_and_dispatch(tmp_path: Path) -> None:
    mesh = Mesh(vertices=np.eye(3) * 10, faces=[[0, 1, 2]])
    upper = write_wrl(tmp_path / "A.WRL", mesh)
    np.testing.assert_allclose(load_mesh(upper).vertices, mesh.vertices)
    np.testing.assert_allclose(load_mesh(str(write_obj(tmp_path / "a.obj", mesh))).vertices, mesh.vertices)
    assert set(MESH_EXTENSIONS) == {".wrl", ".obj", ".ply", ".off", ".stl", ".bnt", ".pcd", ".xyz"}


def test_bad_paths(tmp_path: Path) -> None:
    with pytest.raises(MeshFormatError, match=r"missing\.wrl: file not found"):
        load_mesh(tmp_path / "missing.wrl")
    (tmp_path / "mesh.fbx").write_text("x")
    with pytest.raises(MeshFormatError, match=r"mesh\.fbx: unknown mesh extension '\.fbx'"):
        load_mesh(tmp_path / "mesh.fbx")
    (tmp_path / "folder.ply").mkdir()
    with pytest.raises(MeshFormatError, match="not a regular file"):
        load_mesh(tmp_path / "folder.ply")


@pytest.mark.parametrize("ext", [".ply", ".off", ".stl", ".pcd", ".xyz"])
def test_garbled_open3d_files(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"garbled{ext}"
    path.write_bytes(b"\x00\x01 this is not a mesh \xff\n")
    with pytest.raises(MeshFormatError) as info:
        load_mesh(path)
    assert f"garbled{ext}" in str(info.value)


@pytest.mark.parametrize("ascii_body", [True, False])
@pytest.mark.parametrize("keep", [0, 0.5])
def test_truncated_ply(tmp_path: Path, ascii_body: bool, keep: float) -> None:
    """open3d hands back uninitialised vertices for a cut PLY body; we must raise instead."""
    path = tmp_path / "cut.ply"
    o3d.io.write_triangle_mesh(str(path), _o3d_mesh(), write_ascii=ascii_body)
    data = path.read_bytes()
    body = data.index(b"end_header") + 11
    path.write_bytes(data[: body + int(keep * (len(data) - body))])
    with pytest.raises(MeshFormatError, match=r"cut\.ply: truncated PLY"):
        load_mesh(path)


def test_truncated_ply_point_cloud(tmp_path: Path) -> None:
    path = tmp_path / "cloud.ply"
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.ones((30, 3))))
    o3d.io.write_point_cloud(str(path), cloud, write_ascii=False)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(MeshFormatError, match=r"cloud\.ply: truncated PLY"):
        load_mesh(path)
