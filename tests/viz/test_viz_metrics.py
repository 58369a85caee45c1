"""Tests for fervlm.viz.metrics: the figures of evaluation metrics draw what fervlm.evaluate computed."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from fervlm.evaluate import classification_metrics, summarize
from fervlm.viz.metrics import plot_confusion, plot_fold_accuracies, plot_per_class_f1

Y_TRUE = [0, 0, 0, 1, 1, 2, 2, 2, 2]
Y_PRED = [0, 0, 1, 1, 2, 2, 2, 2, 0]
CLASSES = ["anger", "disgust", "fear"]


def test_plots_return_figures() -> None:
    m = classification_metrics(Y_TRUE, Y_PRED, CLASSES)
    fig = plot_confusion(m["confusion_matrix"], CLASSES)
    assert isinstance(fig, Figure)
    cell_texts = [t.get_text() for t in fig.axes[0].texts]
    assert cell_texts[0] == f"{2 / 3:.2f}"  # row-normalised: 2 of 3 anger samples correct
    counts = plot_confusion(m["confusion_matrix"], CLASSES, normalize=False)
    assert counts.axes[0].texts[0].get_text() == "2"
    folds = [m, classification_metrics(Y_TRUE, Y_TRUE, CLASSES)]
    fig2 = plot_fold_accuracies(folds)
    assert [round(p.get_height(), 6) for p in fig2.axes[0].patches] == [round(6 / 9, 6), 1.0]
    f1 = summarize(folds)["per_class_f1"]
    fig3 = plot_per_class_f1(f1)
    assert [p.get_width() for p in fig3.axes[0].patches] == pytest.approx([f1[c]["mean"] for c in CLASSES])
    assert [t.get_text() for t in fig3.axes[0].get_yticklabels()] == CLASSES
    with pytest.raises(ValueError, match="3 classes"):
        plot_confusion(np.eye(2), CLASSES)
