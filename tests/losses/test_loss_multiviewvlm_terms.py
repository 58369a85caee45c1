"""MultiviewVLM terms: multiview consistency (eq. 4) and positive/negative pair losses (eq. 5-8)."""

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fervlm.losses import MultiviewVLMLoss, multiview_consistency, negative_pair_loss, positive_pair_loss


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


def _con_reference(z: np.ndarray, t: np.ndarray, labels: list[int], scale: float, targets: str) -> float:
    """MultiviewVLM eq. (1)-(3) with explicit loops: every view of sample b against every prompt."""
    V, B, _ = z.shape
    items = [(v, b) for v in range(V) for b in range(B)]  # the V·B image side; prompt of item = t[b]

    def positive(i: tuple[int, int], j: tuple[int, int]) -> bool:
        return labels[i[1]] == labels[j[1]] if targets == "label" else i[1] == j[1]

    def one_way(rows: list, cols: list, sim) -> float:
        total = 0.0
        for i in rows:
            logits = [scale * sim(i, j) for j in cols]
            top = max(logits)
            log_norm = top + math.log(sum(math.exp(x - top) for x in logits))
            pos = [k for k, j in enumerate(cols) if positive(i, j)]
            total += -sum(logits[k] - log_norm for k in pos) / len(pos)
        return total / len(rows)

    i2t = one_way(items, items, lambda i, j: float(z[i[0], i[1]] @ t[j[1]]))
    t2i = one_way(items, items, lambda i, j: float(t[i[1]] @ z[j[0], j[1]]))
    return 0.5 * (i2t + t2i)


@pytest.mark.parametrize("targets", ["label", "sample"])
def test_con_loss_matches_reference_for_both_target_kinds(targets: str) -> None:
    z = _views(3, 5, 4, 2)
    t = _views(1, 5, 4, 3)[0]
    labels = [0, 1, 0, 2, 1]
    loss = MultiviewVLMLoss(con_targets=targets, disabled=("mv", "pn"))
    got = loss(z=z, t=t, labels=torch.tensor(labels), logit_scale=7.0)["con_loss"]
    assert got.item() == pytest.approx(_con_reference(z.numpy(), t.numpy(), labels, 7.0, targets), rel=1e-6)


def test_con_loss_default_treats_same_class_prompts_as_positives() -> None:
    """The paper's negatives are prompts of a *different* emotion: the default (``label``) does not care
    which prompt of its own class a sample drew, so swapping two same-class prompts changes nothing;
    the ``sample`` option counts the other one as a negative and does change."""
    assert MultiviewVLMLoss().con_targets == "label"
    z = _views(3, 4, 6, 4)
    t = _views(1, 4, 6, 5)[0]
    labels = torch.tensor([0, 1, 0, 1])
    swapped = t[[2, 1, 0, 3]]  # samples 0 and 2 (both class 0) exchange prompts
    for targets, invariant in (("label", True), ("sample", False)):
        loss = MultiviewVLMLoss(con_targets=targets, disabled=("mv", "pn"))
        a = loss(z=z, t=t, labels=labels, logit_scale=10.0)["con_loss"]
        b = loss(z=z, t=swapped, labels=labels, logit_scale=10.0)["con_loss"]
        assert torch.allclose(a, b) == invariant, targets
    with pytest.raises(ValueError, match="con_targets must be 'label' or 'sample'"):
        MultiviewVLMLoss(con_targets="class")
