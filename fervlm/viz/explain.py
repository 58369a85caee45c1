"""Figures of `notebooks/07_explainability.ipynb`: per-view Grad-CAM overlays and the pointing game.

They only draw: the maps, masks and scores are computed by `fervlm.explain` (Grad-CAM per view, Selvaraju et
al. 2017; the pointing game, Zhang et al. 2016 §5.1; `fervlm.explain.explain_fold` for a trained fold).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from fervlm.explain.display import overlay
from fervlm.explain.groundtruth import region_masks

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from fervlm.explain.fold import ExplainSet

__all__ = ["cam_figure", "plot_view_cams", "pointing_bar_chart"]

_REGION_COLOURS = {"brows": "#76ff03", "eyes": "#00e5ff", "nose": "#ffea00", "mouth": "#ff4081"}


def plot_view_cams(
    images: np.ndarray,
    cams: np.ndarray,
    titles: Sequence[str] | None = None,
    row_labels: Sequence[str] | None = None,
    show_images: bool = True,
) -> Figure:
    """A grid of per-view Grad-CAM overlays: one column per view, one row (or two) per sample.

    Args:
        images: uint8 (V, H, W, 3) or (N, V, H, W, 3) RGB views (see `to_uint8`).
        cams: (V, H, W) or (N, V, H, W) maps in [0, 1], as returned by `gradcam_views`.
        titles: V column titles (e.g. the view yaws), or None.
        row_labels: N row labels (e.g. "happy → pred. happy"), or None.
        show_images: add a row with the plain views above each sample's overlays.

    Returns:
        a matplotlib Figure (not attached to pyplot).
    """
    from matplotlib.figure import Figure

    images = np.asarray(images)
    cams = np.asarray(cams)
    if images.ndim == 4:
        images = images[None]
        if cams.ndim == 3:
            cams = cams[None]
    if images.ndim != 5 or cams.shape != images.shape[:4]:
        raise ValueError(
            f"plot_view_cams: images (N,V,H,W,3) and cams (N,V,H,W) must agree, got {images.shape} and "
            f"{cams.shape}"
        )
    n, v = images.shape[:2]
    if titles is not None and len(titles) != v:
        raise ValueError(f"plot_view_cams: {len(titles)} titles for {v} views")
    if row_labels is not None and len(row_labels) != n:
        raise ValueError(f"plot_view_cams: {len(row_labels)} row labels for {n} samples")
    per = 2 if show_images else 1
    fig = Figure(figsize=(2.2 * v, 2.2 * n * per), layout="constrained")
    axes = np.asarray(fig.subplots(n * per, v, squeeze=False))
    for i in range(n):
        for j in range(v):
            if show_images:
                axes[i * per, j].imshow(images[i, j])
            axes[i * per + per - 1, j].imshow(overlay(images[i, j], cams[i, j]))
        if row_labels is not None:
            axes[i * per, 0].set_ylabel(row_labels[i])
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    if titles is not None:
        for j, title in enumerate(titles):
            axes[0, j].set_title(str(title))
    return fig


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

    chosen = list(chosen)
    n_views = len(data.yaws)
    fig = Figure(figsize=(2.2 * n_views, 2.3 * len(chosen) + 0.6))
    axes = fig.subplots(len(chosen), n_views, squeeze=False)
    for r, i in enumerate(chosen):
        for v in range(n_views):
            ax = axes[r, v]
            ax.imshow(overlay(data.rgb[i, v], cams[i, v], image_weight=0.55))
            for region, mask in region_masks(data.bits[i, v], data.labels[i]).items():
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
