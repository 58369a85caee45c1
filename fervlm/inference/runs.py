"""The trained runs under an outputs folder, as the app's model picker lists them.

:func:`find_runs` finds every fold folder that holds a loadable model — a ``last.ckpt`` written by
`fervlm.train.fit_fold` or a fitted pixel baseline's ``pixels.npz`` — beside its ``config.json``, and reads
what the picker shows from ``config.json`` and ``metrics.json`` (:class:`RunInfo`); :func:`best_first` orders
them by test accuracy. Unreadable files cost a run its details, never the listing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["METHOD_NAMES", "RunInfo", "best_first", "find_runs"]


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
    """A run's JSON file as a dict; ValueError naming the file when it is unreadable or not an object."""
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
    (``pixels.npz``, `fervlm.inference.pixels`) so the page can compare with them. A missing folder
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
                from fervlm.inference.pixels import pixels_label

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
