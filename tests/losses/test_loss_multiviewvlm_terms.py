"""MultiviewVLM terms: multiview consistency (eq. 4) and positive/negative pair losses (eq. 5-8)."""

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fervlm.losses import multiview_consistency, negative_pair_loss, positive_pair_loss


def _softplus(x: float) -> float:
    return math.log1p(math.exp(-abs(x))) + max(x, 0.0)


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b))


def _views(V: int, B: int, D: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(V, B, D, generator=g, dtype=torch.float64), dim=-1)


def test_consistency_matches_reference() -> None:
    z = _views(3, 5, 4, 0)
    t = F.normalize(torch.randn(5, 4, dtype=torch.float64), dim=1)
    zn, tn = z.numpy(), t.numpy()
    expected = np.mean([1.0 - _cos(zn[:, b].mean(axis=0), tn[b]) for b in range(5)])
    assert torch.allclose(multiview_consistency(z, t), torch.tensor(expected, dtype=torch.float64))


def test_consistency_zero_when_views_equal_text() -> None:
    t = _views(1, 6, 5, 1)[0]
    assert multiview_consistency(t.expand(3, -1, -1), t).item() < 1e-12
    assert abs(multiview_consistency(t.expand(3, -1, -1), -t).item() - 2.0) < 1e-12


@pytest.mark.parametrize("tau", [0.1, 0.5])
def test_pair_losses_match_reference(tau: float) -> None:
    z = _views(3, 5, 4, 2)
    labels = [0, 1, 1, 2, 0]
    zn = z.numpy()
    pos = [
        _softplus(-_cos(zn[v, b], zn[w, b]) / tau)
        for b in range(5)
        for v, w in itertools.combinations(range(3), 2)
    ]
    items = [(zn[v, b], labels[b]) for v in range(3) for b in range(5)]
    neg = [
        _softplus(_cos(items[i][0], items[j][0]) / tau)
        for i, j in itertools.combinations(range(len(items)), 2)
        if items[i][1] != items[j][1]
    ]
    assert torch.allclose(positive_pair_loss(z, tau), torch.tensor(np.mean(pos), dtype=torch.float64))
    got = negative_pair_loss(z, torch.tensor(labels), tau)
    assert torch.allclose(got, torch.tensor(np.mean(neg), dtype=torch.float64))


def test_pair_losses_known_values_and_stability() -> None:
    e = torch.tensor([[1.0, 0.0]])
    z = e.expand(3, 1, 2)
    assert math.isclose(positive_pair_loss(z, 0.1).item(), _softplus(-10.0), rel_tol=1e-5)
    # Tiny temperature: the naive −log σ(x) would overflow; the softplus form stays finite.
    z = _views(2, 4, 3, 3).requires_grad_(True)
    loss = positive_pair_loss(z, 1e-4) + negative_pair_loss(z, torch.tensor([0, 1, 0, 1]), 1e-4)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()
    # Scale of embeddings before normalisation does not matter.
    raw = torch.randn(3, 4, 5, dtype=torch.float64)
    assert torch.allclose(positive_pair_loss(raw), positive_pair_loss(3.0 * raw))


@pytest.mark.parametrize("labels", [[0, 0, 0, 0], [0, 1], [0, 0, 1, 1, 1, 2]])
def test_finite_gradients_on_degenerate_batches(labels: list[int]) -> None:
    z = _views(3, len(labels), 4, 4)
    z[:, 1] = z[:, 0]  # duplicated sample
    z.requires_grad_(True)
    t = z[0].detach().clone()
    loss = multiview_consistency(z, t) + positive_pair_loss(z) + negative_pair_loss(z, torch.tensor(labels))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()
    if len(set(labels)) == 1:
        assert negative_pair_loss(z, torch.tensor(labels)).item() == 0.0


def test_pair_losses_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="2 views"):
        positive_pair_loss(torch.ones(1, 3, 2))
    with pytest.raises(ValueError, match="tau"):
        negative_pair_loss(torch.ones(2, 3, 2), torch.tensor([0, 1, 2]), tau=0.0)
    with pytest.raises(ValueError, match="t:"):
        multiview_consistency(torch.ones(2, 3, 2), torch.ones(4, 2))
