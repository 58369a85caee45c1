"""Evaluation: prototype prediction, classification and clustering metrics, fold summaries.

Prediction follows docs/methods.md §1 for every method: `ŷ = argmax_c sim(z_fused, p_c)`, the class
whose text prototype is most cosine-similar to the fused multiview embedding. Metrics follow
docs/methods.md §5 (accuracy, macro-F1, per-class F1, confusion matrix; for the unsupervised
MultiviewVLM also clustering accuracy with Hungarian matching, NMI and ARI, §3 "Evaluation").
Results across folds are reported as mean ± std, as the three papers do.

Metric dictionaries are plain JSON-able Python (`write_metrics` converts numpy/torch scalars), so
`metrics.json` in a run folder is the single source of the numbers the notebooks print. Their figures are
`fervlm.viz.metrics`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import (
    accuracy_score,
    adjusted_rand_score,
    confusion_matrix,
    f1_score,
    normalized_mutual_info_score,
)
from sklearn.metrics.cluster import contingency_matrix

from fervlm.utils import atomic_write_text

# ---------------------------------------------------------------------------------------------
# Prediction


def prototype_predict(z: torch.Tensor, prototypes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest-prototype prediction by cosine similarity (docs/methods.md §1).

    `ŷ = argmax_c sim(z, p_c)` with `sim(a, b) = aᵀb / (‖a‖‖b‖)`. Both inputs are L2-normalised
    here, so raw projector outputs and unnormalised prototypes give the same answer.

    Args:
        z: (N, D) fused embeddings.
        prototypes: (C, D) class prototypes `p_c`.

    Returns:
        `(pred, scores)`: (N,) int64 class ids and (N, C) cosine similarities in [-1, 1].
    """
    if z.ndim != 2 or prototypes.ndim != 2:
        raise ValueError(
            f"z {tuple(z.shape)} and prototypes {tuple(prototypes.shape)} must both be 2-D (N,D)/(C,D)"
        )
    if z.shape[1] != prototypes.shape[1]:
        raise ValueError(f"z has dimension {z.shape[1]} but prototypes have {prototypes.shape[1]}")
    scores = F.normalize(z, dim=-1) @ F.normalize(prototypes.to(z.dtype), dim=-1).T
    return scores.argmax(dim=-1).long(), scores


def softmax_probs(scores: torch.Tensor, logit_scale: float = 100.0) -> torch.Tensor:
    """Class probabilities from cosine scores, as CLIP computes them: `softmax(logit_scale · s)`.

    The default 100 is CLIP's clamped `exp(logit_scale)`; pass the model's own value when known.
    """
    return torch.softmax(float(logit_scale) * scores, dim=-1)


# ---------------------------------------------------------------------------------------------
# Metrics


def _as_class_ids(y: Any, classes: Sequence[str], name: str) -> np.ndarray:
    """Class ids from ids or class names; errors name the parameter and the offending value."""
    arr = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    arr = arr.reshape(-1)
    if arr.dtype.kind in "USO":
        lookup = {c: i for i, c in enumerate(classes)}
        unknown = sorted({str(v) for v in arr if str(v) not in lookup})
        if unknown:
            raise ValueError(f"{name}: labels {unknown} are not in classes {list(classes)}")
        return np.asarray([lookup[str(v)] for v in arr], dtype=np.int64)
    if arr.dtype.kind not in "iu" and arr.size and not np.all(np.equal(np.mod(arr, 1), 0)):
        raise ValueError(f"{name}: expected integer class ids or class names, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    bad = arr[(arr < 0) | (arr >= len(classes))]
    if bad.size:
        raise ValueError(f"{name}: class ids {sorted(set(bad.tolist()))[:5]} outside [0, {len(classes)})")
    return arr


def classification_metrics(y_true: Any, y_pred: Any, classes: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class F1, confusion matrix and support (docs/methods.md §5).

    Args:
        y_true: (N,) true class ids or class names.
        y_pred: (N,) predicted class ids or class names.
        classes: all class names, in id order. Every class gets a row and column of the confusion
            matrix, even when absent from this fold.

    Returns:
        dict with `accuracy`, `macro_f1` (mean F1 over the classes that occur in `y_true` or
        `y_pred` — scikit-learn's default label set — so a fold without a class is not penalised
        for it), `per_class_f1` {class: F1, NaN for a class neither true nor predicted},
        `confusion_matrix` (list of lists, rows = true class, columns = predicted), `support`
        {class: number of true samples}, `n` and `classes`.
    """
    classes = [str(c) for c in classes]
    t = _as_class_ids(y_true, classes, "y_true")
    p = _as_class_ids(y_pred, classes, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} labels but y_pred has {p.size}")
    if t.size == 0:
        raise ValueError("y_true: no samples to evaluate")
    all_ids = list(range(len(classes)))
    f1 = f1_score(t, p, labels=all_ids, average=None, zero_division=0.0)
    present = np.zeros(len(classes), dtype=bool)
    present[np.unique(np.concatenate([t, p]))] = True
    per_class = {c: (float(f1[i]) if present[i] else math.nan) for i, c in enumerate(classes)}
    cm = confusion_matrix(t, p, labels=all_ids)
    return {
        "accuracy": float(accuracy_score(t, p)),
        "macro_f1": float(np.mean(f1[present])),
        "per_class_f1": per_class,
        "confusion_matrix": cm.astype(int).tolist(),
        "support": {c: int(n) for c, n in zip(classes, cm.sum(axis=1), strict=True)},
        "n": int(t.size),
        "classes": classes,
    }


def clustering_metrics(y_true: Any, cluster_ids: Any) -> dict[str, float]:
    """Clustering accuracy (Hungarian), NMI and ARI (docs/methods.md §3 "Evaluation", §5).

    Clustering accuracy is `max_m (1/N) Σ_i 1[y_i = m(c_i)]` over one-to-one maps `m` from clusters
    to labels, solved with `scipy.optimize.linear_sum_assignment` on the contingency table. With
    more clusters than labels the unmatched clusters count as wrong (the usual convention), so the
    score is invariant to renaming clusters but never rewarded for over-clustering.

    Args:
        y_true: (N,) true labels (ids or names).
        cluster_ids: (N,) cluster assignments (any hashable ids).

    Returns:
        dict with `cluster_acc`, `nmi`, `ari` and `n_clusters`.
    """
    t = y_true.detach().cpu().numpy() if isinstance(y_true, torch.Tensor) else np.asarray(y_true)
    c = (
        cluster_ids.detach().cpu().numpy()
        if isinstance(cluster_ids, torch.Tensor)
        else np.asarray(cluster_ids)
    )
    t, c = t.reshape(-1), c.reshape(-1)
    if t.shape != c.shape:
        raise ValueError(f"y_true has {t.size} labels but cluster_ids has {c.size}")
    if t.size == 0:
        raise ValueError("y_true: no samples to evaluate")
    table = contingency_matrix(t, c)  # (labels, clusters)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return {
        "cluster_acc": float(table[rows, cols].sum() / t.size),
        "nmi": float(normalized_mutual_info_score(t, c)),
        "ari": float(adjusted_rand_score(t, c)),
        "n_clusters": int(table.shape[1]),
    }


# ---------------------------------------------------------------------------------------------
# Summaries over folds


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _mean_std(values: Sequence[float], ddof: int) -> dict[str, Any]:
    arr = np.asarray([math.nan if v is None else float(v) for v in values], dtype=np.float64)
    finite = arr[~np.isnan(arr)]
    mean = float(finite.mean()) if finite.size else math.nan
    std = float(finite.std(ddof=ddof)) if finite.size > ddof else math.nan
    return {"mean": mean, "std": std, "values": arr.tolist()}


def summarize(metrics_per_fold: Sequence[Mapping[str, Any]], ddof: int = 0) -> dict[str, Any]:
    """Mean ± std over folds of every scalar metric, per-class F1, and the summed confusion matrix.

    The standard deviation is the **population** std (`ddof=0`, numpy's default and what
    `sklearn.model_selection.cross_val_score(...).std()` gives) unless `ddof=1` is passed for the
    sample std. NaN entries (a class absent from a fold) are left out of that metric's mean/std.

    Args:
        metrics_per_fold: one metrics dict per fold (e.g. `classification_metrics` merged with
            `clustering_metrics`).
        ddof: delta degrees of freedom of the std.

    Returns:
        `{metric: {"mean", "std", "values"}}` for every scalar metric present in all folds, plus
        `per_class_f1: {class: {"mean", "std", "values"}}`, `confusion_matrix` (sum over folds,
        when every fold has one), `n_folds` and `ddof`.
    """
    if not metrics_per_fold:
        raise ValueError("metrics_per_fold: empty; nothing to summarise")
    first = metrics_per_fold[0]
    out: dict[str, Any] = {}
    for key, value in first.items():
        if _is_scalar(value) and all(key in m and _is_scalar(m[key]) for m in metrics_per_fold):
            out[key] = _mean_std([m[key] for m in metrics_per_fold], ddof)
    if all("per_class_f1" in m for m in metrics_per_fold):
        names = list(first["per_class_f1"])
        out["per_class_f1"] = {
            c: _mean_std([m["per_class_f1"].get(c) for m in metrics_per_fold], ddof) for c in names
        }
    if all("confusion_matrix" in m for m in metrics_per_fold):
        mats = [np.asarray(m["confusion_matrix"], dtype=np.int64) for m in metrics_per_fold]
        if len({mat.shape for mat in mats}) != 1:
            raise ValueError(
                f"confusion matrices differ in shape across folds: {[mat.shape for mat in mats]}"
            )
        out["confusion_matrix"] = np.sum(mats, axis=0).tolist()
    if "classes" in first:
        out["classes"] = list(first["classes"])
    out["n_folds"] = len(metrics_per_fold)
    out["ddof"] = ddof
    return out


def format_summary(
    summary: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    keys: Sequence[str] = ("accuracy", "macro_f1"),
    digits: int = 3,
) -> str:
    """One line such as `"accuracy 0.812 ± 0.034, macro_f1 0.790 ± 0.041 (10 folds)"`.

    Args:
        summary: the output of `summarize`, or a list of per-fold metrics (summarised here).
        keys: metrics to show, in order; keys missing from the summary are skipped.
        digits: decimals.
    """
    if not isinstance(summary, Mapping):
        summary = summarize(summary)
    parts = [
        f"{key} {summary[key]['mean']:.{digits}f} ± {summary[key]['std']:.{digits}f}"
        for key in keys
        if isinstance(summary.get(key), Mapping)
    ]
    if not parts:
        raise ValueError(f"keys {list(keys)}: none of them is a summarised metric in {sorted(summary)}")
    n = summary.get("n_folds")
    unit = "fold" if n == 1 else "folds"
    return ", ".join(parts) + (f" ({n} {unit})" if n is not None else "")


# ---------------------------------------------------------------------------------------------
# metrics.json


def _to_jsonable(obj: Any) -> Any:
    """numpy/torch/Path values → plain Python; NaN/inf → None (strict JSON has no NaN)."""
    if isinstance(obj, Mapping):
        return {str(k): _to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, torch.Tensor):
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, np.ndarray):
        return _to_jsonable(obj.tolist())
    if isinstance(obj, (list, tuple)):
        return [_to_jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_metrics(path: str | Path, metrics: Mapping[str, Any]) -> Path:
    """Write a metrics dict to JSON atomically (numpy/torch types converted, NaN written as null)."""
    text = json.dumps(_to_jsonable(metrics), indent=2, sort_keys=False, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def read_metrics(path: str | Path) -> dict[str, Any]:
    """Read a metrics JSON file written by `write_metrics` (nulls stay `None`)."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
