"""VRML 2.0 (`.wrl`) meshes as shipped by BU-3DFE (`*_F3D.wrl`) and BU-4DFE (`<NNN>.wrl`).

The reader follows the layout-independent recipe of docs/datasets.md §1.5: the whole text is searched for the
`Coordinate point [...]`, `coordIndex [...]`, `TextureCoordinate point [...]` and `texCoordIndex [...]`
blocks; inside a block commas are whitespace and the numbers are converted in bulk by numpy. This covers the
one-item-per-line BU-3DFE files and the comma-separated BU-4DFE files (§2.3) alike,
and reads a 35k-vertex frame in tens of ms.

The writer produces the BU-3DFE layout (§1.5, §8): header, `ImageTexture` url, an `IndexedFaceSet` with one
`x y z,` / `a b c -1,` item per line and a trailing `DEF Tricorder_Camera_Front Viewpoint {}`.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from fervlm.io._parse import fan_triangulate, parse_floats, parse_ints, split_polygons
from fervlm.io.mesh import Mesh, MeshFormatError
from fervlm.utils import atomic_write_text

_URL = re.compile(r'\burl\s*\[?\s*"([^"]*)"')
# Patterns are applied with `.match` at positions found by `str.find`: a regex *search* for a keyword with a
# leading word boundary steps through a 4 MB frame char by char in sre (~30 ms each), `find` takes ~1 ms.
_COORD = re.compile(r"Coordinate\s*\{\s*point\s*\[")
_TEXCOORD = re.compile(r"TextureCoordinate\s*\{\s*point\s*\[")
_COORD_INDEX = re.compile(r"coordIndex\s*\[")
_TEXCOORD_INDEX = re.compile(r"texCoordIndex\s*\[")


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _find_keyword(text: str, keyword: str, start: int = 0, end: int | None = None) -> int:
    """Index of the first whole-word `keyword` in text[start:end], or -1."""
    end = len(text) if end is None else end
    pos = text.find(keyword, start, end)
    while pos >= 0:
        after = pos + len(keyword)
        starts_word = pos == 0 or not _is_word_char(text[pos - 1])
        if starts_word and (after >= len(text) or not _is_word_char(text[after])):
            return pos
        pos = text.find(keyword, pos + 1, end)
    return -1


def _strip_comments(text: str) -> str:
    """Blank out `#` comments (to the end of the line), leaving a `#` inside a quoted string alone."""
    out: list[str] = []
    pos = 0
    while (hash_at := text.find("#", pos)) >= 0:
        line_start = text.rfind("\n", 0, hash_at) + 1
        if text.count('"', line_start, hash_at) % 2:  # odd number of quotes before it: inside a string
            out.append(text[pos : hash_at + 1])
            pos = hash_at + 1
            continue
        line_end = text.find("\n", hash_at)
        out.append(text[pos:hash_at])
        pos = len(text) if line_end < 0 else line_end
    out.append(text[pos:])
    return "".join(out)


def _block(text: str, pattern: re.Pattern[str], path: Path, what: str) -> str | None:
    """The text between the `[` that ends `pattern` and its closing `]`, or None when `pattern` is absent."""
    keyword = pattern.pattern.split("\\", 1)[0]
    pos = _find_keyword(text, keyword)
    match = None
    while pos >= 0 and match is None:
        match = pattern.match(text, pos)
        if match is None:
            pos = _find_keyword(text, keyword, pos + 1)
    if match is None:
        return None
    end = text.find("]", match.end())
    if end < 0:
        raise MeshFormatError(path, f"unclosed bracket: {what} [ has no closing ]")
    return text[match.end() : end]


def _check_balanced(text: str, path: Path) -> None:
    """A truncated file usually stops inside a node; unbalanced brackets catch that before any parsing."""
    stripped = re.sub(r'"[^"\n]*"', "", text) if '"' in text else text
    for open_, close in (("[", "]"), ("{", "}")):
        n_open, n_close = stripped.count(open_), stripped.count(close)
        if n_open != n_close:
            raise MeshFormatError(
                path, f"unclosed bracket (truncated file?): {n_open} '{open_}' but {n_close} '{close}'"
            )


_Shape = tuple[np.ndarray, np.ndarray, "np.ndarray | None", "np.ndarray | None"]


def _parse_shape(segment: str, path: Path) -> _Shape:
    """One IndexedFaceSet/PointSet → (vertices, faces, uv, uv_faces) with local indices."""
    coord = _block(segment, _COORD, path, "Coordinate point")
    if coord is None:
        raise MeshFormatError(path, "no vertices: IndexedFaceSet without a Coordinate point list")
    values = parse_floats(coord, path, "Coordinate point")
    if len(values) % 3:
        raise MeshFormatError(path, f"Coordinate point holds {len(values)} numbers, not a multiple of 3")
    vertices = values.reshape(-1, 3)

    faces = np.zeros((0, 3), dtype=np.int64)
    lengths = np.zeros(0, dtype=np.int64)
    index_text = _block(segment, _COORD_INDEX, path, "coordIndex")
    if index_text is not None:
        corners, lengths = split_polygons(parse_ints(index_text, path, "coordIndex"))
        faces = fan_triangulate(corners, lengths)

    uv = uv_faces = None
    uv_text = _block(segment, _TEXCOORD, path, "TextureCoordinate point")
    if uv_text is not None:
        uv_values = parse_floats(uv_text, path, "TextureCoordinate point")
        if len(uv_values) % 2:
            raise MeshFormatError(path, f"TextureCoordinate point holds {len(uv_values)} numbers, not even")
        uv = uv_values.reshape(-1, 2)
        uv_index_text = _block(segment, _TEXCOORD_INDEX, path, "texCoordIndex")
        uv_corners = None
        if uv_index_text is not None:
            uv_corners, uv_lengths = split_polygons(parse_ints(uv_index_text, path, "texCoordIndex"))
        if uv_corners is not None and len(uv_corners):
            if not np.array_equal(uv_lengths, lengths):
                raise MeshFormatError(path, "texCoordIndex polygons do not match the coordIndex polygons")
            uv_faces = fan_triangulate(uv_corners, uv_lengths)
        elif len(uv) != len(vertices):
            # Without texCoordIndex VRML reuses coordIndex, i.e. one UV per vertex.
            raise MeshFormatError(
                path, f"{len(uv)} texture coordinates for {len(vertices)} vertices and no texCoordIndex"
            )
    return vertices, faces, uv, uv_faces


def _all_keywords(text: str, keyword: str) -> list[int]:
    found, pos = [], _find_keyword(text, keyword)
    while pos >= 0:
        found.append(pos)
        pos = _find_keyword(text, keyword, pos + 1)
    return found


def read_wrl(path: str | Path) -> Mesh:
    """Read a VRML 2.0 `.wrl` mesh (BU-3DFE F3D, BU-4DFE frames), docs/datasets.md §1.5 and §2.3.

    Polygons are fan-triangulated `(p0, pi, pi+1)`; texture coordinates keep their own `texCoordIndex` as
    `Mesh.uv_faces` (or are per vertex, `uv_faces=None`, when the file has none). Several IndexedFaceSets are
    concatenated. The first `url "..."` names the texture, resolved against the file's folder.

    Raises:
        MeshFormatError: missing file, unclosed bracket, non-numeric token, no vertices, index out of range,
            NaN coordinates.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="latin-1")  # latin-1 decodes any byte; numbers are ASCII
    except OSError as err:
        raise MeshFormatError(path, f"cannot read file: {err.strerror or err}") from err
    text = _strip_comments(text)
    _check_balanced(text, path)

    starts = sorted(pos for keyword in ("IndexedFaceSet", "PointSet") for pos in _all_keywords(text, keyword))
    if not starts:
        raise MeshFormatError(path, "no vertices: no IndexedFaceSet or PointSet node")
    bounds = [*starts[1:], len(text)]
    parts = [_parse_shape(text[a:b], path) for a, b in zip(starts, bounds, strict=True)]

    vertices, faces, uv, uv_faces = _concatenate(parts)
    url = _URL.search(text)
    texture_path = path.parent / url.group(1) if url and url.group(1).strip() else None
    return Mesh(
        vertices=vertices, faces=faces, uv=uv, uv_faces=uv_faces, texture_path=texture_path, source=path
    ).validate()


def _concatenate(
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Merge shapes into one mesh, offsetting indices; UVs survive only if every shape has them."""
    if len(parts) == 1:
        return parts[0]
    offsets = np.cumsum([0] + [len(p[0]) for p in parts])
    vertices = np.concatenate([p[0] for p in parts])
    faces = np.concatenate([p[1] + off for p, off in zip(parts, offsets[:-1], strict=True)])
    if any(p[2] is None for p in parts):
        return vertices, faces, None, None
    if all(p[3] is None for p in parts):
        return vertices, faces, np.concatenate([p[2] for p in parts]), None
    # Mixed per-vertex and per-corner shapes: express all of them per corner.
    uv_offsets = np.cumsum([0] + [len(p[2]) for p in parts])
    uv_faces = np.concatenate(
        [(p[3] if p[3] is not None else p[1]) + off for p, off in zip(parts, uv_offsets[:-1], strict=True)]
    )
    return vertices, faces, np.concatenate([p[2] for p in parts]), uv_faces


_HEADER = """#VRML V2.0 utf8

Transform {{
  children [
    Shape {{
      appearance Appearance {{
        texture ImageTexture {{
          url "{texture}"
        }}
      }}
      geometry IndexedFaceSet {{
        creaseAngle 3.14
        solid FALSE
        coord Coordinate {{
          point [
"""


def _rows(values: np.ndarray, fmt: str, last_fmt: str) -> str:
    """Format an (n, k) array one row per line in one C-level `%` call (np.savetxt loops in Python)."""
    if len(values) == 0:
        return ""
    flat = values.ravel().tolist()
    return (fmt * (len(values) - 1) + last_fmt) % tuple(flat)


def write_wrl(path: str | Path, mesh: Mesh, texture_name: str | None = None, *, decimals: int = 3) -> Path:
    """Write `mesh` as VRML 2.0 in the BU-3DFE `F3D.wrl` layout (docs/datasets.md §1.5, §8), atomically.

    Args:
        path: destination `.wrl`.
        mesh: the mesh; its UVs (per vertex or per corner) are written with a `texCoordIndex`.
        texture_name: the `ImageTexture` url; defaults to `mesh.texture_path.name` (or empty).
        decimals: decimals for vertex coordinates (3 = micrometres for mm data); UVs always get 6.

    Returns:
        The written path.
    """
    path = Path(path)
    mesh.validate()
    if texture_name is None:
        texture_name = Path(mesh.texture_path).name if mesh.texture_path is not None else ""
    vfmt = f"%.{decimals}f %.{decimals}f %.{decimals}f"
    parts = [_HEADER.format(texture=texture_name)]
    parts.append(_rows(mesh.vertices, vfmt + ",\n", vfmt + "\n"))
    parts.append("          ]\n        }\n        coordIndex [\n")
    parts.append(_rows(mesh.faces, "%d %d %d -1,\n", "%d %d %d -1\n"))
    parts.append("        ]\n")
    if mesh.uv is not None:
        uv_faces = mesh.uv_faces if mesh.uv_faces is not None else mesh.faces
        parts.append("        texCoord TextureCoordinate {\n          point [\n")
        parts.append(_rows(mesh.uv, "%.6f %.6f,\n", "%.6f %.6f\n"))
        parts.append("          ]\n        }\n        texCoordIndex [\n")
        parts.append(_rows(uv_faces, "%d %d %d -1,\n", "%d %d %d -1\n"))
        parts.append("        ]\n")
    parts.append("      }\n    }\n  ]\n}\nDEF Tricorder_Camera_Front Viewpoint {}\n")
    return atomic_write_text(path, "".join(parts))
