"""The Streamlit app for interactive inference (AffectVLM paper §III-F): views in, emotion out.

Start it with ``fervlm app`` (or ``make app``, or ``streamlit run fervlm/app.py``). The page

* loads a model: a trained checkpoint found under the outputs folder (``$FERVLM_OUTPUTS``, default
  ``outputs``) or a fitted ``pixels`` baseline there (no Grad-CAM: the page says why), a checkpoint path
  typed in, or, when there is none, an untrained zero-shot model on the
  tiny backbone so the page always works offline (its predictions are meaningless, and the page says so);
* takes one sample: three view images (left, front, right), one mesh file rendered into the views on
  the fly, a 4D sequence (several mesh files) turned into dynamic images, or a synthetic face;
* shows the predicted emotion, the class probabilities, every view with its Grad-CAM heatmap, the
  SMILE-VLM view-fusion weights and the prompts nearest to the fused embedding.

All computation is in `fervlm.inference`; this script only lays it out. Bad input (wrong number of
images, unreadable or non-image files, files over the size limits, a mesh that fails to load, a
checkpoint that does not match its config) gives an ``st.error`` with the reason and the page keeps
running. The last prediction is kept in ``st.session_state["prediction"]`` (plain values, see
`fervlm.inference.Prediction.as_dict`) for scripts and tests, and where the wait went in
``st.session_state["timings"]`` (seconds per stage and ``total``).
"""
# ruff: noqa: E402  (the clock starts before the imports: most of a cold start's wait is importing torch)

from __future__ import annotations

import time

#: Streamlit executes this script from the top on every interaction, so the user's wait starts here; the
#: imports below cost seconds only on the first run after the server starts (torch, open_clip, open3d).
RUN_START = time.perf_counter()

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from fervlm.inference import (
    MAX_MESH_BYTES,
    InputError,
    Predictor,
    RunInfo,
    best_first,
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
from fervlm.protocols import protocol_name
from fervlm.viewpoints import VIEW_NAMES

#: Side length of the views shown and fed to the model (resized to the model's input size there).
VIEW_SIZE = 224
UNTRAINED = "Untrained zero-shot model (tiny backbone, random weights)"
TYPED_PATH = "Checkpoint path…"
INPUT_KINDS = ("Synthetic example", "Three view images", "Mesh file", "4D sequence")
#: The synthetic example's kinds; named unlike the input kinds ("4D sequence" there means uploaded files).
EXAMPLE_KINDS = ("3D scan", "4D onset")
#: Upload limit the browser enforces for view images. Streamlit drops a file over it before the server sees
#: it (three listed, two received), so the browser gets the mesh limit and `views_from_images` refuses an
#: image over MAX_IMAGE_BYTES by name.
IMAGE_UPLOAD_LIMIT_MB = MAX_MESH_BYTES // 2**20
#: Sidebar width (rem) that shows a checkpoint label whole.
SIDEBAR_REM = 31
#: Stages of the wait, in order, as the page names them.
STAGES = {
    "libraries": "loading libraries",
    "model": "loading the model",
    "input": "preparing the views",
    "prediction": "prediction + Grad-CAM",
    "page": "drawing the page",
}
#: The synthetic faces' expressions (`fervlm.synth.EMOTIONS`); other class names have no 3D recipe.
EMOTIONS_3D = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
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
def cached_example_views(
    emotion: str, seed: int, four_d: bool, yaws: tuple[float, ...], micro: bool = False
) -> np.ndarray:
    """Views of a synthetic face (3D) or dynamic images of a synthetic onset sequence (4D).

    `micro`: a micro-expression of 4DME's classes (`fervlm.synth.MICRO_CLASSES`), always a 4D onset, since
    micro-expressions exist only as brief movements.
    """
    if micro:
        return views_from_sequence(example_micro_sequence(emotion, seed=seed), yaws=yaws, size=VIEW_SIZE)
    if four_d:
        return views_from_sequence(example_sequence(emotion, seed=seed), yaws=yaws, size=VIEW_SIZE)
    return views_from_mesh(example_mesh(emotion, seed=seed), yaws=yaws, size=VIEW_SIZE)


class Stopwatch:
    """Seconds per stage of one script run, counted from `RUN_START` (what the user waits for)."""

    def __init__(self, start: float = RUN_START) -> None:
        self.start = self._last = start
        self.parts: dict[str, float] = {}

    def lap(self, stage: str) -> None:
        """Charge the time since the previous lap to `stage`."""
        now = time.perf_counter()
        self.parts[stage] = self.parts.get(stage, 0.0) + now - self._last
        self._last = now

    def total(self) -> float:
        return time.perf_counter() - self.start

    def summary(self, total: float) -> str:
        """``answered in T s (stage a s · stage b s …)``, and what makes a first answer slow when it was."""
        shown = [f"{STAGES.get(k, k)} {v:.1f} s" for k, v in self.parts.items() if v >= 0.05]
        text = f"answered in {total:.2f} s" + (f" ({' · '.join(shown)})" if shown else "")
        why = []
        if self.parts.get("libraries", 0.0) >= 1.0:
            why.append("the first answer after the server starts imports torch, open_clip and open3d")
        if self.parts.get("model", 0.0) >= 1.0:
            why.append("a model is built the first time it is picked")
        if why:
            text += f". Slow this time because {' and '.join(why)}; both are kept for the next answers."
        return text


# ---------------------------------------------------------------------------------------------
# Model


def choose_model() -> Predictor:
    """Sidebar: pick a model and load it (cached); stops the page with an error when it cannot be loaded."""
    # Wide enough for a whole picker label (method · prompts · dataset · fold · accuracy); Streamlit's
    # default sidebar cuts it after the method. The user can still drag the sidebar's edge.
    st.markdown(
        f"<style>[data-testid='stSidebar'] {{min-width: {SIDEBAR_REM}rem}}</style>", unsafe_allow_html=True
    )
    st.sidebar.header("Model")
    root = outputs_root()
    labels = picker_labels(find_runs(root), root)
    options = [*labels, TYPED_PATH, UNTRAINED]
    if not labels:
        st.sidebar.info(f"No trained checkpoint under `{root}/`. Train one (`fervlm cv …`) or type a path.")
    choice = st.sidebar.selectbox(
        "Checkpoint (best test accuracy first)",
        options,
        index=0 if labels else len(options) - 1,
        key="model",
        help="method · protocol · tested dataset · fold · test accuracy",
    )
    if choice in labels:
        st.sidebar.caption(f"`{labels[choice].where(root)}`")
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
            predictor = cached_predictor("checkpoint", str(labels[choice].run_dir))
    except USER_ERRORS as err:
        st.error(f"Cannot load the model: {err}")
        st.stop()
    protocol = "untrained"
    if predictor.trained:
        protocol = protocol_name(predictor.prompt_source, predictor.method_name)
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


def picker_labels(runs: list[RunInfo], root: Path) -> dict[str, RunInfo]:
    """``label -> run`` for the picker, best test accuracy first.

    Labels that would be identical (the same method, prompts, dataset, fold and accuracy in two notebooks'
    outputs) get their folder appended, so every entry can be told apart.
    """
    runs = best_first(runs)
    plain = [run.label(root) for run in runs]
    labels: dict[str, RunInfo] = {}
    for run, label in zip(runs, plain, strict=True):
        labels[f"{label} · {run.where(root)}" if plain.count(label) > 1 else label] = run
    return labels


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
        choices, micro = example_classes(predictor)
        # Streamlit forgets a widget's value while it is not drawn (another input kind is chosen), so the
        # choices are kept under keys of their own and given back as the defaults when it is drawn again.
        kept = st.session_state.setdefault("kept_example", {})
        emotion_default = kept.get("emotion", "happiness")
        left, middle, right = st.columns(3)
        emotion = left.selectbox(
            "Emotion",
            choices,
            index=choices.index(emotion_default) if emotion_default in choices else 0,
            key="example_emotion",
        )
        seed = int(
            middle.number_input(
                "Subject seed", min_value=0, value=int(kept.get("seed", 0)), step=1, key="example_seed"
            )
        )
        if micro:
            right.caption("Synthetic kind: 4D onset (a micro-expression is a brief movement)")
            four_d = True
        else:
            example_kind = right.radio(
                "Synthetic kind",
                EXAMPLE_KINDS,
                index=EXAMPLE_KINDS.index(kept.get("kind", EXAMPLE_KINDS[0])),
                horizontal=True,
                key="example_kind",
            )
            kept["kind"] = example_kind
            four_d = example_kind == "4D onset"
        kept.update(emotion=emotion, seed=seed)
        views = cached_example_views(emotion, seed, four_d, yaws, micro)
        what = "micro-expression onset" if micro else "4D onset" if four_d else "3D face"
        return views, f"synthetic {what}: {emotion}, subject seed {seed}"
    if kind == "Three view images":
        files = st.file_uploader(
            "Three view images: left, front, right (in this order, or named *_left / *_front / *_right)",
            accept_multiple_files=True,
            key="view_images",
            max_upload_size=IMAGE_UPLOAD_LIMIT_MB,
        )
        _require(files, "Upload three view images of one face.")
        if len(files) < len(VIEW_NAMES):
            received = ", ".join(f.name for f in files)
            raise ValueError(
                f"expected exactly 3 view images ({', '.join(VIEW_NAMES)}), got {len(files)} ({received}). "
                f"A file the uploader lists with an error (over {IMAGE_UPLOAD_LIMIT_MB} MB) is not received."
            )
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
                try:
                    return views_from_mesh(path, yaws=yaws, size=VIEW_SIZE), f"mesh {upload.name}"
                except USER_ERRORS as err:  # name the upload, not the server's temporary copy
                    raise InputError(str(err).replace(str(path), upload.name)) from None
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
            try:
                views = views_from_sequence(paths, yaws=yaws, size=VIEW_SIZE)
            except USER_ERRORS as err:  # name the uploads, not the server's temporary folder
                raise InputError(str(err).replace(f"{tmp}{os.sep}", "")) from None
            return views, f"4D sequence of {len(paths)} frames"
    return views_from_sequence(folder, yaws=yaws, size=VIEW_SIZE), f"4D sequence {folder}"


# ---------------------------------------------------------------------------------------------
# Output


def show_result(predictor: Predictor, views: np.ndarray, caption: str, clock: Stopwatch) -> None:
    """Predict, explain and lay out the answer; the caption says how long the user waited, and for what."""
    from fervlm.explain import overlay

    prediction = predictor.predict(views)
    if predictor.explainable:
        show_cams = st.checkbox("Grad-CAM heatmaps", value=True, key="gradcam")
    else:  # the pixels baseline: a linear model on grey pixels has no layers for Grad-CAM to explain
        show_cams = False
        st.info(
            f"Grad-CAM does not apply to the **{predictor.method_name}** baseline: it is a linear classifier "
            "on the principal components of grey pixels, with no network layers to explain."
        )
    cams = predictor.gradcam(views, target_class=prediction.class_index) if show_cams else None
    clock.lap("prediction")
    st.session_state["prediction"] = prediction.as_dict()

    probability = float(prediction.probabilities[prediction.class_index])
    st.subheader(f"Predicted emotion: {prediction.label}")
    status = st.empty()  # filled last, once everything below is drawn
    st.bar_chart(
        pd.DataFrame(
            {"probability": prediction.probabilities}, index=pd.Index(prediction.classes, name="class")
        ),
        y="probability",
        sort=False,
    )

    shown = predictor.select_views(views)
    # At least three columns: a single-view model's one view keeps the size of one of three views
    # instead of stretching across the page.
    columns = st.columns(max(len(shown), len(VIEW_NAMES)))
    for j, column in enumerate(columns[: len(shown)]):
        name = prediction.view_names[j]
        column.image(shown[j], caption=f"{name} view", width="stretch")
        if cams is not None:
            column.image(overlay(shown[j], cams[j]), caption=f"Grad-CAM: {prediction.label}", width="stretch")

    if prediction.view_weights is not None and len(prediction.view_weights) > 1:  # one view: always 1
        st.markdown("**View-fusion weights** (SMILE-VLM view-aware attention)")
        st.dataframe(
            pd.DataFrame({"view": prediction.view_names, "weight": prediction.view_weights}), hide_index=True
        )
    if not prediction.nearest_prompts:  # the pixels baseline uses no prompts
        return
    st.markdown("**Nearest prompts** (cosine similarity to the fused embedding)")
    st.dataframe(
        pd.DataFrame(
            [(p.text, p.label, p.cosine) for p in prediction.nearest_prompts],
            columns=["prompt", "class", "cosine"],
        ),
        hide_index=True,
    )
    clock.lap("page")
    total = clock.total()
    st.session_state["timings"] = {**clock.parts, "total": total}
    status.caption(f"{caption} · p = {probability:.3f} · {clock.summary(total)}")


def example_classes(predictor: Predictor) -> tuple[list[str], bool]:
    """The synthetic examples offered for a model, and whether they are micro-expressions.

    A model of 4DME's micro-expression classes (`fervlm.synth.MICRO_CLASSES`) gets those, as micro-expression
    onsets; any other model gets its classes that are basic emotions, or all six when it has none (BP4D's
    tasks have no synthetic recipe of their own).
    """
    from fervlm.synth import MICRO_CLASSES

    if set(predictor.classes) & (set(MICRO_CLASSES) - set(EMOTIONS_3D)):
        return [c for c in predictor.classes if c in MICRO_CLASSES], True
    return [c for c in predictor.classes if c in EMOTIONS_3D] or list(EMOTIONS_3D), False


def main() -> None:
    st.set_page_config(page_title="fervlm — facial expression recognition", layout="wide")
    st.title("fervlm: facial expressions from 3D/4D faces")
    st.caption(
        f"Three views ({', '.join(VIEW_NAMES)}), one mesh, or a 4D sequence in; emotion probabilities and "
        "Grad-CAM heatmaps out."
    )
    st.session_state.pop("prediction", None)  # only an answer to this run's input may stay
    clock = Stopwatch()
    clock.lap("libraries")
    predictor = choose_model()
    clock.lap("model")
    try:
        views, caption = read_input(predictor)
        clock.lap("input")
        show_result(predictor, views, caption, clock)
    except USER_ERRORS as err:
        st.error(str(err))


if __name__ == "__main__":  # `streamlit run` executes the file as __main__; importing it draws nothing
    main()
