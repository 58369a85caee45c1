"""Grad-CAM of every test view of a trained fold, scored by the pointing game per view and overall.

The computations are `fervlm.explain.gradcam` (Grad-CAM with the target "cosine similarity to the predicted
class prototype", Selvaraju et al. 2017 eq. 1-2) and `fervlm.explain.pointing` (Zhang et al. 2016 §5.1); the
masks are `fervlm.explain.groundtruth`. The figures are `fervlm.viz.explain`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from fervlm.explain.gradcam import gradcam_views
from fervlm.explain.groundtruth import active_region_mask, resize_nearest
from fervlm.explain.pointing import pointing_game_report, random_baseline

if TYPE_CHECKING:
    from fervlm.methods.base import FERMethod


@dataclass
class ExplainSet:
    """A fold's test samples ready for Grad-CAM.

    Attributes:
        images: (N, V, 3, S, S) float, normalised for the backbone.
        rgb: (N, V, S, S, 3) uint8 views for display.
        bits: (N, V, S, S) int64 AU bit masks.
        masks: (N, V, S, S) bool regions of the active AUs of each sample's emotion.
        foreground: (N, V, S, S) bool face pixels (the renderer's background is black).
        labels: (N,) class names; sample_ids: (N,) ids.
        yaws: the V view angles.
    """

    images: torch.Tensor
    rgb: np.ndarray
    bits: np.ndarray
    masks: np.ndarray
    foreground: np.ndarray
    labels: list[str]
    sample_ids: list[str]
    yaws: list[float]


def load_explain_set(
    method: FERMethod, index_csv: str | Path, rows: Sequence[int], yaws: Sequence[float]
) -> ExplainSet:
    """Views (at the tower's input size), AU masks and face masks of the given rows of a prepared table.

    Raises:
        ValueError: the table has no ``mask_<yaw>`` column (prepare with ``masks=True``) or a row has none.
    """
    from fervlm.data import MultiviewDataset, load_table, normalization_of
    from fervlm.prepare import mask_column

    table, root = load_table(index_csv)
    rows = np.asarray(rows, dtype=np.int64)
    size = method.config.image_size or method.backbone.image_size
    mean, std = normalization_of(method.backbone.preprocess_val)
    data = MultiviewDataset(
        table.iloc[rows].reset_index(drop=True),
        root,
        views=[str(y) for y in yaws],
        classes=method.classes,
        image_size=size,
        mean=mean,
        std=std,
        augment="none",
    )
    images = torch.stack([data[i]["images"] for i in range(len(data))])
    rgb = data.cache.permute(0, 1, 3, 4, 2).numpy()
    bits = np.zeros((len(rows), len(yaws), size, size), dtype=np.int64)
    for v, yaw in enumerate(yaws):
        column = mask_column(yaw)
        if column not in table.columns:
            raise ValueError(f"{index_csv}: no {column!r} column; prepare the dataset with masks=True")
        for i, row in enumerate(rows):
            name = str(table.at[int(row), column])
            if not name:
                raise ValueError(f"{index_csv}: row {row} has no AU mask in {column!r}")
            bits[i, v] = resize_nearest(np.load(root / name), size)
    labels = [str(x) for x in table["label"].to_numpy()[rows]]
    masks = np.stack([active_region_mask(bits[i], labels[i]) for i in range(len(rows))])
    return ExplainSet(
        images=images,
        rgb=rgb,
        bits=bits,
        masks=masks,
        foreground=rgb.max(axis=-1) > 0,
        labels=labels,
        sample_ids=[str(x) for x in table["sample_id"].to_numpy()[rows]],
        yaws=[float(y) for y in yaws],
    )


def explain_fold(
    method: FERMethod,
    fold_dir: str | Path,
    index_csv: str | Path,
    yaws: Sequence[float],
    tolerance_px: float = 0.0,
    seed: int = 0,
    cam: str = "gradcam",
    stage: str = "layer4",
) -> tuple[ExplainSet, np.ndarray, np.ndarray, dict[str, Any], list[str]]:
    """Grad-CAM of every test view of a trained fold, and the pointing game per view and overall.

    `method` is the fold's trained method (`train_fold`). The test rows come from
    ``fold_dir/predictions.csv``; the maps explain the class predicted
    from the fused embedding (`fervlm.explain.gradcam_views` with ``target_class=None`` and its `cam` and
    `stage`).

    Returns:
        ``(data, cams (N, V, S, S), predicted class ids (N,), report, classes)`` where `report` maps
        ``"overall"`` and ``"view_<yaw>"`` to `fervlm.explain.pointing_game_report` results, each with two
        baselines: random maps over the image and over the face pixels (``random_face``).
    """
    fold_dir = Path(fold_dir)
    predictions = pd.read_csv(fold_dir / "predictions.csv")
    data = load_explain_set(method, index_csv, predictions["index"].to_numpy(), yaws)
    cams, classes = gradcam_views(
        method.backbone, data.images, method.prototypes, target_class=None, cam=cam, stage=stage
    )
    report: dict[str, Any] = {}
    parts = {"overall": slice(None), **{f"view_{y:g}": v for v, y in enumerate(data.yaws)}}
    for name, views in parts.items():
        entry = pointing_game_report(
            cams[:, views], data.masks[:, views], tolerance_px=tolerance_px, seed=seed
        )
        entry["random_face"] = random_baseline(
            data.masks[:, views], foreground=data.foreground[:, views], tolerance_px=tolerance_px, seed=seed
        )
        report[name] = entry
    return data, cams, classes, report, list(method.classes)


def pointing_table(reports: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per backbone × (view | overall): hit rate beside the two random baselines.

    Args:
        reports: backbone name → the `report` of `explain_fold`.
    """
    rows = []
    for backbone, report in reports.items():
        for part, entry in report.items():
            pg = entry["pointing_game"]
            rows.append(
                {
                    "backbone": backbone,
                    "views": part.removeprefix("view_"),
                    "hit_rate": pg["hit_rate"],
                    "random_image": entry["random_baseline"]["hit_rate"],
                    "random_face": entry["random_face"]["hit_rate"],
                    "ratio_to_image_baseline": entry["ratio"],
                    "n_maps": pg["n_evaluated"],
                    "n_tied_maxima": pg["n_tied"],
                }
            )
    return pd.DataFrame(rows)
