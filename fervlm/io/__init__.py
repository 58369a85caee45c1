"""Reading and writing face meshes and landmark files into one `Mesh` container.

Formats: VRML `.wrl` (BU-3DFE, BU-4DFE), `.obj`, `.ply`/`.off`/`.stl` (open3d), Bosphorus `.bnt`, point clouds
(`.pcd`, `.xyz`), and the landmark files `.bnd` (BU-3DFE/BU-4DFE) and `.lm3` (Bosphorus). See
docs/datasets.md.
"""

from fervlm.io.bnt import write_bnt
from fervlm.io.landmarks import read_bnd, read_lm3, write_bnd, write_lm3
from fervlm.io.load import MESH_EXTENSIONS, load_mesh
from fervlm.io.mesh import Mesh, MeshFormatError
from fervlm.io.obj import write_obj
from fervlm.io.wrl import write_wrl

__all__ = [
    "MESH_EXTENSIONS",
    "Mesh",
    "MeshFormatError",
    "load_mesh",
    "read_bnd",
    "read_lm3",
    "write_bnd",
    "write_bnt",
    "write_lm3",
    "write_obj",
    "write_wrl",
]
