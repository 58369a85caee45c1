"""Interactive inference, independent of any user interface: a trained method in, emotions out.

This is the logic behind the Streamlit app (AffectVLM paper §III-F, "Interactive Inference with
Streamlit": three multiview images in, on-the-fly emotion classification from the joint embedding
space). The app (`fervlm/app.py`) only lays it out; scripts and tests call it directly.

* :func:`load_predictor` rebuilds a method from a run folder written by `fervlm.train.fit_fold`
  (``fold-KK/config.json`` + ``last.ckpt``) and loads its weights **strictly**;
  :func:`zero_shot_predictor` builds an untrained zero-shot model (predictions meaningless, but the app
  always works offline).
* :class:`Predictor` predicts like every method does at test time (docs/methods.md §1): the fused multiview
  embedding ``z`` against the class prototypes ``p_c``, ``ŷ = argmax_c cos(z, p_c)``, with class
  probabilities ``softmax(s · cos(z, p_c))`` (``s`` the model's clamped CLIP logit scale), plus the
  SMILE-VLM view-fusion weights (SMILE-VLM eq. 5, 7), the bank's nearest prompts, and per-view Grad-CAM
  maps of the predicted class (`fervlm.explain.gradcam_views`).
* Input converters: three view images (:func:`views_from_images`), a mesh rendered on the fly
  (:func:`views_from_mesh`), a 4D sequence turned into dynamic images (:func:`views_from_sequence`), and
  synthetic faces one call away (:func:`example_inputs`). Bad input raises :class:`InputError` (a
  ``ValueError``) whose message names the file and the problem, for the page to show.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from fervlm.io import MESH_EXTENSIONS, Mesh
from fervlm.viewpoints import VIEW_NAMES, VIEW_YAWS

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

#: Size limits of user input (an upload larger than this is refused before it is decoded).
MAX_IMAGE_BYTES = 20 * 2**20
#: Decoded pixel count above which an image is refused (a small compressed file can decode to gigabytes).
MAX_IMAGE_PIXELS = 40_000_000
MAX_MESH_BYTES = 200 * 2**20
MAX_SEQUENCE_FRAMES = 300
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class InputError(ValueError):
    """User input the app cannot use; the message names the file/parameter and the problem."""


class CheckpointMismatchError(ValueError):
    """A checkpoint whose weights do not fit the method its ``config.json`` describes."""


# ---------------------------------------------------------------------------------------------
# Runs


@dataclass(frozen=True)
class RunInfo:
    """One trained checkpoint under an outputs folder (what the app's picker lists).

    Attributes:
        checkpoint: the ``last.ckpt`` file.
        run_dir: its fold folder (holds ``config.json`` and, once finished, ``metrics.json``).
        method, backbone: from ``config.json`` (``"?"`` when it cannot be read; see ``error``).
        fold: the fold number, or None (cross-dataset runs).
        accuracy: test accuracy from ``metrics.json``; None while the fold is unfinished.
        classes: class names from ``metrics.json`` (empty when unknown).
        error: why ``config.json`` could not be read ("" when it could).
        dataset: the tested dataset from ``metrics.json`` ("" while unfinished).
        prompt_source: the training protocol's prompt source (``label``/``pseudo``), from ``config.json``
            ("" when unknown).
    """

    checkpoint: Path
    run_dir: Path
    method: str
    backbone: str
    fold: int | None = None
    accuracy: float | None = None
    classes: tuple[str, ...] = ()
    error: str = ""
    dataset: str = ""
    prompt_source: str = ""

    def where(self, root: str | Path | None = None) -> str:
        """The fold folder, relative to ``root`` when it lies inside it."""
        where = self.run_dir
        if root is not None:
            with suppress(ValueError):  # a run outside root keeps its full path
                where = self.run_dir.relative_to(root)
        return str(where)

    def label(self, root: str | Path | None = None) -> str:
        """A one-line description for a picker: method · protocol · dataset · fold · accuracy.

        What tells runs apart comes first, because a narrow picker cuts the end off; `where` gives the folder
        (the app adds it only to labels that would otherwise be identical).
        """
        from fervlm.protocols import protocol_name

        parts = [METHOD_NAMES.get(self.method, self.method)]
        if self.prompt_source or self.method in ("pixels", "zeroshot", "linearprobe"):
            # Every number says its protocol: two words here, the full phrase in the sidebar.
            parts.append(protocol_name(self.prompt_source, self.method, short=True))
        parts.append(self.dataset or "?")
        parts.append("cross-dataset" if self.fold is None else f"fold {self.fold}")
        parts.append("unfinished" if self.accuracy is None else f"acc {self.accuracy:.3f}")
        return " · ".join(parts)


#: How the picker names each method (the papers' spelling).
METHOD_NAMES = {
    "affectvlm": "AffectVLM",
    "multiviewvlm": "MultiviewVLM",
    "smilevlm": "SMILE-VLM",
    "pixels": "Pixel baseline",
}


def best_first(runs: Sequence[RunInfo]) -> list[RunInfo]:
    """Runs ordered by test accuracy, best first; unfinished runs (no accuracy) last, by path."""
    return sorted(runs, key=lambda r: (r.accuracy is None, -(r.accuracy or 0.0), str(r.run_dir)))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: cannot be read as JSON ({err})") from err
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def find_runs(outputs_root: str | Path = "outputs") -> list[RunInfo]:
    """Every ``last.ckpt`` with a ``config.json`` beside it under ``outputs_root``, sorted by path.

    Zero-shot and linear-probe folds keep no checkpoint (nothing is trained by gradient descent), so
    only AffectVLM / MultiviewVLM / SMILE-VLM runs appear, and the fitted ``pixels`` baselines
    (``pixels.npz``, `fervlm.inference_pixels`) so the page can compare with them. A missing folder
    gives an empty list.
    """
    from fervlm.methods.pixels import PIXELS_FILE

    root = Path(outputs_root)
    if not root.is_dir():
        return []
    runs = []
    found = sorted([*root.rglob("last.ckpt"), *root.rglob(PIXELS_FILE)], key=lambda p: (p.parent, p.name))
    for ckpt in found:
        config_path = ckpt.parent / "config.json"
        if not config_path.is_file():
            continue
        method = backbone = "?"
        fold, error, prompt_source = None, "", ""
        try:
            info = _read_json(config_path)
            config = info.get("config", {})
            method, backbone = str(config.get("method", "?")), str(config.get("backbone", "?"))
            if ckpt.name == PIXELS_FILE:  # no backbone: say what the pixel model reads instead
                from fervlm.inference_pixels import pixels_label

                backbone = pixels_label(config)
            prompt_source = str(config.get("prompt_source", ""))
            fold = int(info["fold"]) if isinstance(info.get("fold"), int) else None
        except ValueError as err:
            error = str(err)
        accuracy, classes, dataset = None, (), ""
        metrics_path = ckpt.parent / "metrics.json"
        if metrics_path.is_file():
            try:
                metrics = _read_json(metrics_path)
                accuracy = float(metrics["accuracy"]) if "accuracy" in metrics else None
                classes = tuple(str(c) for c in metrics.get("classes", ()))
                dataset = str(metrics.get("dataset", ""))
            except (ValueError, TypeError):
                pass  # an unreadable metrics file only costs the picker its accuracy
        runs.append(
            RunInfo(
                ckpt, ckpt.parent, method, backbone, fold, accuracy, classes, error, dataset, prompt_source
            )
        )
    return runs


# ---------------------------------------------------------------------------------------------
# Predictions


@dataclass(frozen=True)
class NearestPrompt:
    """A prompt of the bank near the fused embedding: its text, class and cosine similarity."""

    text: str
    label: str
    cosine: float


@dataclass
class Prediction:
    """What :meth:`Predictor.predict` returns for one sample.

    Attributes:
        classes: class names (label-id order).
        label: the predicted class name; ``class_index`` its position in ``classes``.
        probabilities: (C,) ``softmax(s · scores)`` (docs/methods.md §1; the linear probe's own softmax).
        scores: (C,) cosine similarities of the fused embedding to the class prototypes.
        logit_scale: the ``s`` used for the probabilities.
        embedding: (D,) the fused, L2-normalised multiview embedding.
        view_weights: (V,) SMILE-VLM view-aware fusion weights (eq. 5), None for mean-fusion methods.
        nearest_prompts: the bank's prompts closest to the embedding, most similar first.
        view_names: the names (yaws) of the views used, in order.
    """

    classes: list[str]
    label: str
    class_index: int
    probabilities: np.ndarray
    scores: np.ndarray
    logit_scale: float
    embedding: np.ndarray
    view_weights: np.ndarray | None = None
    nearest_prompts: list[NearestPrompt] = field(default_factory=list)
    view_names: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (for session state, logs and comparisons)."""
        return {
            "label": self.label,
            "class_index": self.class_index,
            "classes": list(self.classes),
            "probabilities": self.probabilities.tolist(),
            "scores": self.scores.tolist(),
            "view_weights": None if self.view_weights is None else self.view_weights.tolist(),
            "nearest_prompts": [(p.text, p.label, p.cosine) for p in self.nearest_prompts],
            "view_names": list(self.view_names),
        }


class _FusedViewEncoder:
    """Presents a method's per-view embedding (projector included) as a backbone to Grad-CAM.

    `fervlm.explain.gradcam_views` needs ``.visual`` (the hooked tower) and ``.encode_image``; routing
    ``encode_image`` through :meth:`FERMethod.embed_views` makes the map explain the embedding the method
    actually compares with the prototypes (SMILE-VLM's projector output, not the raw tower output).
    """

    def __init__(self, method: Any) -> None:
        self.method = method
        self.visual = method.backbone.visual

    def encode_image(self, x: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        return self.method.embed_views(x[:, None])[0]


def _yaw_of(view: str | int | float) -> float:
    text = str(view).strip()
    if text in VIEW_NAMES:
        return float(VIEW_YAWS[VIEW_NAMES.index(text)])
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"view {view!r} is neither a view name {list(VIEW_NAMES)} nor a yaw angle") from None


@contextmanager
def _no_parameter_grads(module: torch.nn.Module) -> Iterator[None]:
    """Switch parameter gradients off (Grad-CAM needs only the input's) and restore the flags after."""
    saved = [(p, p.requires_grad) for p in module.parameters()]
    try:
        for p, _ in saved:
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in saved:
            p.requires_grad_(flag)


class Predictor:
    """A method ready for single-sample inference on CPU (or the device it sits on).

    Args:
        method: a `fervlm.methods` module in eval mode, with prototypes from its (loaded) text tower.
        prompts: the bank's prompts (no metadata) over ``method.classes`` and the class of each.
        prompt_embeddings: (P, D) their normalised text embeddings.
        source: where the weights came from (a checkpoint path or a description).
        trained: False for an untrained model (its predictions are meaningless).
    """

    #: Whether :meth:`gradcam` can explain the prediction (False for the pixel baseline).
    explainable = True

    def __init__(
        self,
        method: Any,
        prompts: Sequence[str],
        prompt_classes: Sequence[str],
        prompt_embeddings: torch.Tensor,
        source: str,
        trained: bool,
    ) -> None:
        from fervlm.data import normalization_of

        self.method = method.eval()
        self.config = method.config
        self.prompts = list(prompts)
        self.prompt_classes = list(prompt_classes)
        self.prompt_embeddings = F.normalize(prompt_embeddings.float(), dim=-1)
        self.source = source
        self.trained = trained
        self.yaws = [_yaw_of(v) for v in self.config.views]
        self.image_size = int(self.config.image_size or method.backbone.image_size)
        mean, std = normalization_of(method.backbone.preprocess_val)
        self._mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
        self._std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)

    @property
    def classes(self) -> list[str]:
        return list(self.method.classes)

    @property
    def method_name(self) -> str:
        return str(self.config.method)

    @property
    def prompt_source(self) -> str:
        """The run's prompt source (``label``/``pseudo``), as `fervlm.protocols.protocol_name` reads it."""
        return str(self.config.prompt_source)

    @property
    def backbone_name(self) -> str:
        return str(self.config.backbone)

    @property
    def view_names(self) -> list[str]:
        names = dict(zip(VIEW_YAWS, VIEW_NAMES, strict=True))
        return [names.get(int(y), f"{y:g}°") if float(y).is_integer() else f"{y:g}°" for y in self.yaws]

    # ------------------------------------------------------------------ input
    def select_views(self, views: np.ndarray) -> np.ndarray:
        """The model's views out of ``views``: already its ``V`` views, or the three left/front/right.

        Raises:
            InputError: wrong dtype or shape, or views the model needs that are not among the three.
        """
        views = np.asarray(views)
        if views.dtype != np.uint8 or views.ndim != 4 or views.shape[-1] != 3:
            raise InputError(
                f"views: expected uint8 (V, H, W, 3) RGB images, got {views.dtype} {views.shape}"
            )
        if views.shape[0] == len(self.yaws):
            return views
        if views.shape[0] == len(VIEW_YAWS):
            missing = [y for y in self.yaws if y not in VIEW_YAWS]
            if not missing:
                return views[[VIEW_YAWS.index(int(y)) for y in self.yaws]]
        raise InputError(
            f"views: the model uses {len(self.yaws)} view(s) at yaws {self.yaws}, "
            f"got {views.shape[0]} image(s)"
        )

    def preprocess(self, views: np.ndarray) -> torch.Tensor:
        """uint8 (V, H, W, 3) → the normalised (V, 3, S, S) tensor the model takes.

        Same steps as training (`fervlm.data.MultiviewDataset`): a bilinear PIL resize to the model's
        input size ``S``, scaling to [0, 1], the backbone's mean/std normalisation.
        """
        from PIL import Image

        views = self.select_views(views)
        size = self.image_size
        arrays = []
        for view in views:
            if view.shape[:2] != (size, size):
                view = np.asarray(Image.fromarray(view).resize((size, size), Image.Resampling.BILINEAR))
            arrays.append(view)
        x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255.0
        device = next(self.method.parameters()).device
        return ((x - self._mean) / self._std).to(device)

    # ------------------------------------------------------------------ prediction
    @torch.no_grad()
    def predict(self, views: np.ndarray, top_k: int = 5) -> Prediction:
        """Classify one sample (docs/methods.md §1) and report the fusion weights and nearest prompts.

        Args:
            views: uint8 (V, H, W, 3): the model's views, or the three left/front/right views.
            top_k: how many nearest prompts to report.
        """
        from fervlm.evaluate import softmax_probs
        from fervlm.methods.baselines import LinearProbe

        x = self.preprocess(views)[None]  # (1, V, 3, S, S)
        z = self.method.embed_views(x)  # (V, 1, D)
        fused = self.method.fuse(z)  # (1, D)
        weights = None
        fusion = getattr(self.method, "fusion", None)
        if fusion is not None:  # SMILE-VLM view-aware fusion (eq. 5): report its attention weights
            weights = fusion(z)[1][0].float().cpu().numpy()
        pred, scores = self.method.scores(fused)
        scale = float(self.method.logit_scale())
        # The linear probe's scores are already probabilities.
        probs = scores if isinstance(self.method, LinearProbe) else softmax_probs(scores.float(), scale)
        emb = fused[0].float().cpu()
        cos = self.prompt_embeddings @ F.normalize(emb, dim=-1)
        order = torch.argsort(cos, descending=True)[: max(0, int(top_k))]
        nearest = [
            NearestPrompt(self.prompts[i], self.prompt_classes[i], float(cos[i])) for i in order.tolist()
        ]
        index = int(pred[0])
        return Prediction(
            classes=self.classes,
            label=self.classes[index],
            class_index=index,
            probabilities=probs[0].float().cpu().numpy(),
            scores=scores[0].float().cpu().numpy(),
            logit_scale=scale,
            embedding=emb.numpy(),
            view_weights=weights,
            nearest_prompts=nearest,
            view_names=self.view_names,
        )

    def gradcam(self, views: np.ndarray, target_class: int | None = None) -> np.ndarray:
        """Grad-CAM per view (`fervlm.explain.gradcam_views`) of ``cos(z_v, p_c)`` for the class ``c``.

        Args:
            views: as for :meth:`predict`.
            target_class: class id to explain; None = the class :meth:`predict` returns (so the maps
                explain the shown prediction, whatever the method's fusion).

        Returns:
            float32 (V, H, W) maps in [0, 1] at the size of the given views.
        """
        from fervlm.explain import gradcam_views

        selected = self.select_views(views)
        if target_class is None:
            target_class = self.predict(selected, top_k=0).class_index
        x = self.preprocess(selected)
        with _no_parameter_grads(self.method):
            cams, _ = gradcam_views(
                _FusedViewEncoder(self.method), x, self.method.prototypes, target_class=int(target_class)
            )
        height, width = selected.shape[1:3]
        if cams.shape[1:] != (height, width):
            resized = F.interpolate(torch.from_numpy(cams)[:, None], size=(height, width), mode="bilinear")
            cams = resized[:, 0].clamp(0, 1).numpy()
        return cams.astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Building predictors


def _stub_table(classes: Sequence[str], views: Sequence[str], n_rows: int) -> Any:
    """An index table with ``n_rows`` rows and the configured view columns, for `build_method`.

    `build_method` sizes the pseudo-label buffer by the training table and checks its view columns; the
    rows themselves never matter at inference (prompt draws and pseudo-labels are training-only).
    """
    import pandas as pd

    n = max(int(n_rows), len(classes))
    table = pd.DataFrame({"label": [classes[i % len(classes)] for i in range(n)]})
    for view in views:
        table[f"view_{_yaw_of(view):g}"] = ""
    return table


def _finish(method: Any, source: str, trained: bool, cache: Any) -> Predictor:
    """Prototypes and prompt embeddings from the method's *current* text tower, then a Predictor.

    ``cache`` (a `PromptEmbeddingCache`, keyed on the text tower's fingerprint) spares re-encoding the
    prompts when the tower is the one the method was built with.
    """
    from fervlm.methods.factory import resolve_classes
    from fervlm.prompts import class_prototypes

    classes = list(method.classes)
    _, bank = resolve_classes(method.config, _stub_table(classes, method.config.views, len(classes)))
    bank = bank.subset(classes)
    # Prototypes are a non-persistent buffer computed when the method was built, i.e. from the text
    # tower *before* the checkpoint was loaded: recompute them from the loaded one.
    method.prototypes = class_prototypes(method.backbone, bank, classes, cache=cache).to(method.prototypes)
    texts, owners = bank.all_prompts(classes)
    embeddings = cache.get(method.backbone, texts)
    return Predictor(method, texts, owners, embeddings, source=source, trained=trained)


def _resolve_checkpoint(path: str | Path) -> tuple[Path, Path]:
    path = Path(path).expanduser()
    if path.is_dir():
        ckpt = path / "last.ckpt"
        if not ckpt.is_file():
            found = [str(r.checkpoint) for r in find_runs(path)][:5]
            hint = f"; checkpoints below it: {found}" if found else "; no checkpoint below it either"
            raise FileNotFoundError(f"{path}: no last.ckpt in this folder (pass a fold folder){hint}")
    elif path.is_file():
        ckpt = path
    else:
        raise FileNotFoundError(f"checkpoint {path}: no such file or folder")
    config_path = ckpt.parent / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"checkpoint {ckpt}: no config.json beside it (written by fervlm train)")
    return ckpt, config_path


def load_predictor(path: str | Path, device: str = "cpu") -> Predictor:
    """Rebuild a trained method from a run folder (or its ``last.ckpt``) and load its weights strictly.

    Reads ``config.json`` (the resolved `TrainConfig`), rebuilds the method with
    `fervlm.methods.factory.build_method` and loads the checkpoint's ``state_dict`` with ``strict=True``
    (a partly loaded model would predict silently wrong). The checkpoint is read with
    ``torch.load(weights_only=True)``, so a checkpoint file cannot run code.

    A fold folder of the ``pixels`` baseline (or its ``pixels.npz``) gives a
    `fervlm.inference_pixels.PixelsPredictor` instead (no network: no Grad-CAM, no prompts).

    Args:
        path: a fold folder holding ``config.json`` and ``last.ckpt``, or the checkpoint file itself.
        device: where the model runs.

    Raises:
        FileNotFoundError: no checkpoint or no ``config.json``.
        CheckpointMismatchError: the checkpoint's method, classes or weights do not match the config.
        ValueError: an unreadable config or checkpoint, or a linear-probe run (those keep no checkpoint).
    """
    from fervlm.inference_pixels import load_pixels_predictor, pixels_model_path
    from fervlm.methods.config import TrainConfig
    from fervlm.methods.factory import build_method
    from fervlm.prompts import PromptEmbeddingCache

    if pixels_model_path(path) is not None:  # a fold of the pixel baseline: no checkpoint, a pixels.npz
        return load_pixels_predictor(path)
    ckpt_path, config_path = _resolve_checkpoint(path)
    info = _read_json(config_path)
    if not isinstance(info.get("config"), dict):
        raise ValueError(f"{config_path}: no 'config' object (is this a fervlm run folder?)")
    try:
        config = TrainConfig.from_dict(info["config"]).replace(accelerator="cpu", devices=1, num_nodes=1)
    except ValueError as err:
        raise ValueError(f"{config_path}: {err}") from err
    if config.method == "linearprobe":
        raise ValueError(
            f"{config_path}: linear-probe runs keep no checkpoint of the fitted probe; not loadable"
        )
    try:
        state = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for corrupt / foreign files
        raise ValueError(f"checkpoint {ckpt_path}: cannot be read ({type(err).__name__}: {err})") from err
    if not isinstance(state, dict) or not isinstance(state.get("state_dict"), dict):
        raise ValueError(f"checkpoint {ckpt_path}: not a Lightning checkpoint (no 'state_dict')")
    hparams = state.get("hyper_parameters") or {}
    saved_method = (hparams.get("config") or {}).get("method")
    if saved_method is not None and saved_method != config.method:
        raise CheckpointMismatchError(
            f"checkpoint {ckpt_path} was trained with method={saved_method!r} but {config_path} says "
            f"method={config.method!r}"
        )
    classes = [str(c) for c in hparams.get("classes") or []]
    if not classes:
        metrics_path = ckpt_path.parent / "metrics.json"
        classes = (
            [str(c) for c in _read_json(metrics_path).get("classes", [])] if metrics_path.is_file() else []
        )
    if not classes:
        raise ValueError(f"checkpoint {ckpt_path}: records no class names (hyper_parameters.classes)")
    weights = state["state_dict"]
    n_rows = int(weights["pseudo_labels"].shape[0]) if "pseudo_labels" in weights else len(classes)
    cache = PromptEmbeddingCache()
    try:
        method = build_method(
            config,
            _stub_table(classes, config.views, n_rows),
            classes=classes,
            device=device,
            prompt_cache=cache,
        )
    except ValueError as err:
        raise CheckpointMismatchError(f"checkpoint {ckpt_path} and {config_path}: {err}") from err
    try:
        method.load_state_dict(weights, strict=True)
    except RuntimeError as err:
        raise CheckpointMismatchError(
            f"checkpoint {ckpt_path} does not match {config_path} ({config.method}, backbone "
            f"{config.backbone}): {str(err).strip()}"
        ) from err
    method.on_load_checkpoint(state)
    return _finish(method, str(ckpt_path), trained=True, cache=cache)


def zero_shot_predictor(
    backbone: str = "fervlm-tiny",
    classes: Sequence[str] | None = None,
    seed: int = 0,
    device: str = "cpu",
    weights: str | None = None,
) -> Predictor:
    """A zero-shot model (docs/methods.md §1 with no training): with random weights its predictions are
    meaningless, but it lets the app (and its tests) run offline with no trained run.

    Args:
        backbone: architecture name (`fervlm.backbones.create_backbone`).
        classes: class names (default: the six basic emotions).
        seed: seed of the random weights (the same seed gives the same model in every process).
        weights: None for random weights, or a tag / local file (then the model is a real zero-shot CLIP).
    """
    from fervlm.methods.config import TrainConfig
    from fervlm.methods.factory import build_method
    from fervlm.prompts import PromptEmbeddingCache
    from fervlm.synth import EMOTIONS

    names = list(classes) if classes is not None else list(EMOTIONS)
    config = TrainConfig.from_dict(
        method="zeroshot", backbone=backbone, weights=weights, seed=seed, accelerator="cpu", num_workers=0
    )
    cache = PromptEmbeddingCache()
    with torch.random.fork_rng(devices=[]):  # seed the weights without touching the caller's RNG
        torch.manual_seed(seed)
        method = build_method(
            config,
            _stub_table(names, config.views, len(names)),
            classes=names,
            device=device,
            prompt_cache=cache,
        )
    source = f"zero-shot {backbone} ({'random weights' if weights is None else weights})"
    return _finish(method, source, trained=weights is not None, cache=cache)


# ---------------------------------------------------------------------------------------------
# Inputs


def _name_and_bytes(item: Any, what: str, max_bytes: int) -> tuple[str, bytes]:
    """(name, content) of a path, raw bytes, a ``(name, bytes)`` pair or an uploaded file object."""
    if isinstance(item, (str, os.PathLike)):
        path = Path(item)
        if not path.is_file():
            raise InputError(f"{what} {path}: no such file")
        size = path.stat().st_size
        if size > max_bytes:
            raise InputError(
                f"{what} {path.name}: {size / 2**20:.1f} MiB exceeds the {max_bytes / 2**20:.0f} MiB limit"
            )
        return path.name, path.read_bytes()
    if isinstance(item, tuple) and len(item) == 2:
        name, data = str(item[0]), item[1]
    elif isinstance(item, (bytes, bytearray)):
        name, data = "<bytes>", item
    elif hasattr(item, "getvalue") or hasattr(item, "read"):  # Streamlit UploadedFile, BytesIO, open file
        name = str(getattr(item, "name", "<upload>"))
        size = getattr(item, "size", None)
        if isinstance(size, int) and size > max_bytes:
            raise InputError(
                f"{what} {name}: {size / 2**20:.1f} MiB exceeds the {max_bytes / 2**20:.0f} MiB limit"
            )
        data = item.getvalue() if hasattr(item, "getvalue") else item.read()
    else:
        raise InputError(f"{what}: unsupported input of type {type(item).__name__}")
    data = bytes(data)
    if len(data) > max_bytes:
        raise InputError(
            f"{what} {name}: {len(data) / 2**20:.1f} MiB exceeds the {max_bytes / 2**20:.0f} MiB limit"
        )
    return name, data


def _view_rank(name: str) -> int | None:
    """0/1/2 when a file name names exactly one of left/front/right, else None."""
    lowered = Path(name).stem.lower()
    hits = [i for i, view in enumerate(VIEW_NAMES) if view in lowered]
    return hits[0] if len(hits) == 1 else None


def _decode_image(name: str, data: bytes, size: int, max_pixels: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise InputError(f"image {name}: the file is empty")
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            if width * height > max_pixels:
                raise InputError(
                    f"image {name}: {width}x{height} pixels exceeds the limit of "
                    f"{max_pixels / 1e6:.0f} megapixels"
                )
            rgb = img.convert("RGB")
            if rgb.size != (size, size):
                rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(rgb, dtype=np.uint8).copy()
    except InputError:
        raise
    except UnidentifiedImageError:
        raise InputError(f"image {name}: not an image file (PIL cannot identify it)") from None
    except Image.DecompressionBombError as err:
        raise InputError(f"image {name}: refused as too large ({err})") from None
    except (OSError, ValueError, SyntaxError) as err:  # truncated / corrupt data
        raise InputError(f"image {name}: cannot be decoded ({type(err).__name__}: {err})") from None


def views_from_images(
    files: Sequence[Any],
    size: int = 224,
    max_bytes: int = MAX_IMAGE_BYTES,
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> np.ndarray:
    """Three view images (left, front, right) → uint8 (3, size, size, 3).

    The order is the given one, unless every file name names exactly one different view
    (``..._left.png``, ``..._front.png``, ``..._right.png``): then the names decide.

    Args:
        files: paths, raw bytes, ``(name, bytes)`` pairs or uploaded-file objects (``.name``,
            ``.getvalue()``).
        size: side length the images are resized to (bilinear, as the training pipeline does).
        max_bytes, max_pixels: per-image limits on the file size and the decoded pixel count.

    Raises:
        InputError: not exactly three images, a file over the limits, an unreadable or non-image file.
    """
    files = list(files or [])
    if len(files) != len(VIEW_NAMES):
        raise InputError(f"expected exactly 3 view images ({', '.join(VIEW_NAMES)}), got {len(files)}")
    named = [_name_and_bytes(f, "image", max_bytes) for f in files]
    ranks = [_view_rank(name) for name, _ in named]
    if None not in ranks and sorted(ranks) == [0, 1, 2]:
        named = [named[ranks.index(i)] for i in range(3)]
    return np.stack([_decode_image(name, data, int(size), max_pixels) for name, data in named])


def _check_mesh_file(path: Path, max_bytes: int) -> None:
    if path.suffix.lower() not in MESH_EXTENSIONS:
        raise InputError(
            f"mesh {path.name}: unsupported extension {path.suffix!r}; "
            f"supported: {', '.join(MESH_EXTENSIONS)}"
        )
    if path.is_file() and path.stat().st_size > max_bytes:
        raise InputError(
            f"mesh {path.name}: {path.stat().st_size / 2**20:.1f} MiB exceeds the "
            f"{max_bytes / 2**20:.0f} MiB limit"
        )


def views_from_mesh(
    mesh: str | Path | Mesh,
    yaws: Sequence[float] = VIEW_YAWS,
    size: int = 224,
    max_bytes: int = MAX_MESH_BYTES,
) -> np.ndarray:
    """Render a mesh file (``.wrl``, ``.obj``, ``.ply``, ``.bnt``, ...) or `Mesh` into its views.

    Returns:
        uint8 (V, size, size, 3) shaded views (`fervlm.render.render_views`).

    Raises:
        InputError: unsupported extension or a file over the size limit.
        MeshFormatError: the file cannot be read (its message names the file and the problem).
    """
    from fervlm.io import load_mesh
    from fervlm.render import render_views

    if not isinstance(mesh, Mesh):
        path = Path(mesh)
        _check_mesh_file(path, max_bytes)
        mesh = load_mesh(path)
    return render_views(mesh, yaws=tuple(yaws), size=int(size))


def views_from_sequence(
    frames: str | Path | Sequence[str | Path | Mesh],
    yaws: Sequence[float] = VIEW_YAWS,
    size: int = 224,
    max_bytes: int = MAX_MESH_BYTES,
    max_frames: int = MAX_SEQUENCE_FRAMES,
) -> np.ndarray:
    """A 4D sequence → one dynamic image per view (`fervlm.dynamic.dynamic_views`, approximate rank pooling).

    Args:
        frames: a sequence folder (frames listed by `fervlm.datasets.sequence_frames`), or mesh files
            (sorted by the frame number in their names, as in a folder) or `Mesh` objects in temporal order.
        yaws, size: the views to render.
        max_bytes: per-file size limit; max_frames: longest sequence accepted.

    Raises:
        InputError: fewer than 2 or more than ``max_frames`` frames, a file with another extension or
            over the size limit. MeshFormatError: a frame that cannot be read.
    """
    from fervlm.datasets import frame_number, sequence_frames
    from fervlm.dynamic import dynamic_views

    if isinstance(frames, (str, os.PathLike)):
        try:
            items: list[Any] = list(sequence_frames(frames))
        except FileNotFoundError as err:
            raise InputError(str(err)) from None
    else:
        items = list(frames)
        if all(isinstance(f, (str, os.PathLike)) for f in items):

            def key(p: Any) -> tuple[int, int, str]:
                n = frame_number(p)
                return (0, n, Path(p).name) if n is not None else (1, 0, Path(p).name)

            items = sorted(items, key=key)
    if len(items) < 2:
        raise InputError(f"a 4D sequence needs at least 2 mesh frames, got {len(items)}")
    if len(items) > max_frames:
        raise InputError(f"a 4D sequence of {len(items)} frames exceeds the limit of {max_frames}")
    for item in items:
        if not isinstance(item, Mesh):
            _check_mesh_file(Path(item), max_bytes)
    return dynamic_views(items, yaws=tuple(yaws), size=int(size))


def save_uploads(
    files: Sequence[Any],
    folder: str | Path,
    extensions: Sequence[str] = MESH_EXTENSIONS,
    max_bytes: int = MAX_MESH_BYTES,
) -> list[Path]:
    """Write uploaded files (``(name, bytes)`` pairs or uploaded-file objects) into ``folder``.

    Mesh readers take paths, so uploads are stored under their base names (never a path the upload
    names) in a folder the caller owns.

    Raises:
        InputError: a file with another extension, over the size limit, or two files with one name.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    allowed = tuple(e.lower() for e in extensions)
    paths: list[Path] = []
    for item in files:
        name, data = _name_and_bytes(item, "mesh", max_bytes)
        base = Path(name).name
        if Path(base).suffix.lower() not in allowed:
            raise InputError(
                f"file {base}: unsupported extension {Path(base).suffix!r}; supported: {', '.join(allowed)}"
            )
        if not data:  # a reader would fail on it with a message naming our temporary copy
            raise InputError(f"mesh {base}: the file is empty")
        target = folder / base
        if target in paths:
            raise InputError(f"file {base}: uploaded twice")
        target.write_bytes(data)
        paths.append(target)
    return paths


# ---------------------------------------------------------------------------------------------
# Synthetic examples


def example_mesh(emotion: str, seed: int = 0, intensity: int = 4, resolution: int = 5000) -> Mesh:
    """A synthetic face (`fervlm.synth`) showing ``emotion``: subject and AU jitter drawn from ``seed``."""
    from fervlm.synth import FaceRig, sample_subject, synthesize_expression

    rig = FaceRig.build(sample_subject(np.random.default_rng(seed)), resolution)
    return synthesize_expression(rig, emotion, int(intensity), np.random.default_rng([seed, 1]))


def example_sequence(emotion: str, seed: int = 0, frames: int = 6, resolution: int = 5000) -> list[Mesh]:
    """A synthetic 4D onset: the same face from neutral (intensity 0) to the apex (4) in ``frames`` steps.

    Every frame draws its AU jitter from the same stream, so only the expression's strength changes
    along the sequence (what rank pooling summarises).
    """
    from fervlm.synth import FaceRig, sample_subject, synthesize_expression

    if frames < 2:
        raise ValueError(f"frames={frames}: a sequence needs at least 2")
    rig = FaceRig.build(sample_subject(np.random.default_rng(seed)), resolution)
    levels = np.rint(np.linspace(0, 4, frames)).astype(int)
    return [
        synthesize_expression(
            rig, emotion if level else "neutral", int(level), np.random.default_rng([seed, 1])
        )
        for level in levels
    ]


def example_micro_sequence(label: str, seed: int = 0, frames: int = 6, resolution: int = 5000) -> list[Mesh]:
    """A synthetic micro-expression onset (4DME's classes): a brief, low-intensity AU burst.

    The AUs are the class's first combination in `fervlm.synth.MICRO_AUS` at the strength the synthetic
    4DME layout draws (0.2-0.4 of the subject's gain), ramped from neutral to the apex over ``frames``.
    """
    from fervlm.synth import AU_NAMES, MICRO_AUS, FaceRig, sample_subject

    if label not in MICRO_AUS:
        raise ValueError(f"label={label!r}: not a micro-expression class ({', '.join(MICRO_AUS)})")
    if frames < 2:
        raise ValueError(f"frames={frames}: a sequence needs at least 2")
    rng = np.random.default_rng([seed, 2])
    rig = FaceRig.build(sample_subject(np.random.default_rng(seed)), resolution)
    apex = np.zeros(len(AU_NAMES))
    for au in MICRO_AUS[label][0]:
        apex[AU_NAMES.index(au)] = rng.uniform(0.2, 0.4) * rig.subject.au_gain[au]
    meshes = []
    for level in np.linspace(0.0, 1.0, frames):
        act = level * apex
        vertices = rig.deform(act)
        meshes.append(
            Mesh(
                vertices=vertices,
                faces=rig.model.faces,
                uv=rig.model.uv,
                vertex_labels=rig.labels(act),
                landmarks=vertices[rig.model.landmarks83],
            )
        )
    return meshes


def example_inputs(emotions: Sequence[str] | None = None, seed: int = 0) -> dict[str, Mesh]:
    """One synthetic face per emotion (the six basic emotions by default), all of the same subject."""
    from fervlm.synth import EMOTIONS, FaceRig, sample_subject, synthesize_expression

    rig = FaceRig.build(sample_subject(np.random.default_rng(seed)))
    return {
        e: synthesize_expression(rig, e, 4, np.random.default_rng([seed, 1]))
        for e in (emotions if emotions is not None else EMOTIONS)
    }
