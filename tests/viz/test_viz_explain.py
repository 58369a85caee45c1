"""Tests for fervlm.viz.explain: the Grad-CAM figures draw given maps, masks and scores (nothing computed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from fervlm.explain import ExplainSet, active_region_mask
from fervlm.synth import AU_NAMES
from fervlm.viz.explain import cam_figure, plot_view_cams, pointing_bar_chart


def test_plot_view_cams_grid():
    images = np.zeros((2, 3, 8, 8, 3), np.uint8)
    cams = np.random.default_rng(0).random((2, 3, 8, 8)).astype(np.float32)
    fig = plot_view_cams(images, cams, titles=["-30", "0", "30"], row_labels=["a", "b"])
    assert len(fig.axes) == 2 * 2 * 3
    assert fig.axes[0].get_title() == "-30"
    assert len(plot_view_cams(images[0], cams[0], show_images=False).axes) == 3
    with pytest.raises(ValueError, match="titles"):
        plot_view_cams(images, cams, titles=["x"])


def _explain_set(n: int = 2, v: int = 3, size: int = 16) -> ExplainSet:
    bits = np.zeros((n, v, size, size), dtype=np.int64)
    bits[:, :, 10:13, 4:12] = 1 << AU_NAMES.index("AU12")  # lip corners: happiness
    bits[:, :, 3:5, 3:13] = 1 << AU_NAMES.index("AU4")  # brows: not part of happiness
    labels = ["happiness"] * n
    rgb = np.full((n, v, size, size, 3), 80, dtype=np.uint8)
    return ExplainSet(
        images=torch.zeros(n, v, 3, size, size),
        rgb=rgb,
        bits=bits,
        masks=np.stack([active_region_mask(bits[i], labels[i]) for i in range(n)]),
        foreground=rgb.max(axis=-1) > 0,
        labels=labels,
        sample_ids=[f"s{i}" for i in range(n)],
        yaws=[-30.0, 0.0, 30.0][:v],
    )


def test_cam_figure_marks_the_maximum_and_outlines_the_regions() -> None:
    data = _explain_set()
    cams = np.zeros((2, 3, 16, 16), dtype=np.float32)
    cams[:, :, 11, 7] = 1.0  # the maximum, inside the mouth region
    fig = cam_figure(data, cams, [0, 1], ["happiness", "anger"], title="t")
    assert len(fig.axes) == 2 * 3
    first = fig.axes[0]
    x, y = first.lines[0].get_data()
    assert (float(x[0]), float(y[0])) == (7.0, 11.0)  # the cross sits on the map's maximum
    assert first.get_title() == "yaw -30°"
    assert "→ anger" in fig.axes[3].get_ylabel()
    assert len(first.collections) >= 1  # the mouth outline (happiness = AU6 + AU12; no brows)


def test_pointing_bar_chart_draws_the_table() -> None:
    table = pd.DataFrame(
        {
            "backbone": ["vit", "vit", "resnet"],
            "views": ["overall", "-30", "overall"],
            "hit_rate": [0.5, 0.25, 0.75],
            "random_image": [0.1, 0.1, 0.1],
            "random_face": [0.2, 0.2, 0.2],
        }
    )
    fig = pointing_bar_chart(table)
    heights = [round(p.get_height(), 6) for p in fig.axes[0].patches]
    assert heights[:3] == [0.5, 0.25, 0.75]  # the Grad-CAM bars first, in table order
    assert len(heights) == 9
