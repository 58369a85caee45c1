"""InfoNCE (MultiviewVLM eq. 1-3): reference formula, symmetries, known values, degenerate batches."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fervlm.losses import LogitScale, info_nce, info_nce_one_way


def _ref_one_way(a: np.ndarray, b: np.ndarray, scale: float, target: np.ndarray) -> float:
    """-(1/N) Σ_i Σ_j T_ij log softmax_j(s a_i·b_j), with explicit loops."""
    n = a.shape[0]
    total = 0.0
    for i in range(n):
        logits = [scale * float(np.dot(a[i], b[j])) for j in range(n)]
        m = max(logits)
        log_z = m + math.log(sum(math.exp(v - m) for v in logits))
        total -= sum(target[i, j] * (logits[j] - log_z) for j in range(n))
    return total / n


def _ref_label_target(labels: np.ndarray) -> np.ndarray:
    n = len(labels)
    t = np.zeros((n, n))
    for i in range(n):
        same = [j for j in range(n) if labels[j] == labels[i]]
        for j in same:
            t[i, j] = 1.0 / len(same)
    return t


def _unit(n: int, d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), dim=1)


@pytest.mark.parametrize("kind", ["diag", "labels", "matrix"])
def test_info_nce_matches_reference(kind: str) -> None:
    a, b = _unit(7, 5, 0), _unit(7, 5, 1)
    scale = 8.0
    labels = np.array([0, 1, 1, 2, 0, 2, 2])
    if kind == "diag":
        target, targets = np.eye(7), None
    elif kind == "labels":
        target, targets = _ref_label_target(labels), torch.tensor(labels)
    else:
        rng = np.random.default_rng(0)
        target = rng.random((7, 7))
        target /= target.sum(axis=1, keepdims=True)
        targets = torch.tensor(target)
    target_t = target.T / target.T.sum(axis=1, keepdims=True)
    an, bn = a.numpy(), b.numpy()
    expected = 0.5 * (_ref_one_way(an, bn, scale, target) + _ref_one_way(bn, an, scale, target_t))
    assert torch.allclose(info_nce(a, b, scale, targets), torch.tensor(expected, dtype=torch.float64))
    one = info_nce_one_way(a, b, torch.tensor(scale, dtype=torch.float64), targets)
    assert torch.allclose(one, torch.tensor(_ref_one_way(an, bn, scale, target), dtype=torch.float64))


def test_info_nce_symmetric_in_arguments_and_scale_invariant_before_normalisation() -> None:
    g = torch.Generator().manual_seed(3)
    raw_a, raw_b = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    a, b = F.normalize(raw_a, dim=1), F.normalize(raw_b, dim=1)
    for targets in (None, labels):
        assert torch.allclose(info_nce(a, b, 10.0, targets), info_nce(b, a, 10.0, targets), atol=1e-6)
    scaled = F.normalize(raw_a * torch.rand(6, 1, generator=g).add(0.5) * 7.0, dim=1)
    assert torch.allclose(info_nce(a, b, 10.0), info_nce(scaled, b, 10.0), atol=1e-6)


def test_info_nce_known_values() -> None:
    eye = torch.eye(5, dtype=torch.float64)
    assert info_nce(eye, eye, 100.0).item() < 1e-30  # orthogonal, identical, large scale → 0
    same = F.normalize(torch.ones(5, 3, dtype=torch.float64), dim=1)
    assert math.isclose(info_nce(same, same, 50.0).item(), math.log(5), rel_tol=1e-12)
    assert math.isclose(info_nce_one_way(same, same, 50.0).item(), math.log(5), rel_tol=1e-12)


def test_logit_scale_init_and_clamp() -> None:
    scale = LogitScale()
    assert math.isclose(scale().item(), 1 / 0.07, rel_tol=1e-6)
    with torch.no_grad():
        scale.log_scale.fill_(10.0)
    assert scale().item() == 100.0


@pytest.mark.parametrize(
    "labels",
    [[0, 0, 0, 0], [0, 1], [0, 0, 1, 1, 1, 2]],  # all one class, batch of 2, a singleton class
)
def test_info_nce_finite_gradients_on_degenerate_batches(labels: list[int]) -> None:
    n = len(labels)
    a = F.normalize(torch.randn(n, 4), dim=1)
    a = torch.cat([a[:1], a[:1], a[2:]])[:n] if n > 2 else a  # duplicated sample
    a.requires_grad_(True)
    scale = LogitScale()
    for targets in (None, torch.tensor(labels)):
        loss = info_nce(a, a, scale(), targets)
        loss.backward()
        assert torch.isfinite(loss)
        assert torch.isfinite(a.grad).all() and torch.isfinite(scale.log_scale.grad)


def test_info_nce_rejects_bad_input() -> None:
    a = torch.eye(3)
    with pytest.raises(ValueError, match="targets"):
        info_nce(a, a, 1.0, torch.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="column"):
        info_nce(a, a, 1.0, torch.tensor([[1.0, 0, 0], [1.0, 0, 0], [1.0, 0, 0]]))
    with pytest.raises(ValueError, match="same shape"):
        info_nce(a, torch.eye(4)[:3, :4], 1.0)
