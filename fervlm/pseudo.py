"""Pseudo-labels by clustering with multiview aggregation (MultiviewVLM §II-F, docs/methods.md §3).

MultiviewVLM pairs every sample with a prompt of its *pseudo*-label. The labels come from:

1. **Multiview aggregation**: `z̄ = normalize(mean_v normalize(z_v))` — one embedding per sample
   (`aggregate_views`, on (V, N, D) view-major embeddings, the methods' fusion too).
2. **Round 0** (`init="zeroshot"`, our choice): `argmax_c sim(z̄, p_c)` against the text prototypes
   (`fervlm.evaluate.prototype_predict`, the one nearest-prototype rule).
   With random weights this is arbitrary, so `init="kmeans"` is offered as well.
3. **Re-clustering** (`init="kmeans"`): k-means on `z̄` with k = number of classes (k-means++,
   several seeded restarts), then each cluster is *named* by a Hungarian assignment between
   normalised cluster centroids and class prototypes `p_c` that maximises total cosine similarity.
   Only the text prototypes are used, never the labels.
   **Anchored naming** (`pseudo_naming="anchor"`, the default, our choice where the paper is silent): the
   clusters of every k-means round are named by a Hungarian assignment maximising the overlap with the
   zero-shot labels of the frozen prior, computed once in round 0 (`name_clusters_by_anchor`), so names
   stay tied to the prior instead of to centroids of an image tower that moves away from the frozen text
   tower; with `"prototypes"` they are named by centroid↔prototype cosine as above.

4. **Samples outside the clustered set** (a validation split): `label_like_round` gives them the
   class of their nearest *named* centroid of the round (k-means) or of their nearest prototype
   (zero-shot) — no label is read, and the clusters are not refitted on them.

`pseudo_label_report` compares pseudo-labels with the true labels **for reporting only**.

Distributed use: this module is pure (no collectives). Under DDP the caller
(`fervlm.methods.base.FERMethod.recluster`) runs the clustering once, on rank 0, over the whole
training set, and broadcasts the assignment, so every rank trains with the same pseudo-labels
(docs/methods.md §1, "Distributed correctness").
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning

from fervlm.evaluate import clustering_metrics, prototype_predict


def aggregate_views(z: torch.Tensor) -> torch.Tensor:
    """Multiview aggregation `z̄_b = normalize(mean_v normalize(z_{v,b}))` (MultiviewVLM §II-F, eq. 4's z̄).

    The one mean-of-views fusion of the package: `fervlm.methods.base.FERMethod.fuse` (AffectVLM,
    MultiviewVLM, the baselines) and the pseudo-labelling rounds both call it, on the view-major
    layout every method and loss uses.

    Args:
        z: (V, N, D) per-view embeddings (normalised or not), views first as in the losses.

    Returns:
        (N, D) unit-norm aggregated embeddings.
    """
    if z.ndim != 3:
        raise ValueError(f"z: expected (V, N, D) per-view embeddings, got shape {tuple(z.shape)}")
    return F.normalize(F.normalize(z, dim=-1).mean(dim=0), dim=-1)


def _check_prototypes(z_bar: torch.Tensor, prototypes: torch.Tensor) -> None:
    if prototypes.ndim != 2:
        raise ValueError(f"prototypes: expected (C, D), got shape {tuple(prototypes.shape)}")
    if z_bar.ndim != 2 or z_bar.shape[1] != prototypes.shape[1]:
        raise ValueError(
            f"embeddings {tuple(z_bar.shape)} and prototypes {tuple(prototypes.shape)} "
            "must be (N, D) and (C, D)"
        )


def zero_shot_labels(z_bar: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    """Round-0 pseudo-labels `argmax_c sim(z̄, p_c)` (docs/methods.md §3, `init="zeroshot"`).

    Args:
        z_bar: (N, D) aggregated embeddings.
        prototypes: (C, D) class prototypes.

    Returns:
        (N,) int64 class ids.
    """
    _check_prototypes(z_bar, prototypes)
    return prototype_predict(z_bar, prototypes)[0]


def kmeans_clusters(
    z_bar: torch.Tensor, k: int, seed: int = 0, n_init: int = 10
) -> tuple[torch.Tensor, torch.Tensor]:
    """k-means (k-means++ seeding, `n_init` seeded restarts) on L2-normalised embeddings.

    On unit vectors squared Euclidean distance is `2 − 2·cos`, so Euclidean k-means groups by cosine
    similarity, the geometry the prototypes live in. Runs in float64 on CPU with scikit-learn.

    Degenerate data (e.g. all embeddings identical, as with a collapsed encoder) makes scikit-learn
    warn that it found fewer distinct clusters than `k`; labels are still returned (some clusters
    may then be empty) and a single `RuntimeWarning` says so.

    Args:
        z_bar: (N, D) embeddings (normalised here).
        k: number of clusters, 1 ≤ k ≤ N.
        seed: `random_state` of the k-means++ seeding and restarts.
        n_init: number of restarts; the lowest-inertia run is kept.

    Returns:
        `(cluster_ids, centroids)`: (N,) int64 and (k, D) centroids (in the input's dtype/device,
        not re-normalised).
    """
    if z_bar.ndim != 2:
        raise ValueError(f"z_bar: expected (N, D) embeddings, got shape {tuple(z_bar.shape)}")
    n = z_bar.shape[0]
    if k < 1:
        raise ValueError(f"k={k}: need at least one cluster")
    if n < k:
        raise ValueError(f"k={k} clusters but only {n} embeddings; k-means needs at least k samples")
    if n_init < 1:
        raise ValueError(f"n_init={n_init}: need at least one k-means run")
    x = F.normalize(z_bar.detach().to("cpu", torch.float64), dim=-1).numpy()
    if not np.isfinite(x).all():
        raise ValueError("z_bar: embeddings contain NaN or inf")
    model = KMeans(n_clusters=k, init="k-means++", n_init=n_init, random_state=seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        ids = model.fit_predict(x)
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        distinct = len(np.unique(ids))
        warnings.warn(
            f"kmeans_clusters: found {distinct} distinct cluster(s) for k={k} "
            "(embeddings nearly identical?); "
            "returning the labels anyway",
            RuntimeWarning,
            stacklevel=2,
        )
    cluster_ids = torch.as_tensor(ids.astype(np.int64), device=z_bar.device)
    centroids = torch.as_tensor(model.cluster_centers_, dtype=z_bar.dtype, device=z_bar.device)
    return cluster_ids, centroids


def name_clusters(centroids: torch.Tensor, prototypes: torch.Tensor) -> np.ndarray:
    """Name clusters by classes: Hungarian assignment maximising `Σ sim(centroid_k, p_{m(k)})`.

    MultiviewVLM §II-F / docs/methods.md §3: uses the text prototypes only, never labels. With as many
    clusters as classes this is a one-to-one map. With more clusters than classes the clusters left
    unmatched take their most similar prototype; with fewer, some classes receive no cluster.

    Args:
        centroids: (K, D) cluster centroids.
        prototypes: (C, D) class prototypes.

    Returns:
        (K,) int64 array: `mapping[k]` is the class id of cluster `k`.
    """
    _check_prototypes(centroids, prototypes)
    sims = (
        F.normalize(centroids.detach().to("cpu", torch.float64), dim=-1)
        @ F.normalize(prototypes.detach().to("cpu", torch.float64), dim=-1).T
    ).numpy()
    mapping = sims.argmax(axis=1).astype(np.int64)  # fallback for clusters the assignment leaves out
    rows, cols = linear_sum_assignment(sims, maximize=True)
    mapping[rows] = cols
    return mapping


def name_clusters_by_anchor(cluster_ids: torch.Tensor, anchor: torch.Tensor, n_classes: int) -> np.ndarray:
    """Name clusters by the pseudo-labels they overlap most: Hungarian on the contingency table.

    docs/methods.md §3 ("Naming later rounds"). ``contingency[k, c]`` counts the samples of cluster
    ``k`` whose *anchor* label is ``c`` (the zero-shot labels of the frozen prior, never the true
    labels); the one-to-one assignment maximising ``Σ_k contingency[k, m(k)]`` names the clusters.
    Clusters left unmatched (more clusters than classes) take their majority anchor class.

    Args:
        cluster_ids: (N,) cluster of each sample, in ``[0, K)``.
        anchor: (N,) anchor class of each sample, in ``[0, n_classes)``.
        n_classes: number of classes C.

    Returns:
        (K,) int64 array: `mapping[k]` is the class id of cluster `k`.
    """
    ids = cluster_ids.detach().cpu().numpy().reshape(-1).astype(np.int64)
    ref = anchor.detach().cpu().numpy().reshape(-1).astype(np.int64)
    if ids.shape != ref.shape:
        raise ValueError(f"cluster_ids has {ids.size} entries but anchor has {ref.size}")
    if ids.size == 0:
        raise ValueError("cluster_ids: no samples to name clusters from")
    if ids.min() < 0 or ref.min() < 0 or ref.max() >= n_classes:
        raise ValueError(f"anchor labels must be in [0, {n_classes}) and cluster ids >= 0 (anchor not set?)")
    k = int(ids.max()) + 1
    contingency = np.zeros((k, n_classes), dtype=np.int64)
    np.add.at(contingency, (ids, ref), 1)
    mapping = contingency.argmax(axis=1).astype(np.int64)
    rows, cols = linear_sum_assignment(contingency, maximize=True)
    mapping[rows] = cols
    return mapping


@dataclass
class PseudoLabels:
    """Pseudo-labels of one clustering round.

    Attributes:
        labels: (N,) int64 class ids (`mapping[cluster_ids]`).
        cluster_ids: (N,) int64 cluster of each sample (equal to `labels` for `zeroshot`).
        mapping: (K,) int64 class id of each cluster.
        cluster_sizes: samples per cluster, length K (empty clusters included).
        method: `"kmeans"` or `"zeroshot"`.
        centroids: (K, D) k-means centroids (None for `zeroshot`), used by `label_like_round`.
    """

    labels: torch.Tensor
    cluster_ids: torch.Tensor
    mapping: np.ndarray
    cluster_sizes: list[int]
    method: str
    centroids: torch.Tensor | None = None


def assign_pseudo_labels(
    z: torch.Tensor,
    prototypes: torch.Tensor,
    init: Literal["kmeans", "zeroshot"] = "kmeans",
    seed: int = 0,
    n_init: int = 10,
    anchor: torch.Tensor | None = None,
) -> PseudoLabels:
    """One pseudo-labelling round (MultiviewVLM §II-F, docs/methods.md §3).

    Args:
        z: (V, N, D) per-view embeddings (aggregated with `aggregate_views`) or (N, D) already fused.
            Under DDP: the gathered embeddings of the whole training set.
        prototypes: (C, D) class prototypes; k = C clusters.
        init: `"kmeans"` (k-means + Hungarian naming) or `"zeroshot"` (nearest prototype).
        seed: k-means seed.
        n_init: k-means restarts.
        anchor: (N,) anchor labels (the zero-shot labels of the frozen prior): k-means clusters are then
            named by `name_clusters_by_anchor` instead of by the prototypes.

    Returns:
        A `PseudoLabels`.
    """
    if z.ndim == 3:
        z_bar = aggregate_views(z)
    elif z.ndim == 2:
        z_bar = F.normalize(z, dim=-1)
    else:
        raise ValueError(f"z: expected (V, N, D) or (N, D) embeddings, got shape {tuple(z.shape)}")
    _check_prototypes(z_bar, prototypes)
    k = prototypes.shape[0]
    centroids = None
    if init == "zeroshot":
        labels = zero_shot_labels(z_bar, prototypes)
        cluster_ids = labels.clone()
        mapping = np.arange(k, dtype=np.int64)
    elif init == "kmeans":
        cluster_ids, centroids = kmeans_clusters(z_bar, k, seed=seed, n_init=n_init)
        if anchor is None:
            mapping = name_clusters(centroids, prototypes)
        else:
            mapping = name_clusters_by_anchor(cluster_ids, anchor, k)
        labels = torch.as_tensor(mapping, device=cluster_ids.device)[cluster_ids]
    else:
        raise ValueError(f"init={init!r}: expected 'kmeans' or 'zeroshot'")
    sizes = np.bincount(cluster_ids.cpu().numpy(), minlength=len(mapping)).astype(int).tolist()
    return PseudoLabels(
        labels=labels,
        cluster_ids=cluster_ids,
        mapping=mapping,
        cluster_sizes=sizes,
        method=init,
        centroids=centroids,
    )


def label_like_round(z: torch.Tensor, pseudo: PseudoLabels, prototypes: torch.Tensor) -> torch.Tensor:
    """Pseudo-labels for samples that were not clustered (e.g. validation rows), from a finished round.

    MultiviewVLM §II-F clusters the training samples; samples outside that set get what the round
    would give them without refitting: the class of their nearest centroid (squared Euclidean
    distance on unit vectors, as k-means assigns) named by the round's Hungarian mapping, or the
    nearest prototype for a zero-shot round. No label is read.

    Args:
        z: (V, N, D) per-view embeddings (aggregated with `aggregate_views`) or (N, D) fused ones.
        pseudo: the round (`assign_pseudo_labels`) whose centroids and naming are reused.
        prototypes: (C, D) class prototypes (zero-shot rounds).

    Returns:
        (N,) int64 class ids.
    """
    if z.ndim not in (2, 3):
        raise ValueError(f"z: expected (V, N, D) or (N, D) embeddings, got shape {tuple(z.shape)}")
    z_bar = aggregate_views(z) if z.ndim == 3 else F.normalize(z, dim=-1)
    if pseudo.centroids is None:
        return zero_shot_labels(z_bar, prototypes)
    centroids = pseudo.centroids.detach().to("cpu", torch.float64)
    _check_prototypes(z_bar, centroids)
    nearest = torch.cdist(z_bar.detach().to("cpu", torch.float64), centroids).argmin(dim=1)
    return torch.as_tensor(pseudo.mapping, dtype=torch.long)[nearest].to(z.device)


def pseudo_label_report(pseudo: PseudoLabels, y_true: Any) -> dict[str, Any]:
    """Quality of a pseudo-labelling round against the true labels — for reporting only.

    Args:
        pseudo: the round's `PseudoLabels`.
        y_true: (N,) true class ids.

    Returns:
        dict with `method`, `accuracy` (pseudo-label = true label), `cluster_sizes`, `class_counts`
        (samples per pseudo-label class), and `cluster_acc`, `nmi`, `ari`, `n_clusters` from
        `fervlm.evaluate.clustering_metrics` on the cluster ids.
    """
    t = y_true.detach().cpu().numpy() if isinstance(y_true, torch.Tensor) else np.asarray(y_true)
    t = t.reshape(-1).astype(np.int64)
    labels = pseudo.labels.detach().cpu().numpy()
    if t.shape != labels.shape:
        raise ValueError(f"y_true has {t.size} labels but the pseudo-labels cover {labels.size} samples")
    n_classes = max(
        int(pseudo.mapping.max(initial=-1)) + 1, int(t.max(initial=-1)) + 1, int(labels.max(initial=-1)) + 1
    )
    report: dict[str, Any] = {
        "method": pseudo.method,
        "accuracy": float(np.mean(labels == t)),
        "cluster_sizes": list(pseudo.cluster_sizes),
        "class_counts": np.bincount(labels, minlength=n_classes).astype(int).tolist(),
    }
    report.update(clustering_metrics(t, pseudo.cluster_ids.detach().cpu().numpy()))
    return report
