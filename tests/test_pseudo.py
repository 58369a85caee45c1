"""Tests for fervlm.pseudo: aggregation, zero-shot labels, k-means + Hungarian naming, reports."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fervlm.pseudo import (
    PseudoLabels,
    aggregate_views,
    assign_pseudo_labels,
    kmeans_clusters,
    name_clusters,
    name_clusters_by_anchor,
    pseudo_label_report,
    zero_shot_labels,
)

C, D, V, PER_CLASS = 5, 24, 3, 20


def synthetic(seed: int = 0, noise: float = 0.15) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(V, N, D) per-view embeddings in well-separated Gaussian clusters around known (random) prototypes."""
    gen = torch.Generator().manual_seed(seed)
    prototypes = F.normalize(torch.randn(C, D, generator=gen), dim=-1)
    y = torch.arange(C).repeat_interleave(PER_CLASS)
    y = y[torch.randperm(len(y), generator=gen)]  # so that cluster ids cannot follow the row order
    z = prototypes[y][:, None, :] + noise * torch.randn(len(y), V, D, generator=gen)
    # Views at different scales: aggregation must normalise each view first.
    z = z * torch.tensor([0.5, 1.0, 3.0])[None, :, None]
    return z.transpose(0, 1), prototypes, y


def test_aggregate_views_reference() -> None:
    z, _, _ = synthetic()
    ref = F.normalize(sum(F.normalize(z[v], dim=-1) for v in range(V)) / V, dim=-1)
    out = aggregate_views(z)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(z.shape[1]))
    # Invariant to a positive rescaling of any single view, and to the order of the views.
    z2 = z.clone()
    z2[1] *= 7.0
    torch.testing.assert_close(aggregate_views(z2), out)
    torch.testing.assert_close(aggregate_views(z.flip(0)), out)
    with pytest.raises(ValueError, match=r"\(V, N, D\)"):
        aggregate_views(z[0])


def test_zeroshot_equals_argmax_cosine() -> None:
    z, prototypes, _ = synthetic(noise=0.6)
    z_bar = aggregate_views(z)
    labels = zero_shot_labels(z_bar, prototypes * 4.0)  # prototype scale must not matter
    ref = (z_bar @ F.normalize(prototypes, dim=-1).T).argmax(dim=1)
    assert torch.equal(labels, ref)
    pseudo = assign_pseudo_labels(z, prototypes, init="zeroshot")
    assert pseudo.method == "zeroshot"
    assert torch.equal(pseudo.labels, ref) and torch.equal(pseudo.cluster_ids, ref)
    np.testing.assert_array_equal(pseudo.mapping, np.arange(C))
    assert pseudo.cluster_sizes == torch.bincount(ref, minlength=C).tolist()
    # Clusters tight around their prototypes: zero-shot labels are the true ones.
    z_tight, prototypes_tight, y_tight = synthetic(noise=0.05)
    assert torch.equal(assign_pseudo_labels(z_tight, prototypes_tight, init="zeroshot").labels, y_tight)


def test_kmeans_hungarian_recovers_true_labels() -> None:
    z, prototypes, y = synthetic()
    pseudo = assign_pseudo_labels(z, prototypes, init="kmeans", seed=0, n_init=4)
    assert isinstance(pseudo, PseudoLabels) and pseudo.method == "kmeans"
    assert torch.equal(pseudo.labels, y)
    assert sorted(pseudo.mapping.tolist()) == list(range(C))  # one-to-one naming
    assert pseudo.cluster_sizes == [PER_CLASS] * C
    report = pseudo_label_report(pseudo, y)
    assert report["accuracy"] == 1.0
    assert report["cluster_acc"] == pytest.approx(1.0) and report["nmi"] == pytest.approx(1.0)
    assert report["class_counts"] == [PER_CLASS] * C


def test_naming_follows_permuted_cluster_ids() -> None:
    z, prototypes, y = synthetic(seed=1)
    cluster_ids, centroids = kmeans_clusters(aggregate_views(z), C, seed=0, n_init=4)
    mapping = name_clusters(centroids, prototypes)
    perm = torch.tensor([3, 0, 4, 1, 2])  # cluster k is renamed perm[k]
    inverse = torch.argsort(perm)
    permuted_centroids = centroids[inverse]  # row perm[k] holds old centroid k
    permuted_mapping = name_clusters(permuted_centroids, prototypes)
    labels = torch.as_tensor(mapping)[cluster_ids]
    permuted_labels = torch.as_tensor(permuted_mapping)[perm[cluster_ids]]
    assert torch.equal(labels, y) and torch.equal(permuted_labels, y)


def test_hungarian_naming_differs_from_argmax() -> None:
    e = torch.eye(2)
    # Both centroids are closest to class 0, but the best one-to-one naming gives class 1 to the second.
    centroids = torch.stack([0.9 * e[0] + 0.1 * e[1], 0.6 * e[0] + 0.4 * e[1]])
    np.testing.assert_array_equal(name_clusters(centroids, e), [0, 1])
    # More clusters than classes: the unmatched cluster takes its nearest prototype.
    three = torch.cat([centroids, (0.8 * e[0] + 0.2 * e[1])[None]])
    mapping = name_clusters(three, e)
    assert sorted(set(mapping.tolist())) == [0, 1] and mapping[2] == 0


def test_deterministic_for_a_seed() -> None:
    z, prototypes, _ = synthetic(noise=0.9)  # overlapping clusters: restarts and seeds matter
    a = assign_pseudo_labels(z, prototypes, seed=3, n_init=3)
    b = assign_pseudo_labels(z, prototypes, seed=3, n_init=3)
    assert torch.equal(a.labels, b.labels) and torch.equal(a.cluster_ids, b.cluster_ids)
    np.testing.assert_array_equal(a.mapping, b.mapping)


def test_flat_input_and_errors() -> None:
    z, prototypes, y = synthetic()
    flat = assign_pseudo_labels(aggregate_views(z) * 2.0, prototypes, n_init=2)
    assert torch.equal(flat.labels, y)
    with pytest.raises(ValueError, match="k=5 clusters but only 3 embeddings"):
        kmeans_clusters(aggregate_views(z[:, :3]), C)
    with pytest.raises(ValueError, match="init='spectral'"):
        assign_pseudo_labels(z, prototypes, init="spectral")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="prototypes"):
        assign_pseudo_labels(z, prototypes[:, :4])


def test_degenerate_identical_embeddings_still_labelled() -> None:
    z = torch.ones(V, 12, D)
    prototypes = F.normalize(torch.randn(C, D, generator=torch.Generator().manual_seed(0)), dim=-1)
    with pytest.warns(RuntimeWarning, match="distinct cluster"):
        pseudo = assign_pseudo_labels(z, prototypes, n_init=2)
    assert pseudo.labels.shape == (12,) and pseudo.labels.dtype == torch.int64
    assert len(torch.unique(pseudo.labels)) == 1
    assert sum(pseudo.cluster_sizes) == 12


def drifted(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A drift case: clean clusters of the true classes whose centres sit next to the *wrong* prototypes.

    Class ``c`` lies around ``p_{c+1}`` (a cyclic shift), as when an image tower has moved away from the
    frozen text tower after a few rounds of self-training: the clusters are still right, the
    centroid↔prototype naming is not.
    """
    _, prototypes, y = synthetic(seed)
    shifted = prototypes[(y + 1) % C]
    gen = torch.Generator().manual_seed(seed + 1)
    return shifted[None] + 0.1 * torch.randn(V, len(y), D, generator=gen), prototypes, y


def test_anchor_naming_keeps_names_when_the_tower_drifts() -> None:
    z, prototypes, y = drifted()
    # Anchor: earlier-round pseudo-labels, right for 80% of the samples (and wrong at random elsewhere).
    gen = torch.Generator().manual_seed(3)
    noise = torch.randint(0, C, (len(y),), generator=gen)
    anchor = torch.where(torch.rand(len(y), generator=gen) < 0.8, y, noise)
    by_prototypes = assign_pseudo_labels(z, prototypes, init="kmeans", seed=0, n_init=4)
    by_anchor = assign_pseudo_labels(z, prototypes, init="kmeans", seed=0, n_init=4, anchor=anchor)
    assert torch.equal(by_prototypes.cluster_ids, by_anchor.cluster_ids)  # same clusters, other names
    assert (by_prototypes.labels == y).float().mean() == 0.0  # prototype naming follows the drift
    assert torch.equal(by_anchor.labels, y)  # anchored naming recovers every class


def test_anchor_naming_reference_and_invariance() -> None:
    # contingency rows: cluster 0 mostly class 2, cluster 1 mostly class 0, cluster 2 mostly class 2 too.
    ids = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
    anchor = torch.tensor([2, 2, 1, 0, 0, 2, 2, 2, 1])
    # Brute force over the 3! one-to-one maps: the one with most agreeing samples.
    import itertools

    cont = np.zeros((3, 3), int)
    np.add.at(cont, (ids.numpy(), anchor.numpy()), 1)
    best = max(itertools.permutations(range(3)), key=lambda m: sum(cont[k, m[k]] for k in range(3)))
    mapping = name_clusters_by_anchor(ids, anchor, 3)
    assert tuple(mapping) == best and len(set(mapping.tolist())) == 3  # one-to-one, not majority votes
    # Renumbering the clusters renumbers the mapping only.
    perm = torch.tensor([2, 0, 1])
    assert np.array_equal(name_clusters_by_anchor(perm[ids], anchor, 3)[perm.numpy()], mapping)
    # More clusters than classes: the unmatched cluster takes its majority anchor class.
    ids, anchor = torch.tensor([0, 0, 1, 1, 2, 2, 2]), torch.tensor([0, 0, 1, 1, 1, 1, 0])
    mapping = name_clusters_by_anchor(ids, anchor, 2)
    assert mapping.tolist() == [0, 1, 1]
    with pytest.raises(ValueError, match="anchor"):
        name_clusters_by_anchor(ids, torch.full_like(ids, -1), 2)
    with pytest.raises(ValueError, match="entries"):
        name_clusters_by_anchor(ids, anchor[:4], 2)
