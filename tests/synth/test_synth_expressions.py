"""AU fields and emotions: regions, measurable differences between emotions, monotone intensity."""

import itertools

import numpy as np
import pytest

from fervlm.synth import (
    AU_NAMES,
    EMOTION_AUS,
    EMOTIONS,
    FaceRig,
    au_mask,
    decode_mask,
    region_mask,
    sample_subject,
    synthesize_expression,
)


@pytest.fixture(scope="module")
def rig():
    return FaceRig.build(sample_subject(np.random.default_rng(7)), 3000)


def _disp(rig, mesh):
    return np.linalg.norm(mesh.vertices - rig.model.vertices, axis=1)


def test_au_fields_are_local_and_several_mm(rig):
    peak = np.linalg.norm(rig.fields, axis=2).max(axis=1)
    assert (peak > 3.0).all(), dict(zip(AU_NAMES, peak.round(1), strict=True))
    for k, name in enumerate(AU_NAMES):
        inside = rig.windows[k] > 0.3
        assert 0 < inside.mean() < 0.35, name  # localised, not the whole face


def test_happiness_acts_in_the_lip_corner_region(rig):
    au12 = au_mask(region_mask(rig.windows), "AU12")
    happy = np.mean(
        [
            _disp(rig, synthesize_expression(rig, "happiness", 4, np.random.default_rng(i)))[au12].mean()
            for i in range(5)
        ]
    )
    sad = np.mean(
        [
            _disp(rig, synthesize_expression(rig, "sadness", 4, np.random.default_rng(i)))[au12].mean()
            for i in range(5)
        ]
    )
    assert happy > 2.0 and happy > 2.0 * sad


@pytest.mark.parametrize("emotion", EMOTIONS)
def test_intensity_increases_displacement(rig, emotion):
    # The same random stream for every level, so only the intensity scale differs.
    means = [
        _disp(rig, synthesize_expression(rig, emotion, i, np.random.default_rng(0))).mean() for i in range(5)
    ]
    assert means[0] < 1e-4  # float32 rounding only
    assert all(b > a for a, b in itertools.pairwise(means)), means
    assert _disp(rig, synthesize_expression(rig, emotion, 4, np.random.default_rng(0))).max() > 4.0


def test_vertex_labels_align_and_name_the_prototype(rig):
    for emotion in EMOTIONS:
        mesh = synthesize_expression(rig, emotion, 4, np.random.default_rng(1))
        assert mesh.vertex_labels.shape == (len(mesh.vertices),) and mesh.vertex_labels.dtype == np.int64
        active = decode_mask(mesh.vertex_labels)
        assert set(EMOTION_AUS[emotion]) <= set(active), (emotion, active)
    neutral = synthesize_expression(rig, "neutral", 0, np.random.default_rng(1))
    assert not neutral.vertex_labels.any()


def test_emotions_differ_from_each_other(rig):
    meshes = {e: synthesize_expression(rig, e, 4, np.random.default_rng(2)).vertices for e in EMOTIONS}
    for i, a in enumerate(EMOTIONS):
        for b in EMOTIONS[i + 1 :]:
            assert np.linalg.norm(meshes[a] - meshes[b], axis=1).max() > 3.0, (a, b)


def test_fear_and_surprise_are_the_closest_pair(rig):
    apex = {
        e: np.mean(
            [synthesize_expression(rig, e, 4, np.random.default_rng(s)).vertices for s in range(4)], axis=0
        )
        for e in EMOTIONS
    }
    dist = {
        (a, b): np.linalg.norm(apex[a] - apex[b], axis=1).mean()
        for i, a in enumerate(EMOTIONS)
        for b in EMOTIONS[i + 1 :]
    }
    fs = dist[("fear", "surprise")]
    others_with_surprise = [d for (a, b), d in dist.items() if "surprise" in (a, b) and "fear" not in (a, b)]
    assert fs < min(others_with_surprise)


def test_bad_arguments_are_named(rig):
    with pytest.raises(ValueError, match="intensity"):
        synthesize_expression(rig, "happiness", 5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="emotion"):
        synthesize_expression(rig, "joy", 2, np.random.default_rng(0))


def test_decode_mask_accepts_per_pixel_images() -> None:
    # Rendered AU masks are 2-D (H, W) bit images; the decoder must reduce over every axis.
    bits = np.zeros((4, 5), dtype=np.uint16)
    bits[1, 2] = 1 << AU_NAMES.index("AU12")
    bits[3, 4] = 1 << AU_NAMES.index("AU6")
    assert decode_mask(bits) == ["AU6", "AU12"]
    assert decode_mask(0) == []
