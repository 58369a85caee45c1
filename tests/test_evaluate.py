"""Tests for fervlm.evaluate: hand-computed metrics, invariances, prototype prediction, summaries, I/O."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fervlm.evaluate import (
    classification_metrics,
    clustering_metrics,
    format_summary,
    prototype_predict,
    read_metrics,
    softmax_probs,
    summarize,
    write_metrics,
)

# A 3-class example worked out by hand.
#   true 0 -> predicted 0, 0, 1       true 1 -> 1, 2       true 2 -> 2, 2, 2, 0
Y_TRUE = [0, 0, 0, 1, 1, 2, 2, 2, 2]
Y_PRED = [0, 0, 1, 1, 2, 2, 2, 2, 0]
CLASSES = ["anger", "disgust", "fear"]


def test_classification_metrics_hand_computed() -> None:
    m = classification_metrics(Y_TRUE, Y_PRED, CLASSES)
    # Rows = true class, columns = predicted class.
    assert m["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [1, 0, 3]]
    assert m["accuracy"] == pytest.approx(6 / 9)
    # class 0: TP 2, FP 1, FN 1 -> P = R = F1 = 2/3
    # class 1: TP 1, FP 1, FN 1 -> 1/2;  class 2: TP 3, FP 1, FN 1 -> 3/4.
    expected_f1 = {"anger": 2 / 3, "disgust": 1 / 2, "fear": 3 / 4}
    for c, f in expected_f1.items():
        assert m["per_class_f1"][c] == pytest.approx(f)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1 / 2 + 3 / 4) / 3)
    assert m["support"] == {"anger": 3, "disgust": 2, "fear": 4}
    assert m["n"] == 9


def test_classification_metrics_names_tensors_and_absent_class() -> None:
    names = [CLASSES[i] for i in Y_TRUE]
    m_names = classification_metrics(names, torch.tensor(Y_PRED), CLASSES)
    assert m_names["accuracy"] == pytest.approx(6 / 9)
    # A class absent from both true and predicted labels still gets a row and column of zeros and a NaN F1,
    # and does not pull macro-F1 down.
    m4 = classification_metrics(Y_TRUE, Y_PRED, [*CLASSES, "happiness"])
    cm = np.asarray(m4["confusion_matrix"])
    assert cm.shape == (4, 4) and cm[3].sum() == 0 and cm[:, 3].sum() == 0
    assert math.isnan(m4["per_class_f1"]["happiness"])
    assert m4["macro_f1"] == pytest.approx((2 / 3 + 1 / 2 + 3 / 4) / 3)
    with pytest.raises(ValueError, match=r"y_pred: labels \['joy'\] are not in classes"):
        classification_metrics(["anger"], ["joy"], CLASSES)
    with pytest.raises(ValueError, match="outside"):
        classification_metrics([0], [3], CLASSES)
    with pytest.raises(ValueError, match="9 labels but y_pred has 2"):
        classification_metrics(Y_TRUE, [0, 1], CLASSES)


def test_clustering_accuracy_hand_computed_and_permutation_invariant() -> None:
    y = np.array([0, 0, 0, 1, 1, 1])
    c = np.array([5, 5, 7, 7, 7, 9])
    # Contingency: label 0 -> {5: 2, 7: 1}; label 1 -> {7: 2, 9: 1}. Best one-to-one: 5->0, 7->1 -> 4/6.
    m = clustering_metrics(y, c)
    assert m["cluster_acc"] == pytest.approx(4 / 6)
    assert m["n_clusters"] == 3
    rng = np.random.default_rng(0)
    y_rand = rng.integers(0, 4, size=200)
    c_rand = np.where(rng.random(200) < 0.7, y_rand, rng.integers(0, 5, size=200))
    base = clustering_metrics(y_rand, c_rand)
    for _ in range(3):
        perm = rng.permutation(5)
        permuted = clustering_metrics(y_rand, perm[c_rand])
        for key in ("cluster_acc", "nmi", "ari"):
            assert permuted[key] == pytest.approx(base[key])


def test_perfect_relabelled_clustering_scores_one() -> None:
    y = np.repeat(np.arange(4), 5)
    clusters = np.array([3, 0, 2, 1])[y] + 10  # a renamed, shifted copy of the labels
    m = clustering_metrics(y, clusters)
    assert m["cluster_acc"] == pytest.approx(1.0)
    assert m["nmi"] == pytest.approx(1.0)
    assert m["ari"] == pytest.approx(1.0)


def test_prototype_predict_on_constructed_embeddings() -> None:
    gen = torch.Generator().manual_seed(0)
    prototypes = torch.linalg.qr(torch.randn(16, 4, generator=gen))[0].T * 3.0  # 4 orthogonal, unnormalised
    truth = torch.arange(20) % 4
    z = prototypes[truth] * torch.rand(20, 1, generator=gen).add(0.5) + 0.2 * torch.randn(
        20, 16, generator=gen
    )
    pred, scores = prototype_predict(z, prototypes)
    assert pred.dtype == torch.int64 and scores.shape == (20, 4)
    assert torch.equal(pred, truth)
    # Scores are cosine similarities (reference formula).
    ref = (z @ prototypes.T) / (z.norm(dim=1, keepdim=True) * prototypes.norm(dim=1)[None])
    torch.testing.assert_close(scores, ref)
    probs = softmax_probs(scores, logit_scale=10.0)
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(20))
    torch.testing.assert_close(probs, torch.softmax(10.0 * scores, dim=1))
    assert torch.equal(probs.argmax(dim=1), pred)
    with pytest.raises(ValueError, match="dimension"):
        prototype_predict(z, prototypes[:, :8])


def test_summarize_against_numpy() -> None:
    rng = np.random.default_rng(0)
    folds = []
    for _ in range(5):
        y = rng.integers(0, 3, size=30)
        p = np.where(rng.random(30) < 0.7, y, rng.integers(0, 3, size=30))
        folds.append(classification_metrics(y, p, CLASSES) | clustering_metrics(y, p))
    s = summarize(folds)
    acc = np.array([f["accuracy"] for f in folds])
    assert s["accuracy"]["mean"] == pytest.approx(acc.mean())
    assert s["accuracy"]["std"] == pytest.approx(acc.std(ddof=0))
    assert summarize(folds, ddof=1)["accuracy"]["std"] == pytest.approx(acc.std(ddof=1))
    assert s["nmi"]["mean"] == pytest.approx(np.mean([f["nmi"] for f in folds]))
    f1_fear = np.array([f["per_class_f1"]["fear"] for f in folds])
    assert s["per_class_f1"]["fear"]["mean"] == pytest.approx(f1_fear.mean())
    np.testing.assert_array_equal(
        s["confusion_matrix"], np.sum([f["confusion_matrix"] for f in folds], axis=0)
    )
    assert s["n_folds"] == 5
    line = format_summary(s)
    assert line == (
        f"accuracy {acc.mean():.3f} ± {acc.std():.3f}, "
        f"macro_f1 {s['macro_f1']['mean']:.3f} ± {s['macro_f1']['std']:.3f} (5 folds)"
    )
    assert (
        format_summary(folds, keys=["accuracy"]) == f"accuracy {acc.mean():.3f} ± {acc.std():.3f} (5 folds)"
    )


def test_summarize_skips_nan_per_class() -> None:
    a = classification_metrics([0, 1], [0, 1], [*CLASSES[:2], "fear"])  # fear absent -> NaN
    b = classification_metrics([0, 2], [0, 2], [*CLASSES[:2], "fear"])
    s = summarize([a, b])
    assert s["per_class_f1"]["fear"]["mean"] == pytest.approx(1.0)
    assert s["per_class_f1"]["anger"]["mean"] == pytest.approx(1.0)


def test_write_read_metrics_round_trip(tmp_path) -> None:
    metrics = classification_metrics(Y_TRUE, Y_PRED, [*CLASSES, "happiness"])
    metrics["extra"] = {
        "np_float": np.float32(0.5),
        "np_int": np.int64(3),
        "arr": np.arange(3),
        "t": torch.tensor(2.0),
    }
    path = write_metrics(tmp_path / "run" / "metrics.json", metrics)
    back = read_metrics(path)
    assert back["accuracy"] == pytest.approx(6 / 9)
    assert back["per_class_f1"]["happiness"] is None  # NaN is stored as null (strict JSON)
    assert back["extra"] == {"np_float": 0.5, "np_int": 3, "arr": [0, 1, 2], "t": 2.0}
    assert back["confusion_matrix"] == metrics["confusion_matrix"]
    # The summary of re-read metrics treats null as missing.
    assert math.isnan(summarize([back])["per_class_f1"]["happiness"]["mean"])
    assert [p.name for p in path.parent.iterdir()] == ["metrics.json"]
