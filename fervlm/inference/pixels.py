"""Single-sample inference with a fitted ``pixels`` baseline (`fervlm.methods.pixels`), for the app.

A fold of the pixel baseline keeps its fitted pipeline in ``fold-KK/pixels.npz`` (plain arrays). The
app lists it beside the trained checkpoints (`fervlm.inference.find_runs`) and
`fervlm.inference.load_predictor` hands such a folder to :func:`load_pixels_predictor`, so the page
can show what a classical pixel model says about the same sample. :class:`PixelsPredictor` has the
interface of `fervlm.inference.Predictor` where the app uses it, except what needs a network: there are
no prompts (no nearest prompts) and **no Grad-CAM** (no convolutional or attention layers to take
gradients of; ``explainable`` is False and :meth:`PixelsPredictor.gradcam` says so).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fervlm.inference.predictor import Prediction, Predictor
from fervlm.inference.runs import _read_json
from fervlm.inference.uploads import InputError
from fervlm.methods.pixels import PIXELS_FILE, PixelsModel, grey_features
from fervlm.viewpoints import yaw_of

__all__ = ["PixelsPredictor", "load_pixels_predictor", "pixels_label", "pixels_model_path"]


def pixels_model_path(path: str | Path) -> Path | None:
    """The ``pixels.npz`` that ``path`` names (the file or a fold folder holding it), else None."""
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / PIXELS_FILE
    return path if path.is_file() and path.name == PIXELS_FILE else None


def pixels_label(config: dict) -> str:
    """What the app shows in place of a backbone for a pixel-baseline run: ``grey 32 px, PCA 60``."""
    return f"grey {config.get('pixels_size', '?')} px, PCA {config.get('pixels_pca', '?')}"


class PixelsPredictor(Predictor):
    """A fitted pixel baseline ready for single-sample inference (CPU, numpy).

    Args:
        model: the fitted :class:`~fervlm.methods.pixels.PixelsModel`.
        config: the run's ``config`` from ``config.json`` (for the method name and the picker label).
        source: where the model came from (the ``pixels.npz`` path).
    """

    explainable = False

    def __init__(self, model: PixelsModel, config: dict, source: str) -> None:
        self.model = model
        self.config = config
        self.source = source
        self.trained = True
        self.prompts, self.prompt_classes = [], []
        self.yaws = [yaw_of(v) for v in model.views]
        self.image_size = int(model.size)

    @property
    def classes(self) -> list[str]:
        return list(self.model.classes)

    @property
    def method_name(self) -> str:
        return "pixels"

    @property
    def prompt_source(self) -> str:
        """As `fervlm.inference.Predictor.prompt_source`; the baseline is fitted on labels, prompts or not."""
        return str(self.config.get("prompt_source") or "label")

    @property
    def backbone_name(self) -> str:
        return pixels_label(self.config)

    def preprocess(self, views: np.ndarray) -> np.ndarray:  # type: ignore[override]
        """uint8 (V, H, W, 3) → ``(1, V·S·S)`` grey pixels: the bilinear PIL resize of training, luma."""
        from PIL import Image

        views = self.select_views(views)
        size = self.image_size
        arrays = [
            np.asarray(
                Image.fromarray(v).resize((size, size), Image.Resampling.BILINEAR)
                if v.shape[:2] != (size, size)
                else v,
                dtype=np.float64,
            )
            / 255.0
            for v in views
        ]
        return grey_features(np.moveaxis(np.stack(arrays), -1, 1)[None])

    def predict(self, views: np.ndarray, top_k: int = 5) -> Prediction:
        """Classify one sample: softmax of the classifier's logits on the PCA scores (no prompts)."""
        x = self.preprocess(views)
        logits = self.model.decision(x)[0]
        probs = self.model.predict_proba(x)[0]
        index = int(probs.argmax())
        return Prediction(
            classes=self.classes,
            label=self.classes[index],
            class_index=index,
            probabilities=probs.astype(np.float32),
            scores=logits.astype(np.float32),
            logit_scale=1.0,
            embedding=self.model.transform(x)[0].astype(np.float32),
            view_weights=None,
            nearest_prompts=[],
            view_names=self.view_names,
        )

    def gradcam(self, views: np.ndarray, target_class: int | None = None) -> np.ndarray:
        """Not available: Grad-CAM needs a network's feature maps, and this is a linear model on pixels.

        Raises:
            InputError: always, with the reason (the app shows it instead of heatmaps).
        """
        raise InputError(
            "Grad-CAM does not apply to the pixels baseline: it is a linear classifier on the principal "
            "components of grey pixels, with no network layers to explain"
        )


def load_pixels_predictor(path: str | Path) -> PixelsPredictor:
    """A :class:`PixelsPredictor` from a fold folder (or its ``pixels.npz``) of a ``pixels`` run.

    Raises:
        FileNotFoundError: no ``pixels.npz`` or no ``config.json`` beside it.
        ValueError: an unreadable model file or config.
    """
    model_path = pixels_model_path(path)
    if model_path is None:
        raise FileNotFoundError(f"{path}: no {PIXELS_FILE} (pass the fold folder of a pixels run)")
    config_path = model_path.parent / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"pixel baseline {model_path}: no config.json beside it (not a fold folder?)")
    config = _read_json(config_path).get("config")
    if not isinstance(config, dict):
        raise ValueError(f"{config_path}: no 'config' object (is this a fervlm run folder?)")
    return PixelsPredictor(PixelsModel.load(model_path), config, source=str(model_path))
