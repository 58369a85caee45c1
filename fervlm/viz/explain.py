"""Config, data and figures of `notebooks/07_explainability.ipynb`: Grad-CAM per view of a trained fold, and
the pointing game against the synthetic faces' Action-Unit regions.

The computations are `fervlm.explain` (Grad-CAM with the target "cosine similarity to the predicted class
prototype", Selvaraju et al. 2017 eq. 1-2; pointing game, Zhang et al. 2016 §5.1). This module loads a fold
trained by `fervlm.train.fit_fold` back from its checkpoint, collects its test views with the ground-truth
masks (the AU regions of the sample's emotion, docs/design.md "Ground truth for explanations"), and draws the
figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from fervlm.experiments import dataset_spec
from fervlm.profiles import quick_default

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from fervlm.methods.base import FERMethod
    from fervlm.methods.config import TrainConfig

__all__ = [
    "FACE_REGIONS",
    "ExplainConfig",
    "ExplainSet",
    "active_region_mask",
    "cam_figure",
    "explain_fold",
    "load_explain_set",
    "load_trained_method",
    "pointing_bar_chart",
    "pointing_table",
    "resize_nearest",
    "train_fold",
]

#: Facial regions for display: which AUs move which part of the face (FACS; the synthetic rig's AUs).
FACE_REGIONS: dict[str, tuple[str, ...]] = {
    "brows": ("AU1", "AU2", "AU4"),
    "eyes": ("AU5", "AU6", "AU7", "AU43"),
    "nose": ("AU9", "AU10"),
    "mouth": ("AU12", "AU14", "AU15", "AU17", "AU20", "AU23", "AU25", "AU26"),
}
_REGION_COLOURS = {"brows": "#76ff03", "eyes": "#00e5ff", "nose": "#ffea00", "mouth": "#ff4081"}


@dataclass
class ExplainConfig:
    """The validated parameters of notebook 07 (see its `parameters` cell for their meaning)."""

    profile: str = "quick"
    dataset: str = "synthetic_bu3dfe"
    dataset_root: str = "data/synthetic/bu3dfe"
    vit_backbone: str = "fervlm-quick"
    resnet_backbone: str = "fervlm-tiny-rn"
    weights: str = field(default_factory=quick_default("weights"))
    image_size: int = field(default_factory=quick_default("image_size"))
    views: list[int] = field(default_factory=quick_default("views"))
    epochs: int = field(default_factory=quick_default("epochs"))
    batch_size: int = field(default_factory=quick_default("batch_size"))
    lr: float = field(default_factory=quick_default("lr"))
    k_folds: int = field(default_factory=quick_default("k_folds"))
    run_folds: list[int] | str = field(default_factory=quick_default("run_folds"))
    accelerator: str = field(default_factory=quick_default("accelerator"))
    devices: int = field(default_factory=quick_default("devices"))
    num_workers: int = field(default_factory=quick_default("num_workers"))
    synthetic_subjects: int = field(default_factory=quick_default("synthetic_subjects"))
    n_show: int = 3
    tolerance_px: float = 0.0
    seed: int = field(default_factory=quick_default("seed"))
    output_dir: str = "outputs/quick/07_explainability"

    def __post_init__(self) -> None:
        if not dataset_spec(self.dataset).is_synthetic:
            raise ValueError(
                f"dataset={self.dataset!r}: the pointing game needs the AU masks that only the synthetic "
                "datasets carry; use a synthetic_* dataset"
            )
        if self.image_size < 16:
            raise ValueError(f"image_size={self.image_size}: too small to show a face (min 16)")
        if not self.views:
            raise ValueError("views: give at least one yaw angle")
        if self.k_folds < 2:
            raise ValueError(f"k_folds={self.k_folds}: need at least 2 folds")
        if isinstance(self.run_folds, str) and self.run_folds != "all":
            raise ValueError(f"run_folds={self.run_folds!r}: a list of fold numbers or 'all'")
        if isinstance(self.run_folds, list) and not self.run_folds:
            raise ValueError("run_folds: give at least one fold")
        if not 0 <= self.fold < self.k_folds:
            raise ValueError(f"run_folds={self.run_folds}: fold {self.fold} outside 0..{self.k_folds - 1}")
        if self.n_show < 1:
            raise ValueError(f"n_show={self.n_show}: show at least one sample")
        if self.tolerance_px < 0:
            raise ValueError(f"tolerance_px={self.tolerance_px}: must be >= 0")

    @property
    def fold(self) -> int:
        """The fold that is trained and explained: the first of `run_folds` ("all" means fold 0)."""
        return 0 if isinstance(self.run_folds, str) else int(self.run_folds[0])

    @property
    def backbones(self) -> dict[str, str]:
        """Tower kind → backbone name, e.g. ``{"vit": "fervlm-quick", "resnet": "fervlm-tiny-rn"}``."""
        return {"vit": self.vit_backbone, "resnet": self.resnet_backbone}

    def tower_weights(self, backbone: str) -> str:
        """The weights a tower starts from: `weights`, except that the FACS prior (``facs``) exists for the
        ResNet tower only — `fervlm pretrain` builds it for the profile's ResNet, because tiny ViTs do not
        learn from scratch in a CPU budget — so with ``facs`` the ViT tower starts from random weights."""
        if str(self.weights).strip().lower() == "facs" and backbone != self.resnet_backbone:
            return "none"
        return self.weights

    def train_config(self, backbone: str) -> TrainConfig:
        """AffectVLM's quick-profile training config for one backbone, at the backbone's own input size.

        The views are rendered at `image_size` and resized to the tower's `image_size` by the data loader
        (`image_size=None` in the config): a ModifiedResNet's attention pool only accepts its own size.
        """
        from fervlm.methods.config import load_config

        return load_config(
            profile="quick",
            method="affectvlm",
            backbone=backbone,
            weights=self.tower_weights(backbone),
            views=tuple(str(v) for v in self.views),
            batch_size=self.batch_size,
            lr=self.lr,
            folds=self.k_folds,
            seed=self.seed,
            accelerator=self.accelerator,
            devices=self.devices,
            num_workers=self.num_workers,
            **({"epochs": self.epochs} if self.epochs else {}),  # 0: the profile's default
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# Loading a trained fold back


def load_trained_method(fold_dir: str | Path) -> FERMethod:
    """The method a `fit_fold` run trained, with its final weights (``fold_dir/last.ckpt``), in eval mode.

    A thin view on `fervlm.inference.load_predictor`, which rebuilds the method from ``config.json`` and loads
    the checkpoint strictly, with the class prototypes recomputed from the loaded text tower.
    """
    from fervlm.inference import load_predictor

    return load_predictor(fold_dir).method


def _keep_method_callback() -> Any:
    """A Lightning callback that keeps the module it trained (saves rebuilding it from the checkpoint)."""
    from pytorch_lightning import Callback

    class KeepMethod(Callback):
        method: Any = None

        def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
            self.method = pl_module

    return KeepMethod()


def train_fold(
    cfg: ExplainConfig, backbone: str, index_csv: str | Path, run_dir: str | Path
) -> tuple[dict[str, Any], FERMethod]:
    """Train (or resume, or read back) one AffectVLM fold with `fervlm.train.fit_fold`; return its metrics
    and the trained method, loaded from ``last.ckpt`` when the fold had already finished."""
    from fervlm.train import fit_fold, fold_dir

    keep = _keep_method_callback()
    metrics = fit_fold(cfg.train_config(backbone), index_csv, cfg.fold, run_dir, callbacks=[keep])
    method = keep.method
    if method is None:  # the fold was finished before: rebuild it from its checkpoint
        method = load_trained_method(fold_dir(run_dir, cfg.fold))
    return metrics, method.to("cpu").eval()


# ---------------------------------------------------------------------------------------------
# Ground truth


def active_region_mask(bits: np.ndarray, emotion: str) -> np.ndarray:
    """Pixels inside the region of any core AU of `emotion` (`fervlm.synth.EMOTION_AUS`).

    Args:
        bits: integer per-pixel AU bit masks (bit k = `fervlm.synth.AU_NAMES[k]`), as `prepare` renders them.
        emotion: the sample's label.

    Returns:
        bool array of `bits`' shape. Optional and noise AUs the generator may add are not part of the
        expression's prototype and are left out.
    """
    from fervlm.synth import AU_NAMES, EMOTION_AUS

    if emotion not in EMOTION_AUS:
        raise ValueError(f"emotion={emotion!r}: no AU prototype; known: {', '.join(EMOTION_AUS)}")
    wanted = sum(1 << AU_NAMES.index(au) for au in EMOTION_AUS[emotion])
    return (np.asarray(bits, dtype=np.int64) & wanted) != 0


def _region_masks(bits: np.ndarray, emotion: str) -> dict[str, np.ndarray]:
    """Active-AU pixels of `emotion` split by facial region (`FACE_REGIONS`)."""
    from fervlm.synth import AU_NAMES, EMOTION_AUS

    out = {}
    for region, aus in FACE_REGIONS.items():
        chosen = [au for au in aus if au in EMOTION_AUS[emotion]]
        if chosen:
            wanted = sum(1 << AU_NAMES.index(a) for a in chosen)
            out[region] = (np.asarray(bits, dtype=np.int64) & wanted) != 0
    return out


def resize_nearest(array: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour resize of a (H, W) array to (size, size): label maps must not be interpolated."""
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"resize_nearest: expected a 2-D array, got shape {array.shape}")
    rows = np.minimum((np.arange(size) + 0.5) * array.shape[0] / size, array.shape[0] - 1).astype(int)
    cols = np.minimum((np.arange(size) + 0.5) * array.shape[1] / size, array.shape[1] - 1).astype(int)
    return array[np.ix_(rows, cols)]


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
    from fervlm.tables import mask_column

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
) -> tuple[ExplainSet, np.ndarray, np.ndarray, dict[str, Any], list[str]]:
    """Grad-CAM of every test view of a trained fold, and the pointing game per view and overall.

    `method` is the fold's trained method (`train_fold`). The test rows come from
    ``fold_dir/predictions.csv``; the maps explain the class predicted
    from the fused embedding (`fervlm.explain.gradcam_views` with ``target_class=None``).

    Returns:
        ``(data, cams (N, V, S, S), predicted class ids (N,), report, classes)`` where `report` maps
        ``"overall"`` and ``"view_<yaw>"`` to `fervlm.explain.pointing_game_report` results, each with two
        baselines: random maps over the image and over the face pixels (``random_face``).
    """
    from fervlm.explain import gradcam_views, pointing_game_report, random_baseline

    fold_dir = Path(fold_dir)
    predictions = pd.read_csv(fold_dir / "predictions.csv")
    data = load_explain_set(method, index_csv, predictions["index"].to_numpy(), yaws)
    cams, classes = gradcam_views(method.backbone, data.images, method.prototypes, target_class=None)
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


# ---------------------------------------------------------------------------------------------
# Tables and figures


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


def pointing_bar_chart(table: pd.DataFrame) -> Figure:
    """Grouped bars: pointing-game hit rate per backbone and view beside the random-map baselines."""
    from matplotlib.figure import Figure

    groups = [(b, v) for b, v in zip(table["backbone"], table["views"], strict=True)]
    x = np.arange(len(groups))
    fig = Figure(figsize=(max(6.0, 0.9 * len(groups) + 2), 3.6))
    ax = fig.add_subplot()
    width = 0.27
    ax.bar(x - width, table["hit_rate"], width, label="Grad-CAM maximum", color="#1f77b4")
    ax.bar(x, table["random_image"], width, label="random map (image)", color="#bbbbbb")
    ax.bar(x + width, table["random_face"], width, label="random map (face pixels)", color="#777777")
    ax.set_xticks(x, [f"{b}\n{v}" for b, v in groups], fontsize=8)
    ax.set_ylabel("pointing-game hit rate")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title("Does the heatmap maximum fall in an active AU region?")
    return fig


def cam_figure(
    data: ExplainSet, cams: np.ndarray, chosen: Sequence[int], predicted: Sequence[str], title: str = ""
) -> Figure:
    """Per-view Grad-CAM overlays of a few samples, with the active AU regions outlined by facial region.

    One row per sample, one column per view; contours: brows green, eyes cyan, nose yellow, mouth pink;
    a cross marks the map's maximum (what the pointing game scores).
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from fervlm.explain import overlay

    chosen = list(chosen)
    n_views = len(data.yaws)
    fig = Figure(figsize=(2.2 * n_views, 2.3 * len(chosen) + 0.6))
    axes = fig.subplots(len(chosen), n_views, squeeze=False)
    for r, i in enumerate(chosen):
        for v in range(n_views):
            ax = axes[r, v]
            ax.imshow(overlay(data.rgb[i, v], cams[i, v], image_weight=0.55))
            for region, mask in _region_masks(data.bits[i, v], data.labels[i]).items():
                if mask.any():
                    colour = _REGION_COLOURS[region]
                    ax.contour(mask.astype(float), levels=[0.5], colors=colour, linewidths=0.9)
            y, x = np.unravel_index(int(np.argmax(cams[i, v])), cams[i, v].shape)
            ax.plot(x, y, marker="x", color="black", markersize=8, mew=2)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"yaw {data.yaws[v]:+g}°", fontsize=9)
            if v == 0:
                ax.set_ylabel(f"{data.labels[i]}\n→ {predicted[r]}", fontsize=8)
    handles = [Line2D([], [], color=c, label=name) for name, c in _REGION_COLOURS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
