"""VRML reader/writer: BU-3DFE and BU-4DFE layouts (docs/datasets.md §1.5, §2.3, §8), round trips, bad
files."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from fervlm.io import Mesh, MeshFormatError, load_mesh, write_wrl
from fervlm.io.wrl import read_wrl

# BU-3DFE F3D.wrl layout: one item per line, separate texCoordIndex, Viewpoint trailer, comments.
BU3DFE_WRL = """#VRML V2.0 utf8
# Produced by the 3DMD software (comment lines must be ignored) [1, 2]
Transform {
  children [
    Shape {
      appearance Appearance {
        texture ImageTexture {
          url "F0001_AN01WH_F3D.bmp"
        }
      }
      geometry IndexedFaceSet {
        creaseAngle 3.14
        coord Coordinate {
          point [
            -1.5 0.25 10,
            1.5 0.25 10.5,
            1.5 2.75 11, # a trailing comment after a vertex
            -1.5 2.75 11.5
          ]
        }
        coordIndex [
          0 1 2 -1,
          0 2 3 -1,
        ]
        texCoord TextureCoordinate {
          point [
            0.0 0.0,
            1.0 0.0,
            1.0 1.0,
            0.0 1.0,
            0.5 0.5
          ]
        }
        texCoordIndex [
          0 1 2 -1,
          4 2 3 -1
        ]
      }
    }
  ]
}
DEF Tricorder_Camera_Front Viewpoint {
  position 0 0 500
  description "Front # not a comment"
}
"""

# BU-4DFE layout: data on the `[` line, comma-separated indices, a quad, trailing commas, per-vertex UVs.
BU4DFE_WRL = """#VRML V2.0 utf8
Shape { appearance Appearance { texture ImageTexture { url "000.jpg" } }
geometry IndexedFaceSet {
coord Coordinate { point [ 0 0 0, 1 0 0,
1 1 0, 0 1 0,
2 0.5 0.25, ]
}
coordIndex [ 0, 1, 2, 3, -1,
1, 4, 2, -1,
]
texCoord TextureCoordinate { point [ 0 0, 1 0, 1 1, 0 1, 1 0.5, ] }
}
}
"""

# Per-corner UVs with a pentagon (3 triangles) and its own texCoordIndex; last polygon without a closing -1.
CORNER_UV_WRL = """#VRML V2.0 utf8
Shape { geometry IndexedFaceSet {
  coord Coordinate { point [ 0 0 0, 1 0 0, 1.5 1 0, 0.5 1.5 0, -0.5 1 0 ] }
  coordIndex [ 0 1 2 3 4 ]
  texCoord TextureCoordinate { point [ 0.1 0.1, 0.9 0.1, 0.9 0.9, 0.1 0.9, 0.5 0.5, 0.2 0.2 ] }
  texCoordIndex [ 5 1 2 3 4 ]
} }
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _random_mesh(rng: np.random.Generator, n_vertices: int, n_faces: int, per_corner_uv: bool) -> Mesh:
    vertices = rng.uniform(-100, 100, size=(n_vertices, 3))
    faces = rng.integers(0, n_vertices, size=(n_faces, 3))
    if per_corner_uv:
        uv = rng.random((n_vertices + 7, 2))
        uv_faces = rng.integers(0, len(uv), size=(n_faces, 3))
    else:
        uv, uv_faces = rng.random((n_vertices, 2)), None
    return Mesh(vertices=vertices, faces=faces, uv=uv, uv_faces=uv_faces)


def test_bu3dfe_layout(tmp_path: Path) -> None:
    mesh = load_mesh(_write(tmp_path, "F0001_AN01WH_F3D.wrl", BU3DFE_WRL))
    np.testing.assert_allclose(
        mesh.vertices, [[-1.5, 0.25, 10], [1.5, 0.25, 10.5], [1.5, 2.75, 11], [-1.5, 2.75, 11.5]]
    )
    np.testing.assert_array_equal(mesh.faces, [[0, 1, 2], [0, 2, 3]])
    assert mesh.uv is not None and mesh.uv.shape == (5, 2)
    np.testing.assert_array_equal(mesh.uv_faces, [[0, 1, 2], [4, 2, 3]])
    np.testing.assert_allclose(mesh.corner_uv()[1], [[0.5, 0.5], [1, 1], [0, 1]])
    assert mesh.texture_path == tmp_path / "F0001_AN01WH_F3D.bmp"
    assert mesh.source == tmp_path / "F0001_AN01WH_F3D.wrl"
    assert mesh.vertices.dtype == np.float32 and mesh.faces.dtype == np.int64


def test_bu4dfe_layout_quad_and_per_vertex_uv(tmp_path: Path) -> None:
    mesh = load_mesh(_write(tmp_path, "000.wrl", BU4DFE_WRL))
    assert mesh.vertices.shape == (5, 3)
    np.testing.assert_allclose(mesh.vertices[4], [2, 0.5, 0.25])
    # The quad (0 1 2 3) fans into (0 1 2), (0 2 3); the triangle follows.
    np.testing.assert_array_equal(mesh.faces, [[0, 1, 2], [0, 2, 3], [1, 4, 2]])
    assert mesh.uv_faces is None
    np.testing.assert_allclose(mesh.uv, [[0, 0], [1, 0], [1, 1], [0, 1], [1, 0.5]])
    np.testing.assert_allclose(mesh.corner_uv()[2], [[1, 0], [1, 0.5], [1, 1]])
    assert mesh.texture_path == tmp_path / "000.jpg"


def test_per_corner_uv_pentagon_fan(tmp_path: Path) -> None:
    mesh = read_wrl(_write(tmp_path, "penta.wrl", CORNER_UV_WRL))
    np.testing.assert_array_equal(mesh.faces, [[0, 1, 2], [0, 2, 3], [0, 3, 4]])
    np.testing.assert_array_equal(mesh.uv_faces, [[5, 1, 2], [5, 2, 3], [5, 3, 4]])
    assert mesh.texture_path is None


def test_layouts_agree(tmp_path: Path) -> None:
    """The same geometry written one-per-line and all-on-one-line with commas parses identically."""
    no_inline_comment = BU3DFE_WRL.replace(" # a trailing comment after a vertex", "")
    one_line = no_inline_comment.replace(",\n", ", ").replace("\n            ", " ")
    a = read_wrl(_write(tmp_path, "a.wrl", BU3DFE_WRL))
    b = read_wrl(_write(tmp_path, "b.wrl", one_line))
    np.testing.assert_array_equal(a.vertices, b.vertices)
    np.testing.assert_array_equal(a.faces, b.faces)
    np.testing.assert_array_equal(a.uv_faces, b.uv_faces)


@pytest.mark.parametrize("per_corner_uv", [False, True])
def test_round_trip(tmp_path: Path, per_corner_uv: bool) -> None:
    mesh = _random_mesh(np.random.default_rng(1), 200, 300, per_corner_uv)
    path = write_wrl(tmp_path / "sub" / "m.wrl", mesh, texture_name="m.jpg")
    text = path.read_text()
    assert text.startswith("#VRML V2.0 utf8") and "DEF Tricorder_Camera_Front Viewpoint {}" in text
    assert not list(path.parent.glob("*.tmp")), "atomic write left a temporary file"
    back = load_mesh(path)
    np.testing.assert_allclose(back.vertices, mesh.vertices, atol=6e-4)  # 3 decimals
    np.testing.assert_array_equal(back.faces, mesh.faces)
    np.testing.assert_allclose(back.corner_uv(), mesh.corner_uv(), atol=1e-6)
    assert back.texture_path == tmp_path / "sub" / "m.jpg"


def test_round_trip_without_uv_keeps_texture_name(tmp_path: Path) -> None:
    mesh = Mesh(vertices=np.eye(3), faces=[[0, 1, 2]], texture_path=tmp_path / "elsewhere" / "tex.png")
    back = read_wrl(write_wrl(tmp_path / "m.wrl", mesh, decimals=5))
    assert back.uv is None and back.texture_path == tmp_path / "tex.png"
    np.testing.assert_array_equal(back.vertices, np.eye(3))


def test_large_mesh_is_fast(tmp_path: Path) -> None:
    """A BU-4DFE-sized frame (35k vertices, 70k faces) reads well under a second (bound kept generous)."""
    mesh = _random_mesh(np.random.default_rng(2), 35_000, 70_000, per_corner_uv=True)
    start = time.perf_counter()
    path = write_wrl(tmp_path / "big.wrl", mesh)
    write_s = time.perf_counter() - start
    start = time.perf_counter()
    back = load_mesh(path)
    read_s = time.perf_counter() - start
    assert back.vertices.shape == (35_000, 3) and back.faces.shape == (70_000, 3)
    np.testing.assert_array_equal(back.uv_faces, mesh.uv_faces)
    assert read_s < 3.0, f"reading a 35k-vertex wrl took {read_s:.2f} s"
    assert write_s < 3.0, f"writing a 35k-vertex wrl took {write_s:.2f} s"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (BU3DFE_WRL[: BU3DFE_WRL.index("1.5 2.75 11,")], "unclosed bracket"),
        (BU3DFE_WRL.replace("0 2 3 -1,", "0 2 7 -1,"), "out of range"),
        (BU3DFE_WRL.replace("1.5 0.25 10.5", "1.5 abc 10.5"), "abc"),
        (BU3DFE_WRL.replace("1.5 0.25 10.5", "1.5 nan 10.5"), "NaN"),
        (BU3DFE_WRL.replace("0 2 3 -1,", "0 2.5 3 -1,"), "2.5"),
        (BU3DFE_WRL.replace("4 2 3 -1", "4 2 3 1 -1"), "texCoordIndex"),
        (BU3DFE_WRL.replace("4 2 3 -1", "4 2 9 -1"), "texture-coordinate index out of range"),
        (BU4DFE_WRL.replace("1 0.5, ]", "]"), "texture coordinates for 5 vertices"),
        (BU3DFE_WRL.replace("-1.5 0.25 10,", "-1.5 0.25,"), "multiple of 3"),
        ("#VRML V2.0 utf8\nShape { }\n", "no IndexedFaceSet"),
        ("#VRML V2.0 utf8\nShape { geometry IndexedFaceSet { coordIndex [ 0 1 2 -1 ] } }\n", "no vertices"),
        ("Shape { geometry IndexedFaceSet { coord Coordinate { point [ ] } } }\n", "no vertices"),
        ("", "no IndexedFaceSet"),
    ],
)
def test_bad_files(tmp_path: Path, text: str, problem: str) -> None:
    path = _write(tmp_path, "bad_face.wrl", text)
    with pytest.raises(MeshFormatError, match=problem) as info:
        load_mesh(path)
    assert "bad_face.wrl" in str(info.value)


def test_truncated_written_file(tmp_path: Path) -> None:
    path = write_wrl(tmp_path / "cut.wrl", _random_mesh(np.random.default_rng(3), 50, 60, False))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MeshFormatError, match=r"cut\.wrl.*unclosed bracket"):
        load_mesh(path)


def test_several_shapes_are_concatenated(tmp_path: Path) -> None:
    shape = BU4DFE_WRL.split("\n", 1)[1]
    mesh = read_wrl(_write(tmp_path, "two.wrl", "#VRML V2.0 utf8\n" + shape + shape))
    assert mesh.vertices.shape == (10, 3)
    np.testing.assert_array_equal(mesh.faces[3:], mesh.faces[:3] + 5)
    assert mesh.uv.shape == (10, 2) and mesh.uv_faces is None


def test_mixed_uv_shapes_become_per_corner(tmp_path: Path) -> None:
    """A per-corner shape followed by a per-vertex shape: the second's corners index its own UV block."""
    per_vertex_shape = BU4DFE_WRL.split("\n", 1)[1]
    mesh = read_wrl(_write(tmp_path, "mixed.wrl", CORNER_UV_WRL + per_vertex_shape))
    local = np.array([[0, 1, 2], [0, 2, 3], [1, 4, 2]])
    np.testing.assert_array_equal(mesh.faces[3:], local + 5)  # after the pentagon's 5 vertices
    np.testing.assert_array_equal(mesh.uv_faces[3:], local + 6)  # after the pentagon's 6 UVs
    np.testing.assert_allclose(mesh.corner_uv()[5], [[1, 0], [1, 0.5], [1, 1]])
