"""Predictors from a trained run's checkpoint, or an untrained zero-shot model that always works offline.

* :func:`load_predictor` rebuilds a method from a run folder written by `fervlm.train.fit_fold`
  (``fold-KK/config.json`` + ``last.ckpt``) and loads its weights **strictly**; a checkpoint that does not
  fit its config raises :class:`CheckpointMismatchError`. A pixel-baseline fold gives a
  `fervlm.inference.pixels.PixelsPredictor`.
* :func:`zero_shot_predictor` builds an untrained zero-shot model (docs/methods.md §1 with no training):
  predictions meaningless with random weights, but the app and its tests run with no trained run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from fervlm.inference.predictor import Predictor
from fervlm.inference.runs import _read_json, find_runs
from fervlm.tables import view_column
from fervlm.viewpoints import yaw_of

__all__ = ["CheckpointMismatchError", "load_predictor", "zero_shot_predictor"]


class CheckpointMismatchError(ValueError):
    """A checkpoint whose weights do not fit the method its ``config.json`` describes."""


def _stub_table(classes: Sequence[str], views: Sequence[str], n_rows: int) -> Any:
    """An index table with ``n_rows`` rows and the configured view columns, for `build_method`.

    `build_method` sizes the pseudo-label buffer by the training table and checks its view columns; the
    rows themselves never matter at inference (prompt draws and pseudo-labels are training-only).
    """
    import pandas as pd

    n = max(int(n_rows), len(classes))
    table = pd.DataFrame({"label": [classes[i % len(classes)] for i in range(n)]})
    for view in views:
        table[view_column(yaw_of(view))] = ""
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
    `fervlm.inference.pixels.PixelsPredictor` instead (no network: no Grad-CAM, no prompts).

    Args:
        path: a fold folder holding ``config.json`` and ``last.ckpt``, or the checkpoint file itself.
        device: where the model runs.

    Raises:
        FileNotFoundError: no checkpoint or no ``config.json``.
        CheckpointMismatchError: the checkpoint's method, classes or weights do not match the config.
        ValueError: an unreadable config or checkpoint, or a linear-probe run (those keep no checkpoint).
    """
    from fervlm.inference.pixels import load_pixels_predictor, pixels_model_path
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
