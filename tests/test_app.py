"""The Streamlit app (fervlm/app.py) driven by Streamlit's own AppTest harness, and `fervlm app`."""

from __future__ import annotations

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
    assert "smilevlm" in at.selectbox(key="model").value
    # Every number says its protocol: the picker's accuracy and the sidebar name how the run was trained.
    assert "label prompts (training labels used)" in at.selectbox(key="model").value
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
