"""Tests for fervlm.viz.results' figure: the embedding map draws given 2-D coordinates (no UMAP inside)."""

from __future__ import annotations

import numpy as np
import pytest

from fervlm.viz.results import umap_figure


def test_umap_figure_draws_the_given_points_per_class() -> None:
    xy = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.5], [3.0, 3.0]])
    labels = np.array([0, 0, 1, 1])
    preds = np.array([0, 1, 1, 1])
    fig = umap_figure(xy, labels, preds, ["anger", "joy"], title="run")
    true_ax, pred_ax = fig.axes
    np.testing.assert_array_equal(true_ax.collections[1].get_offsets(), xy[2:])  # class 1, true labels
    np.testing.assert_array_equal(pred_ax.collections[1].get_offsets(), xy[1:])  # class 1, predictions
    assert fig._suptitle.get_text() == "run"
    with pytest.raises(ValueError, match="xy must be"):
        umap_figure(xy[:, :1], labels, preds, ["anger", "joy"])
