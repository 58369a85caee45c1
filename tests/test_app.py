"""The Streamlit app (fervlm/app.py) driven by Streamlit's own AppTest harness, and `fervlm app`."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from fervlm.cli import build_parser
from fervlm.commands.app import app_path, build_command
from fervlm.inference import example_mesh, load_predictor, views_from_mesh, zero_shot_predictor

APP = str(Path(__file__).resolve().parents[1] / "fervlm" / "app.py")


@pytest.fixture(scope="module")
def outputs(tiny_smile_run):
    """An outputs folder holding one 1-epoch SMILE-VLM fold (the checkpoint the picker should list)."""
    return tiny_smile_run[1]


@pytest.fixture(scope="module")
def happy_views():
    return views_from_mesh(example_mesh("happiness", seed=0), size=224)


def _app(monkeypatch, outputs_root: Path) -> AppTest:
    monkeypatch.setenv("FERVLM_OUTPUTS", str(outputs_root))
    return AppTest.from_file(APP, default_timeout=60)


def _png(value: int = 0, size: int = 16) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((size, size, 3), value, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _untrained_upload_page(monkeypatch, tmp_path, kind: str) -> AppTest:
    at = _app(monkeypatch, tmp_path / "no-outputs").run()
    at.radio(key="input_kind").set_value(kind).run()
    assert not at.exception and not at.error
    return at


def test_page_loads_with_the_synthetic_example_and_says_the_untrained_model_is_meaningless(
    monkeypatch, tmp_path, happy_views
):
    at = _app(monkeypatch, tmp_path / "no-outputs").run()
    assert not at.exception and not at.error
    assert at.selectbox(key="model").value.startswith("Untrained")
    assert any("meaningless" in w.value for w in at.warning)
    shown = at.session_state["prediction"]
    expected = zero_shot_predictor().predict(happy_views)
    assert at.subheader[0].value == f"Predicted emotion: {expected.label}"
    np.testing.assert_allclose(shown["probabilities"], expected.probabilities, atol=1e-6)
    assert len(at.get("vega_lite_chart")) == 1  # the probability bar chart
    assert len(at.image) >= 1


def test_checkpoint_from_the_picker_gives_the_same_answer_as_fervlm_inference(
    monkeypatch, outputs, happy_views
):
    at = _app(monkeypatch, outputs).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    label = at.selectbox(key="model").value
    # Every number says its protocol: the picker's accuracy and the sidebar name how the run was trained.
    assert label.startswith("SMILE-VLM · label prompts · toy · fold 0 · acc ")
    assert any("trained with: label prompts (training labels used)" in c.value for c in at.sidebar.caption)
    assert not any("meaningless" in w.value for w in at.warning)
    expected = load_predictor(outputs / "smile" / "fold-00").predict(happy_views)
    shown = at.session_state["prediction"]
    assert shown["label"] == expected.label and at.subheader[0].value.endswith(expected.label)
    np.testing.assert_allclose(shown["probabilities"], expected.probabilities, atol=1e-6)
    np.testing.assert_allclose(shown["view_weights"], expected.view_weights, atol=1e-6)
    assert [p[0] for p in shown["nearest_prompts"]] == [p.text for p in expected.nearest_prompts]
    assert len(at.dataframe) == 2  # view-fusion weights (SMILE-VLM) and nearest prompts


def test_typed_checkpoint_that_does_not_match_its_config_gives_an_error(monkeypatch, outputs, tmp_path):
    run = tmp_path / "tampered"
    shutil.copytree(outputs / "smile" / "fold-00", run)
    info = json.loads((run / "config.json").read_text())
    info["config"]["backbone"] = "fervlm-quick"
    (run / "config.json").write_text(json.dumps(info))
    at = _app(monkeypatch, tmp_path / "no-outputs").run()
    at.selectbox(key="model").set_value("Checkpoint path…").run()
    at.text_input(key="checkpoint_path").input(str(run)).run()
    assert not at.exception
    assert len(at.error) == 1 and "does not match" in at.error[0].value
    assert "prediction" not in at.session_state


@pytest.mark.parametrize(
    "files, message",
    [
        ([("left.png", _png(), "image/png"), ("front.png", _png(), "image/png")], "exactly 3 view images"),
        (
            [
                ("a.png", _png(), "image/png"),
                ("b.png", _png(), "image/png"),
                ("notes.png", b"hello", "image/png"),
            ],
            "notes.png: not an image file",
        ),
        (
            [
                ("a.png", _png(), "image/png"),
                ("b.png", _png(), "image/png"),
                ("huge.png", b"\0" * (20 * 2**20 + 1), "image/png"),
            ],
            "huge.png: 20.0 MiB exceeds the 20 MiB limit",
        ),
    ],
    ids=["wrong-count", "not-an-image", "too-large"],
)
def test_bad_view_images_give_an_error_and_the_app_keeps_running(monkeypatch, tmp_path, files, message):
    at = _untrained_upload_page(monkeypatch, tmp_path, "Three view images")
    at.file_uploader(key="view_images").set_value(files).run()
    assert not at.exception
    assert len(at.error) == 1 and message in at.error[0].value
    # Still running: three good images give an answer on the next run.
    good = [(f"{v}.png", _png(40 * i), "image/png") for i, v in enumerate(("left", "front", "right"))]
    at.file_uploader(key="view_images").set_value(good).run()
    assert not at.exception and not at.error and "prediction" in at.session_state


def test_mesh_that_fails_to_load_shows_the_reader_message(monkeypatch, tmp_path):
    at = _untrained_upload_page(monkeypatch, tmp_path, "Mesh file")
    at.file_uploader(key="mesh_file").set_value(("broken.obj", b"v 0 0\nf 1 2 7\n", "text/plain")).run()
    assert not at.exception
    assert len(at.error) == 1 and "broken.obj" in at.error[0].value
    at.file_uploader(key="mesh_file").set_value(("face.stl.txt", b"solid", "text/plain")).run()
    assert "unsupported extension" in at.error[0].value


def test_sequence_folder_typed_in_that_does_not_exist_gives_an_error(monkeypatch, tmp_path):
    at = _untrained_upload_page(monkeypatch, tmp_path, "4D sequence")
    at.text_input(key="sequence_path").input(str(tmp_path / "nowhere")).run()
    assert not at.exception
    assert len(at.error) == 1 and "sequence folder not found" in at.error[0].value


def test_fervlm_app_command_line():
    args = build_parser().parse_args(["app", "--port", "8600", "--headless", "--outputs", "runs"])
    command = build_command(args)
    assert (
        command[1:4] == ["-m", "streamlit", "run"] and Path(command[4]) == app_path() and app_path().is_file()
    )
    assert command[command.index("--server.port") + 1] == "8600"
    assert command[command.index("--server.headless") + 1] == "true"
    with pytest.raises(ValueError, match="--port 0"):
        build_command(build_parser().parse_args(["app", "--port", "0"]))


# ---------------------------------------------------------------------------------------------
# The page as a user meets it (issue: picker, timing, input kinds, single-view and micro models)


def _copy_run(source: Path, target: Path, accuracy: float, dataset: str, prompt_source: str) -> None:
    shutil.copytree(source, target)
    metrics = json.loads((target / "metrics.json").read_text())
    metrics.update(accuracy=accuracy, dataset=dataset)
    (target / "metrics.json").write_text(json.dumps(metrics))
    info = json.loads((target / "config.json").read_text())
    info["config"]["prompt_source"] = prompt_source
    (target / "config.json").write_text(json.dumps(info))


def test_picker_labels_say_what_each_run_is_best_first_and_default_to_the_best(
    monkeypatch, tiny_smile_run, tmp_path
):
    fold = tiny_smile_run[2]
    root = tmp_path / "outputs"
    _copy_run(fold, root / "a_first_alphabetically" / "fold-00", 0.29, "synthetic_bu3dfe", "label")
    _copy_run(fold, root / "b" / "fold-00", 0.81, "synthetic_bu3dfe", "pseudo")
    _copy_run(fold, root / "c" / "fold-00", 0.5, "synthetic_bu4dfe", "label")
    _copy_run(fold, root / "d" / "fold-00", 0.5, "synthetic_bu4dfe", "label")  # same label as c
    at = _app(monkeypatch, root).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    picker = at.selectbox(key="model")
    assert picker.options[:4] == [
        "SMILE-VLM · label-free · synthetic_bu3dfe · fold 0 · acc 0.810",
        "SMILE-VLM · label prompts · synthetic_bu4dfe · fold 0 · acc 0.500 · c/fold-00",
        "SMILE-VLM · label prompts · synthetic_bu4dfe · fold 0 · acc 0.500 · d/fold-00",
        "SMILE-VLM · label prompts · synthetic_bu3dfe · fold 0 · acc 0.290",
    ]
    assert picker.value == picker.options[0]  # the best run, not the first folder
    assert any("b/fold-00" in c.value for c in at.sidebar.caption)


def test_answer_time_counts_what_the_user_waits_for_including_the_model_load(monkeypatch, tmp_path):
    import streamlit as st

    st.cache_resource.clear()  # a cold start: the model is built in this run
    at = _app(monkeypatch, tmp_path / "no-outputs").run()
    assert not at.exception and not at.error
    timings = at.session_state["timings"]
    assert timings["model"] > 0.05  # building the model is part of the wait the page reports
    parts = sum(v for k, v in timings.items() if k != "total")
    assert parts <= timings["total"] + 1e-6 and parts > 0.9 * timings["total"]
    caption = next(c.value for c in at.caption if "answered in" in c.value)
    assert f"answered in {timings['total']:.2f} s" in caption and "loading the model" in caption


def test_input_kinds_have_distinct_labels_and_switching_keeps_the_example(monkeypatch, tmp_path):
    at = _app(monkeypatch, tmp_path / "no-outputs").run()
    assert not set(at.radio(key="input_kind").options) & set(at.radio(key="example_kind").options)
    at.selectbox(key="example_emotion").set_value("fear").run()
    at.number_input(key="example_seed").set_value(3).run()
    at.radio(key="example_kind").set_value("4D onset").run()
    at.radio(key="input_kind").set_value("Mesh file").run()
    at.radio(key="input_kind").set_value("Synthetic example").run()
    assert not at.exception and not at.error
    assert at.selectbox(key="example_emotion").value == "fear"
    assert at.number_input(key="example_seed").value == 3
    assert at.radio(key="example_kind").value == "4D onset"
    assert at.session_state["prediction"]["label"] in at.session_state["prediction"]["classes"]


@pytest.fixture(scope="module")
def micro_front_run(tmp_path_factory):
    """A 1-epoch single-view (front) SMILE-VLM fold on 4DME's five micro-expression classes."""
    from fervlm.benchmarks.toy import make_toy_table
    from fervlm.synth import MICRO_CLASSES
    from fervlm.train import fit_fold

    root = tmp_path_factory.mktemp("micro_front")
    index = make_toy_table(root / "toy", n_subjects=4, classes=MICRO_CLASSES, yaws=(0,), size=16)
    config = dict(
        method="smilevlm",
        backbone="fervlm-tiny",
        epochs=1,
        batch_size=8,
        folds=2,
        num_workers=0,
        accelerator="cpu",
        views=["front"],
    )  # conftest's TINY_SMILE on one view
    fit_fold(config, index, 0, root / "outputs" / "micro" / "front")
    return root / "outputs"


def test_single_view_micro_model_gets_its_own_classes_one_normal_sized_view_and_no_fusion_weight(
    monkeypatch, micro_front_run
):
    from fervlm.synth import MICRO_CLASSES

    at = _app(monkeypatch, micro_front_run).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert set(at.selectbox(key="example_emotion").options) == set(MICRO_CLASSES)
    assert "micro-expression onset" in next(c.value for c in at.caption if "answered in" in c.value)
    assert len(at.image) == 2  # the front view and its Grad-CAM
    view_row = [c for c in at.columns if len(c.get("imgs")) or len(c.get("image"))]
    assert len(view_row) == 1 and len(at.columns) >= 6  # 3 example controls + 3 view columns, 1 used
    assert not any("View-fusion" in m.value for m in at.markdown)
    assert len(at.dataframe) == 1  # only the nearest prompts


def test_a_dropped_oversize_image_is_explained_and_the_uploader_lets_it_through(monkeypatch, tmp_path):
    at = _untrained_upload_page(monkeypatch, tmp_path, "Three view images")
    assert at.file_uploader(key="view_images").proto.max_upload_size_mb == 200  # our 20 MiB check names it
    two = [("a.png", _png(), "image/png"), ("b.png", _png(), "image/png")]
    at.file_uploader(key="view_images").set_value(two).run()
    message = at.error[0].value
    assert "got 2 (a.png, b.png)" in message and "not received" in message


def test_empty_mesh_upload_says_empty_and_names_the_upload_not_a_temp_path(monkeypatch, tmp_path):
    at = _untrained_upload_page(monkeypatch, tmp_path, "Mesh file")
    at.file_uploader(key="mesh_file").set_value(("face.obj", b"", "text/plain")).run()
    assert not at.exception
    assert len(at.error) == 1 and "face.obj: the file is empty" in at.error[0].value
    at.file_uploader(key="mesh_file").set_value(("broken.obj", b"v 0 0\nf 1 2 7\n", "text/plain")).run()
    assert "broken.obj" in at.error[0].value and "fervlm-app-" not in at.error[0].value


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_bindable(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.mark.slow
def test_sigterm_to_fervlm_app_takes_the_server_down_and_frees_the_port(tmp_path):
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(APP).parents[1])}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fervlm.cli",
            "app",
            "--port",
            str(port),
            "--headless",
            "--address",
            "127.0.0.1",
            "--outputs",
            str(tmp_path),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, "fervlm app exited before serving"
            time.sleep(0.5)
        else:
            pytest.fail(f"fervlm app did not serve on port {port} within 90 s")
        proc.send_signal(signal.SIGTERM)  # to `fervlm app` only, as a service manager would
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while not _port_bindable(port) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _port_bindable(port), f"port {port} still held after SIGTERM to fervlm app"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of its session (a child, on failure)


def test_fervlm_app_hides_the_deploy_button():
    command = build_command(build_parser().parse_args(["app"]))
    assert command[command.index("--client.toolbarMode") + 1] == "minimal"


def test_stopwatch_names_the_stages_and_says_what_made_a_cold_answer_slow():
    from fervlm.app import Stopwatch

    clock = Stopwatch(start=0.0)
    clock.parts = {"libraries": 9.3, "model": 4.0, "input": 0.01, "prediction": 1.5}
    text = clock.summary(15.0)
    assert text.startswith("answered in 15.00 s (loading libraries 9.3 s · loading the model 4.0 s · ")
    assert "preparing the views" not in text  # under 0.05 s
    assert "imports torch" in text and "a model is built the first time it is picked" in text
    clock.parts = {"libraries": 0.01, "model": 0.0, "prediction": 1.5}
    assert clock.summary(1.6) == "answered in 1.60 s (prediction + Grad-CAM 1.5 s)"
