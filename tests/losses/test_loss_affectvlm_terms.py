"""AffectVLM terms (eq. 2): multiview contrastive margin, multiview triplet, learnable margin."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fervlm.losses import AffectVLMLoss, LearnableMargin, multiview_contrastive_margin, multiview_triplet


def _views(V: int, B: int, D: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(V, B, D, generator=g, dtype=torch.float64), dim=-1)


def _items(z: np.ndarray, labels: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
    """(view, label, embedding) for each of the V·B view embeddings."""
    return [(v, int(labels[b]), z[v, b]) for v in range(z.shape[0]) for b in range(z.shape[1])]


def _ref_mc(z: np.ndarray, labels: np.ndarray, alpha: float) -> float:
    items = _items(z, labels)
    pull, push = [], []
    for i, j in itertools.permutations(range(len(items)), 2):
        cos = float(
            np.dot(items[i][2], items[j][2]) / np.linalg.norm(items[i][2]) / np.linalg.norm(items[j][2])
        )
        if items[i][1] == items[j][1]:
            pull.append(1.0 - cos)
        else:
            push.append(max(0.0, cos - alpha))
    return (np.mean(pull) if pull else 0.0) + (np.mean(push) if push else 0.0)


def _ref_mt(z: np.ndarray, labels: np.ndarray, alpha: float) -> float:
    items = _items(z, labels)
    hinges = []
    for va, ya, a in items:
        negs = [float(np.sum((a - n) ** 2)) for _, yn, n in items if yn != ya]
        if not negs:
            continue
        d_an = min(negs)
        for vp, yp, p in items:
            if yp == ya and vp != va:
                hinges.append(max(0.0, float(np.sum((a - p) ** 2)) - d_an + alpha))
    return float(np.mean(hinges)) if hinges else 0.0


@pytest.mark.parametrize("labels", [[0, 1, 1, 2, 0], [3, 3, 3, 3, 3], [0, 1, 2, 3, 4]])
def test_mc_and_mt_match_reference(labels: list[int]) -> None:
    z = _views(3, 5, 4, 0)
    y = torch.tensor(labels)
    for alpha in (0.2, 0.7):
        mc = multiview_contrastive_margin(z, y, alpha)
        mt = multiview_triplet(z, y, alpha)
        assert torch.allclose(
            mc, torch.tensor(_ref_mc(z.numpy(), np.array(labels), alpha), dtype=torch.float64)
        )
        assert torch.allclose(
            mt, torch.tensor(_ref_mt(z.numpy(), np.array(labels), alpha), dtype=torch.float64)
        )


def test_triplet_zero_when_well_separated_and_positive_otherwise() -> None:
    # Two classes on opposite poles, views identical: ‖a−p‖² = 0, ‖a−n‖² = 4 > α.
    e = torch.tensor([1.0, 0.0, 0.0])
    z = torch.stack([e, e, -e, -e]).expand(3, -1, -1)
    y = torch.tensor([0, 0, 1, 1])
    assert multiview_triplet(z, y, 0.5).item() == 0.0
    assert multiview_contrastive_margin(z, y, 0.2).item() == 0.0  # cos = 1 within, −1 < α across
    swapped = torch.tensor([0, 1, 0, 1])  # labels now contradict the geometry
    # Hardest negative at distance 0; positives at 0 and 4 → hinges 0.5 and 4.5.
    assert multiview_triplet(z, swapped, 0.5).item() == pytest.approx(2.5)
    assert multiview_contrastive_margin(z, swapped, 0.2).item() > 1.0


def test_learnable_margin_is_sigmoid_and_trainable() -> None:
    margin = LearnableMargin(0.3)
    assert abs(margin().item() - 0.3) < 1e-6
    z = _views(2, 4, 3, 1).float()
    multiview_triplet(z, torch.tensor([0, 1, 0, 1]), margin()).backward()
    assert margin.raw.grad is not None and torch.isfinite(margin.raw.grad)
    with pytest.raises(ValueError, match="init"):
        LearnableMargin(1.5)


def test_margin_gradient_signs_and_fixed_mode() -> None:
    """Why a learnable α drifts (`fervlm.losses.margin`): L_mc pushes α up, L_mt pushes it down, so
    with λ_mt = 0 gradient descent only raises α; ``margin_mode="fixed"`` keeps it at its initial value."""
    z = _views(3, 6, 4, 3).float()
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    grads = {}
    for name, term in (("mc", multiview_contrastive_margin), ("mt", multiview_triplet)):
        margin = LearnableMargin(0.2)
        term(z, y, margin()).backward()
        grads[name] = margin.raw.grad.item()
    assert grads["mc"] < 0 < grads["mt"]  # descent raises α for L_mc, lowers it for L_mt
    for mode, moves in (("learnable", True), ("fixed", False)):
        loss = AffectVLMLoss(weights={"mt": 0.0}, margin_init=0.2, margin_mode=mode)
        trainable = [p for p in loss.parameters() if p.requires_grad]
        assert bool(trainable) == moves, mode
        if trainable:
            opt = torch.optim.SGD(trainable, lr=1.0)
            for _ in range(3):
                opt.zero_grad()
                parts = loss(z=z, t=z[0], labels=y, logit_scale=10.0)
                (parts["align_loss"] + parts["mc_loss"]).backward()
                opt.step()
        alpha = loss(z=z, t=z[0], labels=y, logit_scale=10.0)["alpha"].item()
        assert (alpha > 0.2 + 1e-4) if moves else alpha == pytest.approx(0.2), (mode, alpha)
    with pytest.raises(ValueError, match="margin_mode"):
        AffectVLMLoss(margin_mode="frozen")


@pytest.mark.parametrize("labels", [[0, 0, 0, 0], [0, 1], [0, 0, 1, 1, 1, 2]])
def test_finite_gradients_on_degenerate_batches(labels: list[int]) -> None:
    B = len(labels)
    z = _views(3, B, 4, 2)
    z[:, 1] = z[:, 0]  # duplicated sample
    z.requires_grad_(True)
    y = torch.tensor(labels)
    margin = LearnableMargin()
    loss = multiview_contrastive_margin(z, y, margin()) + multiview_triplet(z, y, margin())
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all() and torch.isfinite(margin.raw.grad)


def test_bad_labels_are_rejected() -> None:
    with pytest.raises(ValueError, match="labels"):
        multiview_triplet(_views(2, 3, 4, 0), torch.tensor([0, 1]), 0.2)
    with pytest.raises(ValueError, match="labels"):
        multiview_contrastive_margin(_views(2, 3, 4, 0), torch.tensor([0.0, 1.0, 1.0]), 0.2)
