"""`load_mesh`: one entry point that dispatches on the file extension."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fervlm.io.bnt import read_bnt
from fervlm.io.generic import read_point_cloud, read_triangle_mesh
from fervlm.io.mesh import Mesh, MeshFormatError
from fervlm.io.obj import read_obj
from fervlm.io.wrl import read_wrl

_READERS: dict[str, Callable[[Path], Mesh]] = {
    ".wrl": read_wrl,
    ".obj": read_obj,
    ".ply": read_triangle_mesh,
    ".off": read_triangle_mesh,
    ".stl": read_triangle_mesh,
    ".bnt": read_bnt,
    ".pcd": read_point_cloud,
    ".xyz": read_point_cloud,
}

#: Extensions `load_mesh` reads (lower case, with the dot); dataset adapters glob for these.
MESH_EXTENSIONS: tuple[str, ...] = tuple(_READERS)


def load_mesh(path: str | Path) -> Mesh:
    """Read any supported mesh or point cloud into a validated `Mesh`.

    Formats: VRML `.wrl`, `.obj`, `.ply`/`.off`/`.stl` (open3d), Bosphorus `.bnt`, `.pcd`/`.xyz` point clouds.
    The extension is matched case-insensitively.

    Raises:
        MeshFormatError: missing file, unknown extension, or any problem the format reader finds; the message
            names the file. No other exception escapes from a reader.
    """
    path = Path(path)
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise MeshFormatError(
            path, f"unknown mesh extension {path.suffix!r}; supported: {', '.join(MESH_EXTENSIONS)}"
        )
    if not path.is_file():
        raise MeshFormatError(path, "file not found" if not path.exists() else "not a regular file")
    try:
        mesh = reader(path)
    except MeshFormatError:
        raise
    except (OSError, ValueError, IndexError, TypeError, RuntimeError, UnicodeError) as err:
        # Readers wrap what they foresee; this is the net for the rest, so batch jobs can log and go on.
        raise MeshFormatError(path, f"unreadable {path.suffix} file: {type(err).__name__}: {err}") from err
    mesh.source = path
    return mesh
