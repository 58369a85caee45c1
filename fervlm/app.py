"""The Streamlit app for interactive inference (AffectVLM paper §III-F): views in, emotion out.

Start it with ``fervlm app`` (or ``make app``, or ``streamlit run fervlm/app.py``). The page

* loads a model: a trained checkpoint found under the outputs folder (``$FERVLM_OUTPUTS``, default
  ``outputs``), a checkpoint path typed in, or, when there is none, an untrained zero-shot model on the
  tiny backbone so the page always works offline (its predictions are meaningless, and the page says so);
* takes one sample: three view images (left, front, right), one mesh file rendered into the views on
  the fly, a 4D sequence (several mesh files) turned into dynamic images, or a synthetic face;
* shows the predicted emotion, the class probabilities, every view with its Grad-CAM heatmap, the
  SMILE-VLM view-fusion weights and the prompts nearest to the fused embedding.

All computation is in `fervlm.inference`; this script only lays it out. Bad input (wrong number of
images, unreadable or non-image files, files over the size limits, a mesh that fails to load, a
checkpoint that does not match its config) gives an ``st.error`` with the reason and the page keeps
running. The last prediction is kept in ``st.session_state["prediction"]`` (plain values, see
`fervlm.inference.Prediction.as_dict`) for scripts and tests.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from fervlm.inference import (
    MAX_IMAGE_BYTES,
    MAX_MESH_BYTES,
    VIEW_NAMES,
    Predictor,
    example_mesh,
    example_sequence,
    find_runs,
    load_predictor,
    save_uploads,
    views_from_images,
    views_from_mesh,
    views_from_sequence,
    zero_shot_predictor,
)
from fervlm.protocols import protocol_name

#: Side length of the views shown and fed to the model (resized to the model's input size there).
VIEW_SIZE = 224
UNTRAINED = "Untrained zero-shot model (tiny backbone, random weights)"
TYPED_PATH = "Checkpoint path…"
INPUT_KINDS = ("Synthetic example", "Three view images", "Mesh file", "4D sequence")
#: Errors that mean "this input / this checkpoint cannot be used": shown on the page, never a traceback.
USER_ERRORS = (ValueError, OSError, RuntimeError)


def outputs_root() -> Path:
    """Where trained runs are looked for: ``$FERVLM_OUTPUTS`` (``fervlm app --outputs``), else ``outputs``."""
    return Path(os.environ.get("FERVLM_OUTPUTS", "outputs"))


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def cached_predictor(kind: str, value: str) -> Predictor:
    """The model, built once per (kind, value) and shared by every session of the server."""
    if kind == "untrained":
        return zero_shot_predictor(backbone=value)
    return load_predictor(value)


@st.cache_data(show_spinner="Rendering the synthetic face…", max_entries=32)
def cached_example_views(emotion: str, seed: int, four_d: bool, yaws: tuple[float, ...]) -> np.ndarray:
    """Views of a synthetic face (3D) or dynamic images of a synthetic onset sequence (4D)."""
    if four_d:
        return views_from_sequence(example_sequence(emotion, seed=seed), yaws=yaws, size=VIEW_SIZE)
    return views_from_mesh(example_mesh(emotion, seed=seed), yaws=yaws, size=VIEW_SIZE)


# ---------------------------------------------------------------------------------------------
# Model


def choose_model() -> Predictor:
    """Sidebar: pick a model and load it (cached); stops the page with an error when it cannot be loaded."""
    st.sidebar.header("Model")
    root = outputs_root()
    runs = find_runs(root)
    labels = {run.label(root): str(run.run_dir) for run in runs}
    options = [*labels, TYPED_PATH, UNTRAINED]
    if not runs:
        st.sidebar.info(f"No trained checkpoint under `{root}/`. Train one (`fervlm cv …`) or type a path.")
    choice = st.sidebar.selectbox("Checkpoint", options, index=0 if runs else len(options) - 1, key="model")
    try:
        if choice == UNTRAINED:
            backbone = st.sidebar.selectbox(
                "Backbone", ["fervlm-tiny", "fervlm-quick"], key="untrained_backbone"
            )
            predictor = cached_predictor("untrained", backbone)
        elif choice == TYPED_PATH:
            path = st.sidebar.text_input("Fold folder or last.ckpt", key="checkpoint_path").strip()
            if not path:
                st.info("Type the path of a trained fold folder (holding config.json and last.ckpt).")
                st.stop()
            predictor = cached_predictor("checkpoint", path)
        else:
            predictor = cached_predictor("checkpoint", labels[choice])
    except USER_ERRORS as err:
        st.error(f"Cannot load the model: {err}")
        st.stop()
    protocol = "untrained"
    if predictor.trained:
        protocol = protocol_name(predictor.config.prompt_source, predictor.method_name)
    st.sidebar.caption(
        f"{predictor.method_name} · {predictor.backbone_name} · views {', '.join(predictor.view_names)} · "
        f"input {predictor.image_size}px\n\nclasses: {', '.join(predictor.classes)}\n\n"
        f"trained with: {protocol}"
    )
    if not predictor.trained:
        st.warning(
            "**Untrained model.** This is a zero-shot model with *random weights*: its predictions are "
            "meaningless and only show that the page works. Train a method (e.g. `fervlm cv --method "
            "affectvlm …`) and pick its checkpoint in the sidebar for real predictions."
        )
    return predictor


# ---------------------------------------------------------------------------------------------
# Input


def _require(files: Any, message: str) -> None:
    if not files:
        st.info(message)
        st.stop()


def read_input(predictor: Predictor) -> tuple[np.ndarray, str]:
    """The sample's views, uint8 (V, H, W, 3), and a caption; raises `USER_ERRORS` on bad input."""
    yaws = tuple(predictor.yaws)
    kind = st.radio("Input", INPUT_KINDS, horizontal=True, key="input_kind")
    if kind == "Synthetic example":
        from fervlm.synth import EMOTIONS

        left, middle, right = st.columns(3)
        emotion = left.selectbox(
            "Emotion", EMOTIONS, index=EMOTIONS.index("happiness"), key="example_emotion"
        )
        seed = int(middle.number_input("Subject seed", min_value=0, value=0, step=1, key="example_seed"))
        four_d = (
            right.radio("Kind", ["3D scan", "4D sequence"], horizontal=True, key="example_kind")
            == "4D sequence"
        )
        views = cached_example_views(emotion, seed, four_d, yaws)
        return views, f"synthetic {'4D onset' if four_d else '3D face'}: {emotion}, subject seed {seed}"
    if kind == "Three view images":
        files = st.file_uploader(
            "Three view images: left, front, right (in this order, or named *_left / *_front / *_right)",
            accept_multiple_files=True,
            key="view_images",
            max_upload_size=MAX_IMAGE_BYTES // 2**20,
        )
        _require(files, "Upload three view images of one face.")
        return views_from_images(files, size=VIEW_SIZE), f"{len(files)} uploaded images"
    if kind == "Mesh file":
        upload = st.file_uploader(
            "One mesh file (.wrl, .obj, .ply, .bnt, …)",
            key="mesh_file",
            max_upload_size=MAX_MESH_BYTES // 2**20,
        )
        typed = st.text_input("…or its path on this machine", key="mesh_path").strip()
        _require(upload or typed, "Upload a mesh file or type its path.")
        if upload is not None:
            with tempfile.TemporaryDirectory(prefix="fervlm-app-") as tmp:
                (path,) = save_uploads([upload], tmp)
                return views_from_mesh(path, yaws=yaws, size=VIEW_SIZE), f"mesh {upload.name}"
        return views_from_mesh(typed, yaws=yaws, size=VIEW_SIZE), f"mesh {typed}"
    uploads = st.file_uploader(
        "The frames of one 4D sequence (mesh files, numbered in temporal order)",
        accept_multiple_files=True,
        key="sequence_files",
        max_upload_size=MAX_MESH_BYTES // 2**20,
    )
    folder = st.text_input("…or a sequence folder on this machine", key="sequence_path").strip()
    _require(uploads or folder, "Upload the frames of a 4D sequence or type its folder.")
    if uploads:
        with tempfile.TemporaryDirectory(prefix="fervlm-app-") as tmp:
            paths = save_uploads(uploads, tmp)
            return views_from_sequence(
                paths, yaws=yaws, size=VIEW_SIZE
            ), f"4D sequence of {len(paths)} frames"
    return views_from_sequence(folder, yaws=yaws, size=VIEW_SIZE), f"4D sequence {folder}"


# ---------------------------------------------------------------------------------------------
# Output


def show_result(predictor: Predictor, views: np.ndarray, caption: str, t_start: float) -> None:
    """Predict, explain and lay out the answer."""
    from fervlm.explain import overlay

    prediction = predictor.predict(views)
    show_cams = st.checkbox("Grad-CAM heatmaps", value=True, key="gradcam")
    cams = predictor.gradcam(views, target_class=prediction.class_index) if show_cams else None
    elapsed = time.perf_counter() - t_start
    st.session_state["prediction"] = prediction.as_dict()

    probability = float(prediction.probabilities[prediction.class_index])
    st.subheader(f"Predicted emotion: {prediction.label}")
    st.caption(f"{caption} · p = {probability:.3f} · answered in {elapsed:.2f} s")
    st.bar_chart(
        pd.DataFrame(
            {"probability": prediction.probabilities}, index=pd.Index(prediction.classes, name="class")
        ),
        y="probability",
        sort=False,
    )

    shown = predictor.select_views(views)
    columns = st.columns(len(shown))
    for j, column in enumerate(columns):
        name = prediction.view_names[j]
        column.image(shown[j], caption=f"{name} view", width="stretch")
        if cams is not None:
            column.image(overlay(shown[j], cams[j]), caption=f"Grad-CAM: {prediction.label}", width="stretch")

    if prediction.view_weights is not None:
        st.markdown("**View-fusion weights** (SMILE-VLM view-aware attention)")
        st.dataframe(
            pd.DataFrame({"view": prediction.view_names, "weight": prediction.view_weights}), hide_index=True
        )
    st.markdown("**Nearest prompts** (cosine similarity to the fused embedding)")
    st.dataframe(
        pd.DataFrame(
            [(p.text, p.label, p.cosine) for p in prediction.nearest_prompts],
            columns=["prompt", "class", "cosine"],
        ),
        hide_index=True,
    )


def main() -> None:
    st.set_page_config(page_title="fervlm — facial expression recognition", layout="wide")
    st.title("fervlm: facial expressions from 3D/4D faces")
    st.caption(
        f"Three views ({', '.join(VIEW_NAMES)}), one mesh, or a 4D sequence in; emotion probabilities and "
        "Grad-CAM heatmaps out."
    )
    st.session_state.pop("prediction", None)  # only an answer to this run's input may stay
    predictor = choose_model()
    t_start = time.perf_counter()
    try:
        views, caption = read_input(predictor)
        show_result(predictor, views, caption, t_start)
    except USER_ERRORS as err:
        st.error(str(err))


if __name__ == "__main__":  # `streamlit run` executes the file as __main__; importing it draws nothing
    main()
