"""Wavefront `.obj` meshes: `v`, `vt` and `f` records (`v`, `v/vt`, `v//vn`, `v/vt/vn` corners).

Our own parser rather than open3d's, because open3d drops UVs of meshes without a material and we need them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fervlm.io._parse import fan_triangulate, parse_floats
from fervlm.io.mesh import Mesh, MeshFormatError
from fervlm.utils import atomic_write_text


def _table(records: list[str], width: int, path: Path, what: str) -> np.ndarray:
    """Rows of numbers → (n, width), keeping the first `width` columns (obj allows `v x y z [w|r g b]`)."""
    if not records:
        return np.zeros((0, width), dtype=np.float64)
    values = parse_floats(" ".join(records), path, what)
    if len(values) == len(records) * width:
        return values.reshape(-1, width)
    rows = [r.split() for r in records]
    if min(len(r) for r in rows) < width:
        raise MeshFormatError(path, f"a '{what}' record has fewer than {width} numbers")
    return parse_floats(" ".join(" ".join(r[:width]) for r in rows), path, what).reshape(-1, width)


def _resolve(index: str, count: int, path: Path, line_no: int) -> int:
    """1-based (or negative, relative to the records so far) obj index → 0-based."""
    try:
        value = int(index)
    except ValueError as err:
        raise MeshFormatError(path, f"line {line_no}: non-integer face index {index!r}") from err
    if value == 0:
        raise MeshFormatError(path, f"line {line_no}: face index 0 (obj indices start at 1)")
    return value - 1 if value > 0 else count + value


def read_obj(path: str | Path) -> Mesh:
    """Read a Wavefront `.obj`: polygons fan-triangulated, negative indices resolved, UVs kept per corner.

    Raises:
        MeshFormatError: missing file, non-numeric token, no vertices, index out of range, NaN.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="latin-1")
    except OSError as err:
        raise MeshFormatError(path, f"cannot read file: {err.strerror or err}") from err

    v_records: list[str] = []
    vt_records: list[str] = []
    corners: list[int] = []
    uv_corners: list[int] = []
    lengths: list[int] = []
    all_have_uv = True
    texture_lib: str | None = None
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("v "):
            v_records.append(line[2:])
        elif line.startswith("vt "):
            vt_records.append(line[3:])
        elif line.startswith("f "):
            tokens = line[2:].split()
            nv, nvt = len(v_records), len(vt_records)
            for token in tokens:
                parts = token.split("/")
                corners.append(_resolve(parts[0], nv, path, line_no))
                if len(parts) > 1 and parts[1]:
                    uv_corners.append(_resolve(parts[1], nvt, path, line_no))
                else:
                    all_have_uv = False
            lengths.append(len(tokens))
        elif line.startswith("mtllib ") and texture_lib is None:
            texture_lib = line[7:].strip()

    vertices = _table(v_records, 3, path, "v")
    faces = fan_triangulate(np.asarray(corners, dtype=np.int64), np.asarray(lengths, dtype=np.int64))
    uv = uv_faces = None
    if vt_records and all_have_uv and corners:
        uv = _table(vt_records, 2, path, "vt")
        uv_faces = fan_triangulate(np.asarray(uv_corners, dtype=np.int64), np.asarray(lengths))
    texture_path = _texture_from_mtl(path, texture_lib) if texture_lib else None
    return Mesh(
        vertices=vertices, faces=faces, uv=uv, uv_faces=uv_faces, texture_path=texture_path, source=path
    ).validate()


def _texture_from_mtl(path: Path, mtllib: str) -> Path | None:
    """The first `map_Kd` of the material library, resolved against the obj's folder (None if unreadable)."""
    mtl = path.parent / mtllib
    try:
        lines = mtl.read_text(encoding="latin-1").splitlines()
    except OSError:
        return None  # a missing .mtl only loses the texture; the geometry is still good
    for line in lines:
        line = line.strip()
        if line.startswith("map_Kd "):
            return mtl.parent / line.split(maxsplit=1)[1].strip()
    return None


def write_obj(path: str | Path, mesh: Mesh, *, decimals: int = 6) -> Path:
    """Write `mesh` as `.obj` (v, optional vt, 1-based f), atomically.

    `decimals` sets the vertex precision (3 is 1 µm for millimetre scans and keeps files ~30% smaller);
    UVs always keep 6 decimals.

    Per-vertex UVs are written as one `vt` per vertex with `f a/a b/b c/c`; per-corner UVs keep `uv_faces`.
    When `mesh.texture_path` is set, a sibling `.mtl` with `map_Kd` is written and referenced.

    Returns:
        The written path.
    """
    path = Path(path)
    mesh.validate()
    out: list[str] = []
    if mesh.texture_path is not None:
        mtl = path.with_suffix(".mtl")
        atomic_write_text(mtl, f"newmtl material0\nmap_Kd {Path(mesh.texture_path).name}\n")
        out.append(f"mtllib {mtl.name}\nusemtl material0\n")
    n = len(mesh.vertices)
    if n:
        fmt = f"v %.{decimals}f %.{decimals}f %.{decimals}f\n"
        out.append((fmt * n) % tuple(mesh.vertices.ravel().tolist()))
    faces1 = (mesh.faces + 1).ravel().tolist()
    if mesh.uv is not None and len(mesh.uv):
        out.append(("vt %.6f %.6f\n" * len(mesh.uv)) % tuple(mesh.uv.ravel().tolist()))
        uv_faces = mesh.uv_faces if mesh.uv_faces is not None else mesh.faces
        pairs = np.stack([mesh.faces + 1, uv_faces + 1], axis=2).ravel().tolist()
        out.append(("f %d/%d %d/%d %d/%d\n" * len(mesh.faces)) % tuple(pairs))
    elif faces1:
        out.append(("f %d %d %d\n" * len(mesh.faces)) % tuple(faces1))
    return atomic_write_text(path, "".join(out))
