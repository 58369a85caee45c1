"""Wavefront `.obj`: corner forms, fan triangulation, negative indices, UVs, round trip, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fervlm.io import Mesh, MeshFormatError, load_mesh, write_obj

OBJ_FORMS = """# comment
mtllib face.mtl
o face
v 0 0 0
v 1 0 0
v 1 1 0 1.0
v 0 1 0 0.2 0.3 0.4
vt 0 0
vt 1 0 0
vt 1 1
vt 0 1
vn 0 0 1
usemtl skin
s off
f 1/1/1 2/2/1 3/3/1 4/4/1
v 2 0.5 0
vt 1 0.5
f -4/-4/1 -1/-1/1 -3/-3/1
"""

OBJ_NO_UV = """v 0 0 0
v 1 0 0
v 1 1 0
v 0 1 0
f 1//1 2//1 3//1
f 1 3 4
"""


def test_corner_forms_quad_and_negative_indices(tmp_path: Path) -> None:
    (tmp_path / "face.mtl").write_text("newmtl skin\nKd 1 1 1\nmap_Kd face.png\n")
    path = tmp_path / "face.obj"
    path.write_text(OBJ_FORMS)
    mesh = load_mesh(path)
    assert mesh.vertices.shape == (5, 3)  # extra w / colour columns ignored
    # Quad fans to (0 1 2), (0 2 3); `-4 -1 -3` with 5 vertices defined so far is (1 4 2).
    np.testing.assert_array_equal(mesh.faces, [[0, 1, 2], [0, 2, 3], [1, 4, 2]])
    np.testing.assert_array_equal(mesh.uv_faces, [[0, 1, 2], [0, 2, 3], [1, 4, 2]])
    np.testing.assert_allclose(mesh.uv[4], [1, 0.5])
    assert mesh.texture_path == tmp_path / "face.png"


def test_without_uv(tmp_path: Path) -> None:
    path = tmp_path / "plain.obj"
    path.write_text(OBJ_NO_UV)
    mesh = load_mesh(path)
    np.testing.assert_array_equal(mesh.faces, [[0, 1, 2], [0, 2, 3]])
    assert mesh.uv is None and mesh.texture_path is None


@pytest.mark.parametrize("uv_mode", ["none", "vertex", "corner"])
def test_round_trip(tmp_path: Path, uv_mode: str) -> None:
    rng = np.random.default_rng(0)
    vertices, faces = rng.normal(size=(40, 3)) * 30, rng.integers(0, 40, size=(70, 3))
    uv = uv_faces = None
    if uv_mode == "vertex":
        uv = rng.random((40, 2))
    elif uv_mode == "corner":
        uv, uv_faces = rng.random((55, 2)), rng.integers(0, 55, size=(70, 3))
    mesh = Mesh(vertices=vertices, faces=faces, uv=uv, uv_faces=uv_faces, texture_path=tmp_path / "t.png")
    back = load_mesh(write_obj(tmp_path / "rt.obj", mesh))
    np.testing.assert_allclose(back.vertices, mesh.vertices, atol=1e-5)
    np.testing.assert_array_equal(back.faces, mesh.faces)
    if uv_mode == "none":
        assert back.uv is None
    else:
        np.testing.assert_allclose(back.corner_uv(), mesh.corner_uv(), atol=1e-6)
    assert back.texture_path == tmp_path / "t.png"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (OBJ_NO_UV.replace("v 1 1 0", "v 1 one 0"), "one"),
        (OBJ_NO_UV.replace("f 1 3 4", "f 1 3 9"), "out of range"),
        (OBJ_NO_UV.replace("f 1 3 4", "f 1 3 0"), "index 0"),
        (OBJ_NO_UV.replace("f 1 3 4", "f 1 3 x"), "non-integer"),
        (OBJ_NO_UV.replace("v 1 1 0", "v 1 1"), "fewer than 3"),
        (OBJ_NO_UV.replace("v 1 1 0", "v 1 nan 0"), "NaN"),
        ("# nothing\n", "no vertices"),
    ],
)
def test_bad_files(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "broken.obj"
    path.write_text(text)
    with pytest.raises(MeshFormatError, match=problem) as info:
        load_mesh(path)
    assert "broken.obj" in str(info.value)
