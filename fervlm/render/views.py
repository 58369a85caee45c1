"""The public rendering calls of `fervlm.render`: images, or images with per-pixel region labels.

`render_views` always returns images; `render_labelled` returns a `LabelledViews` holding the same images
and the label bits of the surface point each pixel shows (`label_map`), from which `masks()` unpacks
per-region boolean masks. Both share one validation and one visibility pass (`_render`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fervlm.io.mesh import Mesh
from fervlm.render.camera import Framing, _framing
from fervlm.render.hits import _Hits
from fervlm.render.raycast import _cast_mesh, _mesh_camera
from fervlm.render.shading import _depth, _label_bits, _normals, _shade, _texture
from fervlm.render.splat import _splat_points

MODES = ("shaded", "depth", "normals", "texture")
PROJECTIONS = ("orthographic", "pinhole")


@dataclass(frozen=True)
class LabelledViews:
    """Rendered views with the region labels of what each pixel shows (`render_labelled`).

    Attributes:
        images: uint8 (V, H, W, 3) views, black background — exactly what `render_views` returns.
        label_map: int64 (V, H, W) label bits of the surface point each pixel shows (the barycentric-nearest
            corner of the hit triangle, or the splatted point); 0 on the background. What `fervlm prepare`
            saves, packed to the smallest unsigned dtype.
        n_regions: K, the bit length of the largest vertex label (≥ 1): the number of regions in `masks()`.
    """

    images: np.ndarray
    label_map: np.ndarray
    n_regions: int

    def masks(self) -> np.ndarray:
        """(V, K, H, W) bool region masks: pixel ∈ region k when its label has bit k set."""
        bits = np.arange(self.n_regions)[None, :, None, None]
        return ((self.label_map[:, None] >> bits) & 1).astype(bool)


def _check_arguments(mode: str, projection: str, size: int, fov: float, yaws: Sequence[float]) -> list[float]:
    if mode not in MODES:
        raise ValueError(f"mode={mode!r}: expected one of {MODES}")
    if projection not in PROJECTIONS:
        raise ValueError(f"projection={projection!r}: expected one of {PROJECTIONS}")
    if int(size) != size or size < 8:
        raise ValueError(f"size={size!r}: expected an integer ≥ 8")
    if not 0 < fov < 180:
        raise ValueError(f"fov={fov!r}: expected degrees in (0, 180)")
    yaws = [float(y) for y in yaws]
    if not yaws:
        raise ValueError("yaws: at least one view angle is needed")
    return yaws


def _vertex_labels(mesh: Mesh, labels: np.ndarray | None) -> np.ndarray:
    labels = mesh.vertex_labels if labels is None else labels
    if labels is None:
        raise ValueError(f"{mesh.source or 'mesh'}: render_labelled needs labels or mesh.vertex_labels")
    labels = np.asarray(labels).astype(np.int64).ravel()
    if len(labels) != len(mesh.vertices):
        raise ValueError(f"labels: {len(labels)} values for {len(mesh.vertices)} vertices")
    return labels


def _render(
    mesh: Mesh,
    yaws: list[float],
    size: int,
    mode: str,
    projection: str,
    *,
    fov: float,
    margin: float,
    landmark_margin: float,
    smooth: bool,
    ambient: float,
    point_radius: float | None,
    framing: Framing | None,
) -> tuple[np.ndarray, _Hits]:
    """Images (V, H, W, 3) and the hit record they were shaded from (arguments already checked)."""
    if mesh.is_point_cloud:
        mesh.validate()  # meshes are validated by the scene cache when their scene is built
        if mode == "texture":
            raise ValueError(f"{mesh.source or 'mesh'}: mode='texture' is not available for a point cloud")
        framing = framing or _framing(mesh, yaws, margin, landmark_margin)
        hits = _splat_points(mesh, framing, yaws, size, projection, fov, point_radius)
    else:
        camera = _mesh_camera(mesh, yaws, size, projection, fov, margin, landmark_margin, framing)
        hits = _cast_mesh(mesh, *camera, smooth)

    if mode == "shaded":
        colours = _shade(hits, ambient)
    elif mode == "depth":
        colours = _depth(hits)
    elif mode == "normals":
        colours = _normals(hits)
    else:
        colours = _texture(mesh, hits)
    n_views = len(yaws)
    if colours.ndim == 1:  # grey modes: fill one channel, then replicate (3× fewer scattered writes)
        grey = np.zeros(n_views * size * size, dtype=np.uint8)
        grey[hits.index] = colours
        grey = grey.reshape(n_views, size, size)
        images = np.stack([grey, grey, grey], axis=-1)
    else:
        images = np.zeros((n_views * size * size, 3), dtype=np.uint8)
        images[hits.index] = colours
        images = images.reshape(n_views, size, size, 3)
    return images, hits


def render_views(
    mesh: Mesh,
    yaws: Sequence[float] = (-30, 0, 30),
    size: int = 224,
    mode: str = "shaded",
    projection: str = "orthographic",
    *,
    fov: float = 30.0,
    margin: float = 1.08,
    landmark_margin: float = 1.35,
    smooth: bool = True,
    ambient: float = 0.15,
    point_radius: float | None = None,
    framing: Framing | None = None,
) -> np.ndarray:
    """Render a face mesh (or point cloud) from several yaw angles.

    See `fervlm.render` for the yaw sign convention (θ > 0 turns the nose to the image's right), framing
    and the point-cloud splatting; `render_labelled` also returns region labels per pixel.

    Args:
        mesh: the face; vertices in any unit (framing adapts to the extent).
        yaws: view angles in degrees about the vertical axis through the face centre.
        size: output height and width in pixels.
        mode: ``shaded`` (Lambertian, light slightly above the camera, `ambient` term; smooth normals
            interpolated from area-weighted vertex normals unless `smooth=False`), ``depth`` (nearer =
            brighter, min–max over each view's visible face, 1..255), ``normals`` (camera-space unit normal
            n ↦ round((n + 1)·127.5), facing the camera), or ``texture`` (bilinear lookup of the mesh
            texture at the barycentric-interpolated corner UV; meshes with a texture and UVs only).
        projection: ``orthographic`` (default) or ``pinhole`` (square field of view `fov`, narrowed if the
            camera must step back to stay in front of the whole mesh).
        fov: pinhole field of view in degrees.
        margin: framing slack around the vertices' robust extent (≥ 1 keeps the face inside the image).
        landmark_margin: framing slack when the extent comes from `mesh.landmarks`.
        smooth: interpolate vertex normals (True) or use flat face normals (False).
        ambient: ambient share of the shaded intensity.
        point_radius: splat half-size in pixels for point clouds (default: 0.6 point spacing).
        framing: a fixed camera framing (`frame_views`) instead of the one derived from this mesh — for
            sequences, where a per-frame framing would add spurious motion to a dynamic image.

    Returns:
        uint8 (V, H, W, 3) images with a black background.

    Raises:
        ValueError: an unknown mode/projection, bad size, or texture mode without a texture.
    """
    yaws = _check_arguments(mode, projection, size, fov, yaws)
    options = dict(fov=fov, margin=margin, landmark_margin=landmark_margin, smooth=smooth, ambient=ambient)
    images, _ = _render(
        mesh, yaws, int(size), mode, projection, point_radius=point_radius, framing=framing, **options
    )
    return images


def render_labelled(
    mesh: Mesh,
    yaws: Sequence[float] = (-30, 0, 30),
    size: int = 224,
    mode: str = "shaded",
    projection: str = "orthographic",
    labels: np.ndarray | None = None,
    *,
    fov: float = 30.0,
    margin: float = 1.08,
    landmark_margin: float = 1.35,
    smooth: bool = True,
    ambient: float = 0.15,
    point_radius: float | None = None,
    framing: Framing | None = None,
) -> LabelledViews:
    """`render_views` plus the region labels of what each pixel shows (one visibility pass for both).

    Args:
        mesh, yaws, size, mode, projection: as in `render_views`; so are the keyword-only options.
        labels: (N,) integer bit masks per vertex (bit k = region k, e.g. an action-unit region);
            defaults to `mesh.vertex_labels`.

    Returns:
        A `LabelledViews`: ``images`` (identical to `render_views`), ``label_map`` int64 (V, H, W) label
        bits per pixel (0 on the background) and ``masks()`` → (V, K, H, W) bool.

    Raises:
        ValueError: as `render_views`, or no labels / labels that do not match the vertices.
    """
    yaws = _check_arguments(mode, projection, size, fov, yaws)
    labels = _vertex_labels(mesh, labels)
    options = dict(fov=fov, margin=margin, landmark_margin=landmark_margin, smooth=smooth, ambient=ambient)
    images, hits = _render(
        mesh, yaws, int(size), mode, projection, point_radius=point_radius, framing=framing, **options
    )
    label_map = np.zeros(images.shape[0] * images.shape[1] * images.shape[2], dtype=np.int64)
    label_map[hits.index] = _label_bits(mesh, hits, labels)
    k = max(int(np.bitwise_or.reduce(labels)).bit_length(), 1) if len(labels) else 1
    return LabelledViews(images=images, label_map=label_map.reshape(images.shape[:3]), n_regions=k)


def pack_masks(masks: np.ndarray) -> np.ndarray:
    """Pack (V, K, H, W) bool region masks into per-pixel bit masks (V, H, W) of the smallest unsigned
    dtype that holds K bits (bit k = region k), e.g. for saving explanation ground truth compactly."""
    masks = np.asarray(masks, dtype=bool)
    k = masks.shape[1]
    dtype = next(d for d in (np.uint8, np.uint16, np.uint32, np.uint64) if np.iinfo(d).bits >= k)
    weights = (np.ones(1, dtype=dtype) << np.arange(k, dtype=dtype)).astype(dtype)
    return np.tensordot(masks.astype(dtype), weights, axes=([1], [0])).astype(dtype)
