"""A trained fold's fused test embeddings, and their 2-D UMAP projection (notebook 09's embedding map).

`fit_fold` saves predictions, not embeddings; `embed_test_split` re-embeds the test samples of a finished
fold with its checkpoint (the fused embedding `z_fused`, docs/methods.md §1). `umap_projection` maps them to
2-D with UMAP (McInnes, Healy & Melville, "UMAP: Uniform Manifold Approximation and Projection", JOSS 2018)
under the cosine metric, the similarity the prototypes classify with. `fervlm.viz.results.umap_figure` draws
the result.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch


def embed_test_split(fold_dir: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Re-embed a trained fold's test samples (fused embeddings are not saved by `fit_fold`).

    Returns:
        (fused embeddings (N, D), true class ids (N,), predicted ids (N,), class names).
    """
    from fervlm.data import MultiviewDataset, load_table, normalization_of
    from fervlm.experiments.explain import load_trained_method

    fold_dir = Path(fold_dir)
    index_csv = json.loads((fold_dir / "metrics.json").read_text(encoding="utf-8"))["index"]
    method = load_trained_method(fold_dir)
    predictions = pd.read_csv(fold_dir / "predictions.csv")
    table, root = load_table(index_csv)
    size = method.config.image_size or method.backbone.image_size
    mean, std = normalization_of(method.backbone.preprocess_val)
    data = MultiviewDataset(
        table,
        root,
        rows=predictions["index"].to_numpy(),
        views=method.config.views,
        classes=method.classes,
        image_size=size,
        mean=mean,
        std=std,
        augment="none",
    )
    images = torch.stack([data[i]["images"] for i in range(len(data))])
    fused, _ = method.embed(images)
    labels, preds = predictions["label"].to_numpy(), predictions["pred"].to_numpy()
    return fused.numpy(), labels, preds, list(method.classes)


def umap_projection(embeddings: np.ndarray, seed: int = 0) -> np.ndarray:
    """(N, 2) UMAP coordinates (cosine metric) of (N, D) embeddings; `n_neighbors` = max(2, min(15, N − 1)).

    Raises:
        ValueError: fewer than 3 embeddings (UMAP needs a neighbourhood) or not a 2-D array.
    """
    import umap

    embeddings = np.asarray(embeddings)
    if embeddings.ndim != 2 or len(embeddings) < 3:
        raise ValueError(f"umap_projection: need (N, D) embeddings with N >= 3, got shape {embeddings.shape}")
    n_neighbors = max(2, min(15, len(embeddings) - 1))
    return umap.UMAP(n_neighbors=n_neighbors, metric="cosine", random_state=seed).fit_transform(embeddings)
