"""SMILE-VLM terms: multiview Barlow Twins (eq. 1-4), view-aware fusion (eq. 5, 7),
vision-language alignment (eq. 6), cross-modal redundancy (eq. 8-9)."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fervlm.losses import (
    ViewAwareFusion,
    cross_modal_redundancy,
    multiview_barlow_twins,
    vision_language_alignment,
)


def _ref_standardise(x: np.ndarray, eps: float) -> np.ndarray:
    out = np.empty_like(x)
    for k in range(x.shape[1]):
        col = x[:, k]
        out[:, k] = (col - col.mean()) / math.sqrt(((col - col.mean()) ** 2).mean() + eps)
    return out


def _ref_objective(c: np.ndarray, lambd: float) -> float:
    total = 0.0
    for k in range(c.shape[0]):
        for m in range(c.shape[1]):
            total += (c[k, m] - 1.0) ** 2 if k == m else lambd * c[k, m] ** 2
    return total


def _ref_corr(a: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    sa, sb = _ref_standardise(a, eps), _ref_standardise(b, eps)
    n, d = a.shape
    c = np.zeros((d, d))
    for i in range(n):
        c += np.outer(sa[i], sb[i])
    return c / n


def _randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("eps", [0.0, 1e-5])
def test_barlow_and_redundancy_match_reference(eps: float) -> None:
    z_a, z_b = _randn(3, 9, 4, seed=0), _randn(3, 9, 4, seed=1)
    z_b = z_b + 0.8 * z_a
    lambd = 0.0051
    c_bar = np.mean([_ref_corr(z_a[i].numpy(), z_b[i].numpy(), eps) for i in range(3)], axis=0)
    expected = torch.tensor(_ref_objective(c_bar, lambd), dtype=torch.float64)
    assert torch.allclose(multiview_barlow_twins(z_a, z_b, lambd, eps), expected)
    red = cross_modal_redundancy(z_a[0], z_b[0], 0.1, eps)
    expected = _ref_objective(_ref_corr(z_a[0].numpy(), z_b[0].numpy(), eps), 0.1)
    assert torch.allclose(red, torch.tensor(expected, dtype=torch.float64))


def test_barlow_invariant_to_per_feature_affine_maps() -> None:
    z_a, z_b = _randn(3, 16, 5, seed=2), _randn(3, 16, 5, seed=3) + _randn(3, 16, 5, seed=2)
    scale = torch.rand(5, generator=torch.Generator().manual_seed(4), dtype=torch.float64) * 3 + 0.2
    shift = _randn(5, seed=5) * 10
    base = multiview_barlow_twins(z_a, z_b, eps=0.0)
    assert torch.allclose(multiview_barlow_twins(z_a * scale + shift, z_b, eps=0.0), base)
    assert torch.allclose(multiview_barlow_twins(z_a, z_b * scale - shift, eps=0.0), base)
    red = cross_modal_redundancy(z_a[0], z_b[0], eps=0.0)
    assert torch.allclose(cross_modal_redundancy(z_a[0] * scale + shift, z_b[0], eps=0.0), red)
    # With the default epsilon the invariance holds up to the epsilon's size (variances ~1 here).
    assert torch.allclose(multiview_barlow_twins(z_a * scale + shift, z_b), base, rtol=1e-4)


def test_barlow_known_values() -> None:
    z = _randn(2, 4096, 3, seed=6)
    # Identical views with independent dimensions: C̄ ≈ I → loss ≈ 0.
    assert multiview_barlow_twins(z, z, eps=0.0).item() < 3 * 0.0051 * 0.01
    # Negated view: diagonal −1 → Σ_k (−1 − 1)² = 4D.
    assert multiview_barlow_twins(z, -z, lambd=0.0, eps=0.0).item() == pytest.approx(12.0)
    # A 2-D (B, D) input is a single view.
    assert torch.allclose(multiview_barlow_twins(z[0], z[0]), multiview_barlow_twins(z[:1], z[:1]))


def test_redundancy_with_shared_prompts_is_finite() -> None:
    # Every sample has the same prompt: text variance 0 → ẑ_t = 0 → C = 0 → loss = D.
    z_v = _randn(8, 6, seed=7).requires_grad_(True)
    z_t = F.normalize(_randn(1, 6, seed=8), dim=1).expand(8, -1)
    loss = cross_modal_redundancy(z_v, z_t)
    loss.backward()
    assert loss.item() == pytest.approx(6.0) and torch.isfinite(z_v.grad).all()


def test_view_aware_fusion_reference_and_invariances() -> None:
    torch.manual_seed(0)
    fusion = ViewAwareFusion(6, hidden=4).double()
    z = F.normalize(_randn(3, 5, 6, seed=9), dim=-1)
    fused, w = fusion(z)
    lin1, lin2 = fusion.score[0], fusion.score[2]
    for b in range(5):
        scores = []
        for v in range(3):
            h = lin1.weight @ z[v, b] + lin1.bias
            h = 0.5 * h * (1 + torch.erf(h / math.sqrt(2)))  # exact GELU
            scores.append((lin2.weight @ h + lin2.bias).item())
        e = np.exp(np.array(scores) - max(scores))
        ref_w = e / e.sum()
        ref = sum(ref_w[v] * z[v, b].detach().numpy() for v in range(3))
        ref /= np.linalg.norm(ref)
        assert np.allclose(w[b].detach().numpy(), ref_w) and np.allclose(fused[b].detach().numpy(), ref)
    # Permuting the views permutes the weights and leaves the fused embedding unchanged.
    perm = torch.tensor([2, 0, 1])
    fused_p, w_p = fusion(z[perm])
    assert torch.allclose(fused_p, fused) and torch.allclose(w_p, w[:, perm])
    # Identical views: fusion returns that view.
    same, _ = fusion(z[:1].expand(3, -1, -1))
    assert torch.allclose(same, z[0])
    with pytest.raises(ValueError, match="width"):
        fusion(z[..., :4])


def test_alignment_is_mean_of_v_plus_one_one_way_terms() -> None:
    z = F.normalize(_randn(3, 6, 4, seed=10), dim=-1)
    fused = F.normalize(z.mean(0), dim=-1)
    t = F.normalize(_randn(6, 4, seed=11), dim=-1)
    scale = 5.0

    def one_way(a: torch.Tensor, b: torch.Tensor) -> float:
        logits = scale * (a @ b.T).numpy()
        return float(np.mean([-(logits[i, i] - np.log(np.exp(logits[i]).sum())) for i in range(6)]))

    expected = (sum(one_way(z[v], t) for v in range(3)) + one_way(fused, t)) / 4
    assert torch.allclose(
        vision_language_alignment(z, fused, t, scale), torch.tensor(expected, dtype=torch.float64)
    )
    eye = torch.eye(4, dtype=torch.float64)
    assert vision_language_alignment(eye.expand(2, -1, -1), eye, eye, 100.0).item() < 1e-30


@pytest.mark.parametrize("B", [2, 4])
def test_smile_terms_finite_gradients_on_degenerate_batches(B: int) -> None:
    z_a = _randn(3, B, 5, seed=12)
    z_a[:, 1] = z_a[:, 0]  # duplicated sample
    z_a.requires_grad_(True)
    z_b = z_a.detach().clone().requires_grad_(True)
    fusion = ViewAwareFusion(5).double()
    fused, _ = fusion(F.normalize(z_a, dim=-1))
    t = F.normalize(_randn(1, 5, seed=13), dim=-1).expand(B, -1)  # one prompt class
    loss = (
        multiview_barlow_twins(z_a, z_b)
        + cross_modal_redundancy(fused, t)
        + vision_language_alignment(
            F.normalize(z_a, dim=-1), fused, t, 14.0, torch.zeros(B, dtype=torch.long)
        )
    )
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z_a.grad).all() and torch.isfinite(z_b.grad).all()
