"""Interactive inference, independent of any user interface: a trained method in, emotions out.

This is the logic behind the Streamlit app (AffectVLM paper §III-F, "Interactive Inference with
Streamlit": three multiview images in, on-the-fly emotion classification from the joint embedding
space). The app (`fervlm/app.py`) only lays it out; scripts and tests call it directly. One concept per
submodule:

* `runs` — the trained runs under an outputs folder (:func:`find_runs`, :class:`RunInfo`, :func:`best_first`).
* `loading` — :func:`load_predictor` rebuilds a method from a run folder (``fold-KK/config.json`` +
  ``last.ckpt``) and loads its weights **strictly**; :func:`zero_shot_predictor` builds an untrained
  zero-shot model (predictions meaningless, but the app always works offline).
* `predictor` — :class:`Predictor` predicts like every method does at test time (docs/methods.md §1): the
  fused multiview embedding ``z`` against the class prototypes ``p_c``, ``ŷ = argmax_c cos(z, p_c)``, with
  probabilities ``softmax(s · cos(z, p_c))``, the SMILE-VLM view-fusion weights (SMILE-VLM eq. 5, 7), the
  bank's nearest prompts and per-view Grad-CAM maps.
* `pixels` — the fitted pixel baseline as a predictor (no network: no prompts, no Grad-CAM).
* `uploads` — size limits and checks of user files; bad input raises :class:`InputError` (a
  ``ValueError``) whose message names the file and the problem, for the page to show.
* `views` — model input from three view images (:func:`views_from_images`), a mesh rendered on the fly
  (:func:`views_from_mesh`) or a 4D sequence turned into dynamic images (:func:`views_from_sequence`).
* `examples` — synthetic faces one call away (:func:`example_inputs`).
"""

from fervlm.inference.examples import example_inputs, example_mesh, example_micro_sequence, example_sequence
from fervlm.inference.loading import CheckpointMismatchError, load_predictor, zero_shot_predictor
from fervlm.inference.predictor import NearestPrompt, Prediction, Predictor
from fervlm.inference.runs import METHOD_NAMES, RunInfo, best_first, find_runs
from fervlm.inference.uploads import (
    IMAGE_EXTENSIONS,
    MAX_IMAGE_BYTES,
    MAX_IMAGE_PIXELS,
    MAX_MESH_BYTES,
    MAX_SEQUENCE_FRAMES,
    InputError,
    save_uploads,
)
from fervlm.inference.views import views_from_images, views_from_mesh, views_from_sequence
from fervlm.viewpoints import VIEW_YAWS

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXELS",
    "MAX_MESH_BYTES",
    "MAX_SEQUENCE_FRAMES",
    "METHOD_NAMES",
    "VIEW_YAWS",
    "CheckpointMismatchError",
    "InputError",
    "NearestPrompt",
    "Prediction",
    "Predictor",
    "RunInfo",
    "best_first",
    "example_inputs",
    "example_mesh",
    "example_micro_sequence",
    "example_sequence",
    "find_runs",
    "load_predictor",
    "save_uploads",
    "views_from_images",
    "views_from_mesh",
    "views_from_sequence",
    "zero_shot_predictor",
]
