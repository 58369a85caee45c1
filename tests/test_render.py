"""Tests of `fervlm.render`: framing, view geometry and sign convention, modes, masks, point clouds."""

from __future__ import annotations

import numpy as np
import pytest

from fervlm.benchmarks.render import bench_render, face_like_mesh, format_table
from fervlm.io.mesh import Mesh
from fervlm.render import (
    clear_cache,
    frame_views,
    pack_masks,
    render_labelled,
    render_views,
    set_num_threads,
)

SIZE = 64


@pytest.fixture(scope="module")
def face() -> Mesh:
    """A small face-like height field, symmetric in x, nose towards +z (≈3k vertices)."""
    return face_like_mesh(3000)


def _fg(images: np.ndarray) -> np.ndarray:
    return images.max(axis=-1) > 0


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.astype(np.float64).ravel(), b.astype(np.float64).ravel())[0, 1])


@pytest.mark.parametrize("mode", ["shaded", "depth", "normals"])
@pytest.mark.parametrize("projection", ["orthographic", "pinhole"])
def test_views_are_in_frame_and_nonempty(face: Mesh, mode: str, projection: str) -> None:
    images = render_views(face, size=SIZE, mode=mode, projection=projection)
    assert images.shape == (3, SIZE, SIZE, 3) and images.dtype == np.uint8
    for view in _fg(images):
        assert 0.2 < view.mean() < 0.85
        rows, cols = np.flatnonzero(view.any(axis=1)), np.flatnonzero(view.any(axis=0))
        # The face's bounding box does not touch the border, and the face is roughly centred.
        assert rows[0] > 0 and rows[-1] < SIZE - 1 and cols[0] > 0 and cols[-1] < SIZE - 1
        assert abs((rows[0] + rows[-1]) / 2 - SIZE / 2) < SIZE * 0.1


@pytest.mark.parametrize("projection", ["orthographic", "pinhole"])
def test_left_and_right_views_mirror_each_other(face: Mesh, projection: str) -> None:
    left, front, right = render_views(face, size=SIZE, projection=projection)
    assert _corr(left, right[:, ::-1]) > 0.97
    assert np.abs(left.astype(int) - front.astype(int)).mean() > 3
    assert np.abs(right.astype(int) - front.astype(int)).mean() > 3
    # The front view of a symmetric face is itself (nearly) symmetric.
    assert _corr(front, front[:, ::-1]) > 0.97


def test_yaw_sign_convention_turns_the_nose_to_the_image_right(face: Mesh) -> None:
    v = face.vertices
    tip = v[np.argmax(v[:, 2])]
    nose = (np.linalg.norm(v - tip, axis=1) < 8).astype(np.int64)
    masks = render_labelled(face, yaws=(-30, 0, 30), size=SIZE, labels=nose).masks()
    nose_cols = [np.argwhere(m[0])[:, 1].mean() for m in masks]
    centre = (SIZE - 1) / 2
    assert nose_cols[0] < centre - 3 and abs(nose_cols[1] - centre) < 1.0 and nose_cols[2] > centre + 3


def test_depth_and_normals_share_the_shaded_silhouette(face: Mesh) -> None:
    shaded = render_views(face, size=SIZE, mode="shaded")
    depth = render_views(face, size=SIZE, mode="depth")
    normals = render_views(face, size=SIZE, mode="normals")
    assert np.array_equal(_fg(shaded), _fg(depth))
    assert np.array_equal(_fg(shaded), _fg(normals))
    assert (depth[..., 0] == depth[..., 1]).all() and depth.max() == 255


def test_depth_decreases_where_the_surface_recedes(face: Mesh) -> None:
    front = render_views(face, yaws=(0,), size=SIZE, mode="depth")[0, ..., 0].astype(int)
    row = SIZE // 2 + 6  # below the nose: the cheeks curve back towards the face rim
    line = front[row]
    cols = np.flatnonzero(line)
    centre = SIZE // 2
    right_half = line[centre : cols[-1] + 1]
    left_half = line[cols[0] : centre][::-1]
    assert (np.diff(right_half) <= 1).all() and right_half[0] > right_half[-1] + 50
    assert (np.diff(left_half) <= 1).all() and left_half[0] > left_half[-1] + 50


def test_normals_mode_encodes_camera_space_normals(face: Mesh) -> None:
    front = render_views(face, yaws=(0,), size=SIZE, mode="normals")[0].astype(int)
    fg = front.max(axis=-1) > 0
    left_cols = np.zeros_like(fg)
    left_cols[:, : SIZE // 2 - 4] = True
    right_cols = np.zeros_like(fg)
    right_cols[:, SIZE // 2 + 4 :] = True
    # n_x < 0 on the face's left half (image left), > 0 on the right; n_z > 0 everywhere (faces the camera).
    assert front[fg & left_cols, 0].mean() < 110 < 146 < front[fg & right_cols, 0].mean()
    assert (front[fg, 2] >= 127).all()
    top = np.zeros_like(fg)
    top[: SIZE // 4] = True
    assert front[fg & top, 1].mean() > 140  # the forehead tilts up: n_y > 0


def test_texture_mode_samples_the_texture_at_the_uv(face: Mesh) -> None:
    v = face.vertices
    uv = (v[:, :2] - v[:, :2].min(axis=0)) / np.ptp(v[:, :2], axis=0)
    tex = np.zeros((32, 32, 3), dtype=np.uint8)
    tex[:, :16] = (255, 0, 0)  # u < 0.5: red (the face's −x side)
    tex[:, 16:] = (0, 0, 255)
    tex[:4] = (0, 255, 0)  # top rows of the image = v ≈ 1 = the top of the face (VRML origin bottom-left)
    mesh = Mesh(vertices=v, faces=face.faces, uv=uv)
    mesh.texture = tex
    img = render_views(mesh, yaws=(0,), size=SIZE, mode="texture")[0].astype(int)
    fg = img.max(axis=-1) > 0
    mid = slice(SIZE // 2 - 6, SIZE // 2 + 6)
    left = img[mid, 8 : SIZE // 2 - 3][fg[mid, 8 : SIZE // 2 - 3]]
    right = img[mid, SIZE // 2 + 3 : -8][fg[mid, SIZE // 2 + 3 : -8]]
    assert (left[:, 0] > 200).all() and (left[:, 2] < 50).all()
    assert (right[:, 2] > 200).all() and (right[:, 0] < 50).all()
    rows = np.flatnonzero(fg.any(axis=1))
    assert img[rows[0] + 1, SIZE // 2, 1] > 200  # top of the face shows the green band
    with pytest.raises(ValueError, match="texture"):
        render_views(face, size=SIZE, mode="texture")


def test_texture_lookup_interpolates_uv_with_open3d_barycentrics() -> None:
    """A ramp texture (red = u) must come back as a linear function of the pixel column in the frontal
    orthographic view; a wrong corner order of open3d's (u, v) barycentrics would scramble it (coarse
    triangles, several pixels wide, make that visible)."""
    face = face_like_mesh(300)
    v = face.vertices
    uv = (v[:, :2] - v[:, :2].min(axis=0)) / np.ptp(v[:, :2], axis=0)
    ramp = np.zeros((8, 256, 3), dtype=np.uint8)
    ramp[..., 0] = np.arange(256, dtype=np.uint8)[None, :]
    mesh = Mesh(vertices=v, faces=face.faces, uv=uv)
    mesh.texture = ramp
    img = render_views(mesh, yaws=(0,), size=SIZE, mode="texture")[0]
    row = img[SIZE // 2 + 8]
    cols = np.flatnonzero(row.max(axis=-1) > 0)[2:-2]
    red = row[cols, 0].astype(float)
    slope, intercept = np.polyfit(cols, red, 1)
    assert np.abs(red - (slope * cols + intercept)).max() <= 1.0
    assert slope > 0


def test_masks_align_with_labelled_vertices(face: Mesh) -> None:
    v = face.vertices
    labels = (v[:, 0] < 0).astype(np.int64) | ((v[:, 1] > 20).astype(np.int64) << 2)
    labelled = render_labelled(face, yaws=(-30, 0, 30), size=SIZE, labels=labels)
    images, masks = labelled.images, labelled.masks()
    assert np.array_equal(images, render_views(face, yaws=(-30, 0, 30), size=SIZE))
    assert masks.shape == (3, 3, SIZE, SIZE) and masks.dtype == bool
    fg = _fg(images)
    assert not (masks & ~fg[:, None]).any()  # regions only on the face
    assert not masks[:, 1].any()  # bit 1 is never set
    front = masks[1]
    cols = np.flatnonzero(front[0].any(axis=0))
    assert cols.max() <= SIZE // 2  # x < 0 is the image's left half in the front view
    left_face = fg[1][:, : SIZE // 2 - 1].sum()
    assert front[0].sum() > 0.9 * left_face
    rows = np.flatnonzero(front[2].any(axis=1))
    assert rows.max() < SIZE // 2  # y > 20 mm is above the centre
    packed = pack_masks(masks)
    assert packed.dtype == np.uint8 and packed.shape == (3, SIZE, SIZE)
    for k in range(3):
        assert np.array_equal((packed >> k) & 1, masks[:, k])
    label_map = labelled.label_map
    assert labelled.n_regions == 3 and label_map.dtype == np.int64 and np.array_equal(label_map, packed)
    # mesh.vertex_labels is the default source of labels.
    with_labels = Mesh(vertices=face.vertices, faces=face.faces, vertex_labels=labels)
    masks2 = render_labelled(with_labels, size=SIZE).masks()
    assert np.array_equal(masks, masks2)


def test_point_cloud_splats_cover_the_mesh_silhouette(face: Mesh) -> None:
    cloud = Mesh(vertices=face.vertices)
    mesh_fg = _fg(render_views(face, size=SIZE))
    images = render_views(cloud, size=SIZE)
    cloud_fg = _fg(images)
    iou = (mesh_fg & cloud_fg).sum() / (mesh_fg | cloud_fg).sum()
    assert iou > 0.85
    assert _corr(images[0], images[2][:, ::-1]) > 0.9
    labels = (face.vertices[:, 0] < 0).astype(np.int64)
    masks = render_labelled(cloud, yaws=(0,), size=SIZE, labels=labels).masks()
    assert np.flatnonzero(masks[0, 0].any(axis=0)).max() <= SIZE // 2 + 1


def test_landmarks_frame_the_face(face: Mesh) -> None:
    v = face.vertices
    inner = v[(np.abs(v[:, 0]) < 40) & (np.abs(v[:, 1]) < 50)]
    lm = np.array([inner.min(axis=0), inner.max(axis=0), [0, 0, inner[:, 2].max()]], dtype=np.float32)
    zoomed = Mesh(vertices=v, faces=face.faces, landmarks=lm)
    assert (
        _fg(render_views(zoomed, yaws=(0,), size=SIZE)).mean()
        > _fg(render_views(face, yaws=(0,), size=SIZE)).mean()
    )


def test_a_shared_framing_keeps_the_camera_fixed(face: Mesh) -> None:
    moved = Mesh(vertices=face.vertices + np.array([15.0, 0.0, 0.0], dtype=np.float32), faces=face.faces)
    own = render_views(moved, yaws=(0,), size=SIZE)
    # Framed on its own, a translated face is centred again: the same image.
    assert np.abs(own.astype(int) - render_views(face, yaws=(0,), size=SIZE).astype(int)).max() <= 1
    fixed = render_views(moved, yaws=(0,), size=SIZE, framing=frame_views(face, (0,)))
    cols = np.flatnonzero(_fg(fixed)[0].any(axis=0))
    ref = np.flatnonzero(_fg(own)[0].any(axis=0))
    assert (cols.mean() - ref.mean()) > 3  # with the original camera it sits to the right


def test_cached_scene_follows_the_mesh_content() -> None:
    clear_cache()
    mesh = face_like_mesh(1500)
    before = render_views(mesh, yaws=(0,), size=SIZE, mode="normals")
    mesh.vertices[:, 2] *= 0.3  # flatten in place: a content-checked cache must notice
    after = render_views(mesh, yaws=(0,), size=SIZE, mode="normals")
    assert np.abs(before.astype(int) - after.astype(int)).mean() > 2
    again = render_views(mesh, yaws=(0,), size=SIZE, mode="normals")
    assert np.array_equal(after, again)


def test_bad_arguments_name_the_parameter(face: Mesh) -> None:
    with pytest.raises(ValueError, match="mode="):
        render_views(face, mode="wireframe")
    with pytest.raises(ValueError, match="projection="):
        render_views(face, projection="fisheye")
    with pytest.raises(ValueError, match="labels"):
        render_labelled(face, size=SIZE)
    with pytest.raises(ValueError, match="labels: 2 values"):
        render_labelled(face, size=SIZE, labels=np.array([1, 2]))
    with pytest.raises(ValueError, match="size="):
        render_views(face, size=2)


def test_single_threaded_rendering_is_identical(face: Mesh) -> None:
    clear_cache()
    many = render_views(face, size=SIZE)
    set_num_threads(1)
    try:
        clear_cache()
        one = render_views(face, size=SIZE)
    finally:
        set_num_threads(0)
    np.testing.assert_array_equal(many, one)
    with pytest.raises(ValueError, match="n=-1"):
        set_num_threads(-1)


def test_render_benchmark_reports_both_timings() -> None:
    result = bench_render(vertices=2000, size=32, views=3, repeats=1)
    for key in ("bare_ms_per_view", "warm_ms_per_view", "cold_ms_per_view", "warm_ratio", "cold_ratio"):
        assert result[key] > 0
    assert result["warm_ratio"] == pytest.approx(result["warm_ms_per_view"] / result["bare_ms_per_view"])
    table = format_table(result)
    assert "bare cast_rays" in table and "warm" in table and "cold" in table
