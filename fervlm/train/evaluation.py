"""Evaluating a fitted method on a test loader: predictions and the metrics of docs/methods.md §5."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import torch


@torch.no_grad()
def evaluate_method(method: Any, loader: Any, classes: Sequence[str]) -> tuple[dict[str, Any], pd.DataFrame]:
    """Predict every sample of ``loader`` and compute the metrics of docs/methods.md §5.

    Returns:
        (metrics, predictions): accuracy, macro-F1, per-class F1, confusion matrix, and the
        clustering accuracy / NMI / ARI of a k-means (k = number of classes) on the fused test
        embeddings; predictions has ``index``, ``label``, ``pred`` and one ``score_<class>`` per class.
    """
    from fervlm.evaluate import classification_metrics, clustering_metrics
    from fervlm.pseudo import kmeans_clusters

    method.eval()
    device = next(method.parameters(), torch.empty(0)).device  # the pixel baseline has no parameters
    preds, scores, embeddings, labels, rows = [], [], [], [], []
    for batch in loader:
        batch = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
        out = method.predict_step(batch)
        preds.append(out["pred"].cpu())
        scores.append(out["scores"].float().cpu())
        embeddings.append(out["embeddings"].float().cpu())
        labels.append(batch["label"].cpu())
        rows.append(batch["index"].cpu())
    pred, score, emb = torch.cat(preds).numpy(), torch.cat(scores).numpy(), torch.cat(embeddings)
    y, idx = torch.cat(labels).numpy(), torch.cat(rows).numpy()
    if (y < 0).any():
        raise ValueError("test split: some labels are not among the configured classes")
    metrics = classification_metrics(y, pred, list(classes))
    k = min(len(classes), len(y))
    if k >= 2:
        cluster_ids, _ = kmeans_clusters(emb, k, seed=0, n_init=4)
        metrics.update(clustering_metrics(y, cluster_ids.numpy()))
    table = pd.DataFrame({"index": idx, "label": y, "pred": pred})
    for c, name in enumerate(classes):
        table[f"score_{name}"] = score[:, c]
    return metrics, table
