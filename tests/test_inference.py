"""fervlm.inference: checkpoint round trip, prediction formulas, Grad-CAM, input converters, errors."""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from fervlm.dynamic import dynamic_views
from fervlm.explain import gradcam_views
from fervlm.inference import (
    CheckpointMismatchError,
    InputError,
    RunInfo,
    best_first,
    example_inputs,
    example_mesh,
    example_micro_sequence,
    example_sequence,
    find_runs,
    load_predictor,
    save_uploads,
    views_from_images,
    views_from_mesh,
    views_from_sequence,
    zero_shot_predictor,
)
from fervlm.io import MeshFormatError, load_mesh, write_obj
from fervlm.render import render_views


@pytest.fixture(scope="module")
def trained(tiny_smile_run):
    """A 1-epoch SMILE-VLM fold on a toy table: (index path, outputs root, fold folder)."""
    return tiny_smile_run


@pytest.fixture(scope="module")
def predictor(trained):
    return load_predictor(trained[2])


@pytest.fixture(scope="module")
def zero_shot():
    return zero_shot_predictor(seed=0)


@pytest.fixture(scope="module")
def face_views():
    return views_from_mesh(example_mesh("happiness", seed=3), size=96)


def _toy_views(index, row) -> np.ndarray:
    table = pd.read_csv(index)
    return np.stack(
        [
            np.asarray(Image.open(index.parent / table.at[row, f"view_{y}"]).convert("RGB"))
            for y in (-30, 0, 30)
        ]
    )


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# Checkpoints


def test_loaded_checkpoint_reproduces_the_runs_test_predictions(trained, predictor):
    index, _, run = trained
    saved = pd.read_csv(run / "predictions.csv")
    assert predictor.classes == json.loads((run / "metrics.json").read_text())["classes"]
    assert predictor.trained and predictor.method_name == "smilevlm"
    for _, row in saved.head(4).iterrows():
        out = predictor.predict(_toy_views(index, int(row["index"])))
        expected = row[[f"score_{c}" for c in predictor.classes]].to_numpy(dtype=float)
        np.testing.assert_allclose(out.scores, expected, atol=1e-5)
        assert out.class_index == int(row["pred"])


def test_probabilities_fusion_weights_and_nearest_prompts_follow_their_formulas(predictor, face_views):
    out = predictor.predict(face_views, top_k=4)
    scale = predictor.method.logit_scale().item()
    reference = torch.softmax(scale * torch.as_tensor(out.scores, dtype=torch.float64), 0).numpy()
    np.testing.assert_allclose(out.probabilities, reference, rtol=1e-4, atol=1e-6)
    assert out.label == predictor.classes[int(np.argmax(out.scores))]
    assert np.isclose(np.linalg.norm(out.embedding), 1.0, atol=1e-5)
    # SMILE-VLM eq. (5): softmax attention over the views, fused embedding = normalised weighted sum (eq. 7).
    x = predictor.preprocess(face_views)[None]
    with torch.no_grad():
        z = predictor.method.embed_views(x)
    assert out.view_weights.shape == (3,) and np.isclose(out.view_weights.sum(), 1.0)
    fused = torch.nn.functional.normalize(
        torch.einsum("v,vd->d", torch.as_tensor(out.view_weights), z[:, 0]), dim=0
    )
    np.testing.assert_allclose(fused.numpy(), out.embedding, atol=1e-5)
    cosines = [p.cosine for p in out.nearest_prompts]
    assert len(cosines) == 4 and cosines == sorted(cosines, reverse=True)
    best = (predictor.prompt_embeddings @ torch.as_tensor(out.embedding)).max()
    assert cosines[0] == pytest.approx(float(best), abs=1e-6)
    assert out.nearest_prompts[0].label in predictor.classes


def test_checkpoint_that_does_not_match_its_config_is_refused(trained, tmp_path):
    run = trained[2]
    for key, value, message in [
        ("backbone", "fervlm-quick", "does not match"),
        ("method", "affectvlm", "method="),
    ]:
        copy = tmp_path / key
        shutil.copytree(run, copy)
        info = json.loads((copy / "config.json").read_text())
        info["config"][key] = value
        (copy / "config.json").write_text(json.dumps(info))
        with pytest.raises(CheckpointMismatchError, match=message):
            load_predictor(copy / "last.ckpt")
    (tmp_path / "backbone" / "last.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot be read"):
        load_predictor(tmp_path / "backbone")
    with pytest.raises(FileNotFoundError, match=r"no last.ckpt"):
        load_predictor(tmp_path)
    (tmp_path / "method" / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"config.json"):
        load_predictor(tmp_path / "method")


def test_find_runs_lists_checkpoints_with_method_and_accuracy(trained, tmp_path):
    _, outputs, run = trained
    runs = find_runs(outputs)
    assert [r.run_dir for r in runs] == [run]
    metrics = json.loads((run / "metrics.json").read_text())
    assert runs[0].method == "smilevlm" and runs[0].backbone == "fervlm-tiny" and runs[0].fold == 0
    assert runs[0].accuracy == pytest.approx(metrics["accuracy"])
    assert runs[0].dataset == metrics["dataset"] and runs[0].prompt_source == "label"
    assert runs[0].label(outputs) == (
        f"SMILE-VLM · label prompts · {metrics['dataset']} · fold 0 · acc {metrics['accuracy']:.3f}"
    )
    assert find_runs(tmp_path / "missing") == []


def test_best_first_orders_by_accuracy_with_unfinished_runs_last(tmp_path):
    def run(name, accuracy):
        return RunInfo(tmp_path / name / "last.ckpt", tmp_path / name, "affectvlm", "b", 0, accuracy)

    runs = [run("a", 0.29), run("b", None), run("c", 0.81), run("d", 0.5)]
    assert [r.run_dir.name for r in best_first(runs)] == ["c", "d", "a", "b"]
    assert run("b", None).label() == "AffectVLM · ? · fold 0 · unfinished"


# ---------------------------------------------------------------------------------------------
# Zero-shot model and Grad-CAM


def test_zero_shot_predictor_is_seeded_and_leaves_the_global_rng_alone(zero_shot, face_views):
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    again = zero_shot_predictor(seed=0)
    assert torch.equal(torch.rand(1), expected_next)
    assert not again.trained and "random weights" in again.source
    np.testing.assert_array_equal(
        again.predict(face_views).probabilities, zero_shot.predict(face_views).probabilities
    )


def test_gradcam_explains_the_mean_fused_embedding_like_gradcam_views(zero_shot, face_views):
    zs = zero_shot
    flags = [p.requires_grad for p in zs.method.parameters()]
    cams = zs.gradcam(face_views, target_class=2)
    assert cams.shape == (3, 96, 96) and cams.dtype == np.float32
    assert cams.min() >= 0.0 and cams.max() <= 1.0 and cams.max() > 0.5
    assert [p.requires_grad for p in zs.method.parameters()] == flags
    # Without a projector the method's per-view embedding is the tower's: same maps as gradcam_views.
    reference, _ = gradcam_views(
        zs.method.backbone, zs.preprocess(face_views), zs.method.prototypes, target_class=2
    )
    up = torch.nn.functional.interpolate(torch.from_numpy(reference)[:, None], size=(96, 96), mode="bilinear")
    np.testing.assert_allclose(cams, up[:, 0].clamp(0, 1).numpy(), atol=1e-5)


def test_gradcam_of_a_projector_method_defaults_to_the_predicted_class(predictor, face_views):
    target = predictor.predict(face_views).class_index
    np.testing.assert_allclose(
        predictor.gradcam(face_views), predictor.gradcam(face_views, target), atol=1e-6
    )


def test_predict_checks_the_views(predictor, face_views):
    with pytest.raises(InputError, match="uint8"):
        predictor.predict(face_views.astype(np.float32))
    with pytest.raises(InputError, match="3 view"):
        predictor.predict(face_views[:2])


# ---------------------------------------------------------------------------------------------
# Inputs


def test_views_from_images_decodes_orders_by_name_and_resizes():
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (40, 40, 3), dtype=np.uint8) for _ in range(3)]
    views = views_from_images(
        [("b_right.png", _png(images[2])), ("a_left.png", _png(images[0])), ("c_front.png", _png(images[1]))],
        size=40,
    )
    np.testing.assert_array_equal(views, np.stack(images))  # PNG is lossless; names set the order
    unnamed = views_from_images([_png(im) for im in images], size=20)
    assert unnamed.shape == (3, 20, 20, 3) and unnamed.dtype == np.uint8


def test_views_from_images_errors(tmp_path):
    good = _png(np.zeros((8, 8, 3), dtype=np.uint8))
    noisy = _png(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    with pytest.raises(InputError, match=r"exactly 3 view images.*got 2"):
        views_from_images([good, good])
    with pytest.raises(InputError, match=r"notes.png: not an image"):
        views_from_images([("notes.png", b"hello, world"), good, good])
    with pytest.raises(InputError, match="empty"):
        views_from_images([("e.png", b""), good, good])
    with pytest.raises(InputError, match=r"cut.png: cannot be decoded"):
        views_from_images([("cut.png", noisy[: len(noisy) // 2]), good, good])
    with pytest.raises(InputError, match=r"big.png: .* exceeds the"):
        views_from_images([("big.png", good), good, good], max_bytes=len(good) - 1)
    with pytest.raises(InputError, match="megapixels"):
        views_from_images([good, good, good], max_pixels=10)
    with pytest.raises(InputError, match="no such file"):
        views_from_images([tmp_path / "missing.png", good, good])


def test_views_from_mesh_renders_files_and_reports_bad_meshes(tmp_path):
    mesh = example_mesh("surprise", seed=1)
    path = tmp_path / "face.obj"
    write_obj(path, mesh)
    views = views_from_mesh(path, size=48)
    assert views.shape == (3, 48, 48, 3) and views.dtype == np.uint8
    np.testing.assert_array_equal(views, render_views(load_mesh(path), size=48))
    bad = tmp_path / "bad.obj"
    bad.write_text("v 0 0\nf 1 2 9\n")
    with pytest.raises(MeshFormatError, match=r"bad.obj"):
        views_from_mesh(bad)
    with pytest.raises(InputError, match="unsupported extension"):
        views_from_mesh(tmp_path / "face.txt")
    with pytest.raises(InputError, match="exceeds"):
        views_from_mesh(path, max_bytes=10)


def test_views_from_sequence_orders_frames_and_rank_pools(tmp_path):
    frames = example_sequence("happiness", seed=0, frames=3)
    folder = tmp_path / "seq"
    folder.mkdir()
    for t, frame in enumerate(frames):  # numeric order 2 < 10 < 11, unlike the names' lexical order
        write_obj(folder / f"frame_{[2, 10, 11][t]}.obj", frame)
    expected = dynamic_views([folder / f"frame_{n}.obj" for n in (2, 10, 11)], size=32)
    np.testing.assert_array_equal(views_from_sequence(folder, size=32), expected)
    shuffled = [folder / "frame_11.obj", folder / "frame_2.obj", folder / "frame_10.obj"]
    np.testing.assert_array_equal(
        views_from_sequence(shuffled, size=32), views_from_sequence(folder, size=32)
    )
    with pytest.raises(InputError, match="at least 2"):
        views_from_sequence(frames[:1])
    with pytest.raises(InputError, match="limit of 2"):
        views_from_sequence(frames, max_frames=2)
    with pytest.raises(InputError, match="not found"):
        views_from_sequence(tmp_path / "nowhere")


def test_save_uploads_keeps_base_names_and_checks_extensions(tmp_path):
    paths = save_uploads([("../../evil/face.OBJ", b"v 0 0 0\n")], tmp_path / "up")
    assert paths == [tmp_path / "up" / "face.OBJ"] and paths[0].read_bytes() == b"v 0 0 0\n"
    with pytest.raises(InputError, match="unsupported extension"):
        save_uploads([("x.exe", b"")], tmp_path / "up")
    with pytest.raises(InputError, match="uploaded twice"):
        save_uploads([("a.obj", b"v 0 0 0\n"), ("a.obj", b"v 0 0 0\n")], tmp_path / "up2")
    with pytest.raises(InputError, match=r"mesh face.obj: the file is empty"):
        save_uploads([("face.obj", b"")], tmp_path / "up3")


def test_example_micro_sequence_is_a_low_intensity_onset_of_the_class_aus():
    frames = example_micro_sequence("surprise", seed=0, frames=4, resolution=2000)
    assert len(frames) == 4
    moved = [np.abs(f.vertices - frames[0].vertices).max() for f in frames]
    assert moved[0] == 0 and moved == sorted(moved) and moved[-1] > 0  # neutral → apex, monotonic
    with pytest.raises(ValueError, match="micro-expression class"):
        example_micro_sequence("happiness")


def test_example_inputs_are_deterministic_and_show_their_emotion():
    a, b = example_inputs(seed=5), example_inputs(seed=5)
    assert list(a) == ["anger", "disgust", "fear", "happiness", "sadness", "surprise"]
    np.testing.assert_array_equal(a["fear"].vertices, b["fear"].vertices)
    assert not np.allclose(a["fear"].vertices, a["happiness"].vertices)
    sequence = example_sequence("anger", seed=5, frames=4)
    neutral = example_sequence("happiness", seed=5, frames=4)[0]
    np.testing.assert_allclose(sequence[0].vertices, neutral.vertices)  # every onset starts neutral
    assert np.abs(sequence[-1].vertices - sequence[0].vertices).max() > 0.5  # and reaches the apex (mm)
