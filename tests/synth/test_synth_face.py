"""The face model: mesh shape, units, orientation, landmarks, resolution control, determinism."""

import numpy as np
import pytest

from fervlm.synth import BOSPHORUS_LANDMARKS, ETHNICITIES, FaceModel, sample_subject
from fervlm.synth.face import grid_faces


@pytest.mark.parametrize("resolution", [2000, 5000, 35000])
def test_vertex_count_tracks_resolution(resolution):
    model = FaceModel.build(sample_subject(np.random.default_rng(0)), resolution)
    assert 0.85 * resolution < len(model.vertices) < 1.1 * resolution
    model.mesh().validate()
    # Every vertex is used by a triangle (what a .bnt reader rebuilds from the grid).
    assert np.unique(model.faces).size == len(model.vertices)


def test_face_is_millimetre_sized_looks_toward_plus_z():
    model = FaceModel.build(sample_subject(np.random.default_rng(1)), 3000)
    v = model.vertices
    extent = v.max(0) - v.min(0)
    assert 120 < extent[0] < 180 and 160 < extent[1] < 230 and 30 < extent[2] < 120
    assert np.abs(v[:, :2].mean(0)).max() < 5  # centred near the origin
    tip = v[model.landmarks_named["Nose tip"]]
    assert tip[2] > np.percentile(v[:, 2], 99)  # the nose tip is (nearly) the most forward point
    eye_l, eye_r = (
        v[model.landmarks_named["Outer left eye corner"]],
        v[model.landmarks_named["Outer right eye corner"]],
    )
    assert eye_l[0] > 0 > eye_r[0] and eye_l[1] > tip[1]  # subject's left at +x, eyes above the nose tip
    f = model.faces
    normals = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    assert (normals[:, 2] > 0).mean() > 0.95  # counter-clockwise seen from +z


def test_landmarks_cover_bnd_and_bosphorus():
    model = FaceModel.build(sample_subject(np.random.default_rng(2)), 3000)
    assert model.landmarks83.shape == (83,)
    assert list(model.landmarks_named) == list(BOSPHORUS_LANDMARKS) and len(BOSPHORUS_LANDMARKS) == 22
    assert model.landmarks83.max() < len(model.vertices)


def test_subjects_differ_and_are_reproducible():
    a = sample_subject(np.random.default_rng(3), "F0001")
    b = sample_subject(np.random.default_rng(3), "F0001")
    c = sample_subject(np.random.default_rng(4), "F0001")
    assert a.shape == b.shape and a.shape != c.shape
    assert a.sex in "FM" and a.ethnicity in ETHNICITIES and a.age_group in ("young", "middle", "older")


def test_grid_faces_skip_outside_cells():
    grid = np.array([[0, 1, -1], [2, 3, 4]])
    faces = grid_faces(grid)
    assert faces.tolist() == [[0, 2, 1], [1, 2, 3]]
