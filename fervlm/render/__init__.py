"""Multiview projection of a face mesh or point cloud to images (CPU, headless).

Submodules, one concept each: `camera` (framing and rays), `cache` (raycasting scenes, threads),
`raycast` (meshes), `splat` (point clouds), `hits` (the foreground-pixel record both produce),
`shading` (the modes' colours, label bits) and `views` (the public calls).

Triangle meshes are ray cast with open3d's Embree-backed `o3d.t.geometry.RaycastingScene`: the scene (BVH)
is built once per mesh (and kept in a small content-checked cache, so rendering the same mesh again in
another mode reuses it), the rays of *all* views go to one `cast_rays` call as a (V, H, W, 6) tensor, and
everything after the cast — normals, shading, texture lookup, label masks — is vectorised numpy over the
foreground pixels only.

Geometry and conventions:

* The face looks along +z, y is up, x is the image's right (the benchmarks' scanner frame).
* A view with yaw θ (degrees) shows the mesh rotated by R_y(θ) about the vertical axis through the face
  centre (right-hand rule about +y). For θ > 0 the nose turns towards the image's right and the camera
  sees more of the face's +x side — the subject's *left* cheek; θ < 0 is the mirror image. Following
  CONTRIBUTING.md, −30/0/+30 are named ``left``/``front``/``right``. For a face symmetric in x,
  ``view(−θ)`` is exactly the horizontal flip of ``view(+θ)`` (the pixel grid is symmetric too).
  Rather than rotating the mesh, the rays are rotated by R_y(θ)ᵀ — equivalent and cheaper.
* Framing is shared by all views: the rotation centre projects to the image centre and one scale is used
  for every view, chosen so the robust (1st–99th percentile) extent of the face in *every* requested view,
  times `margin`, fits in the image. The extent comes from the vertices, or from `mesh.landmarks` when the
  mesh carries at least 3 landmarks (then `landmark_margin` applies: landmarks hug the face, so the crop
  needs more room).
* Orthographic projection by default (camera looking along −z from in front of the face); ``"pinhole"``
  puts a camera with field of view `fov` at the distance where the face centre plane has the same framing.
* Region labels: `render_labelled(mesh, ..., labels=...)` returns a `LabelledViews` — the same images plus
  the label bits of the surface point each pixel shows (`label_map`) and `masks()` per region.
* Sequences: `frame_views(first_frame, yaws)` returns the framing, and ``render_views(...,
  framing=...)`` renders any mesh with it — the frames of a 4D sequence must share one camera, or a
  changing extent would move the face between frames (see `fervlm.dynamic.render_sequence`).
* Point clouds (no faces) are rendered by *splatting*: each point is projected and drawn as a square of
  about one point spacing with a z-buffer (nearest point wins); normals are estimated with open3d
  (`estimate_normals`, oriented towards the camera). No surface is reconstructed.
"""

from fervlm.render.cache import clear_cache, set_num_threads
from fervlm.render.camera import Framing, frame_views
from fervlm.render.views import MODES, PROJECTIONS, LabelledViews, pack_masks, render_labelled, render_views

__all__ = [
    "MODES",
    "PROJECTIONS",
    "Framing",
    "LabelledViews",
    "clear_cache",
    "frame_views",
    "pack_masks",
    "render_labelled",
    "render_views",
    "set_num_threads",
]
