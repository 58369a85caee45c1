"""Tests of `fervlm.dynamic` against independent formulas (docs/algorithms.md §1.3, §1.7)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from fervlm.benchmarks.render import face_like_mesh
from fervlm.dynamic import (
    approximate_rank_pooling,
    arp_coefficients,
    dynamic_views,
    exact_rank_pooling,
    to_uint8,
)
from fervlm.io.mesh import Mesh


def _sum_form(T: int) -> list[Fraction]:
    return [sum((Fraction(2 * s - T - 1, s) for s in range(t, T + 1)), Fraction(0)) for t in range(1, T + 1)]


def _closed_form(T: int) -> np.ndarray:
    H = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, T + 1))])
    t = np.arange(1, T + 1)
    return 2.0 * (T - t + 1) - (T + 1) * (H[T] - H[t - 1])


@pytest.mark.parametrize("T", [2, 3, 4, 5, 7, 10, 25, 50])
def test_coefficients_match_the_sum_and_closed_forms(T: int) -> None:
    alpha = arp_coefficients(T)
    assert alpha.dtype == np.float64 and alpha.shape == (T,)
    np.testing.assert_allclose(alpha, [float(a) for a in _sum_form(T)], rtol=0, atol=1e-12)
    np.testing.assert_allclose(alpha, _closed_form(T), rtol=0, atol=1e-10)
    assert abs(alpha.sum()) < 1e-10
    assert alpha[-1] == pytest.approx((T - 1) / T)


def test_coefficients_match_the_reference_table() -> None:
    table = {
        2: ["-1/2", "1/2"],
        3: ["-4/3", "2/3", "2/3"],
        4: ["-29/12", "7/12", "13/12", "3/4"],
        5: ["-37/10", "3/10", "13/10", "13/10", "4/5"],
    }
    for T, values in table.items():
        np.testing.assert_allclose(arp_coefficients(T), [float(Fraction(v)) for v in values], atol=1e-12)
    ten = [-12.218651, -3.218651, 0.281349, 1.948016, 2.698016, 2.898016, 2.731349, 2.302778, 1.677778, 0.9]
    np.testing.assert_allclose(arp_coefficients(10), ten, atol=1e-6)


def test_single_frame_follows_the_official_convention() -> None:
    assert arp_coefficients(1).tolist() == [1.0]
    frame = np.random.default_rng(0).random((1, 4, 4, 3))
    np.testing.assert_array_equal(approximate_rank_pooling(frame), frame[0])
    with pytest.raises(ValueError, match="T=0"):
        arp_coefficients(0)


def test_pooling_equals_ramp_weights_on_time_averaged_frames() -> None:
    rng = np.random.default_rng(1)
    for T in (2, 6, 11):
        psi = rng.normal(size=(T, 5, 3))
        V = np.cumsum(psi, axis=0) / np.arange(1, T + 1)[:, None, None]
        beta = 2 * np.arange(1, T + 1) - T - 1
        np.testing.assert_allclose(approximate_rank_pooling(psi), np.tensordot(beta, V, axes=1), atol=1e-9)


def test_adding_a_constant_image_changes_nothing() -> None:
    rng = np.random.default_rng(2)
    frames = rng.random((9, 6, 6, 3)) * 255
    offset = rng.random((6, 6, 3)) * 100
    np.testing.assert_allclose(
        approximate_rank_pooling(frames + offset), approximate_rank_pooling(frames), atol=1e-9
    )


def test_torch_pooling_is_differentiable_with_alpha_gradients() -> None:
    T = 7
    frames = torch.randn(T, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    di = approximate_rank_pooling(frames)
    reference = approximate_rank_pooling(frames.detach().numpy())
    np.testing.assert_allclose(di.detach().numpy(), reference, atol=1e-12)
    g = torch.randn_like(di)
    (di * g).sum().backward()
    expected = torch.as_tensor(arp_coefficients(T))[:, None, None, None] * g[None]
    torch.testing.assert_close(frames.grad, expected)
    uint8 = approximate_rank_pooling(torch.zeros(3, 2, 2, dtype=torch.uint8))
    assert uint8.dtype == torch.float32


def test_brightening_pixel_is_positive_and_constant_pixel_is_zero() -> None:
    T = 10
    frames = np.zeros((T, 1, 2))
    frames[:, 0, 0] = np.linspace(10, 200, T)
    frames[:, 0, 1] = 77.0
    di = approximate_rank_pooling(frames.astype(np.uint8))
    assert di[0, 0] > 0
    assert abs(di[0, 1]) < 1e-9


def test_to_uint8_is_a_global_min_max_with_half_up_rounding() -> None:
    image = np.array([[[-1.0, 0.0, 3.0]], [[1.0, 0.5, -1.0]]])
    out = to_uint8(image)
    assert out.dtype == np.uint8 and out.min() == 0 and out.max() == 255
    # (x + 1) * 255 / 4: 0 → 63.75 → 64; 1 → 127.5 → 128 (half up, not half-to-even); 0.5 → 95.625 → 96.
    np.testing.assert_array_equal(out, [[[0, 64, 255]], [[128, 96, 0]]])
    # One global range: a channel with a small range stays small (no per-channel stretching).
    rgb = np.stack([np.linspace(0, 1, 10), np.linspace(0, 0.1, 10), np.zeros(10)], axis=-1)
    assert to_uint8(rgb)[..., 1].max() == 26
    np.testing.assert_array_equal(to_uint8(np.full((3, 3), 5.0)), np.zeros((3, 3), np.uint8))
    # A static sequence pools to rounding noise: no stretched ghost image.
    static = np.repeat(np.random.default_rng(3).integers(0, 255, (1, 8, 8, 3)), 6, axis=0)
    assert not to_uint8(approximate_rank_pooling(static)).any()


def test_exact_rank_pooling_orders_a_drifting_sequence() -> None:
    rng = np.random.default_rng(4)
    T, D = 10, 300
    direction = rng.normal(size=D)
    frames = rng.random(D) + 0.3 * np.arange(T)[:, None] * np.abs(direction)[None] + 0.05 * rng.random((T, D))
    u = exact_rank_pooling(frames.reshape(T, 15, 20))
    assert u.shape == (15, 20)
    means = np.cumsum(frames, axis=0) / np.arange(1, T + 1)[:, None]
    v = np.sign(means) * np.sqrt(np.abs(means))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    scores = v @ u.ravel()
    assert (np.diff(scores) > 0).all()
    with pytest.raises(ValueError, match="T ≥ 2"):
        exact_rank_pooling(frames[:1])


def test_dynamic_views_of_a_growing_chin() -> None:
    base = face_like_mesh(1200)
    v = base.vertices
    bump = np.exp(-(v[:, 0] ** 2 + (v[:, 1] + 40) ** 2) / 200.0)  # the chin grows over time
    frames = []
    for t in range(5):
        moved = v.copy()
        moved[:, 2] += 4.0 * t * bump
        frames.append(Mesh(vertices=moved, faces=base.faces))
    out = dynamic_views(frames, yaws=(-30, 0, 30), size=48)
    assert out.shape == (3, 48, 48, 3) and out.dtype == np.uint8
    for view in out:
        assert view.min() == 0 and view.max() == 255
    # Where nothing changes the dynamic image is 0 before the 8-bit shift; the changing chin stands out.
    front = out[1, ..., 0].astype(int)
    background = front[0, 0]
    assert np.abs(front[38:44, 20:28] - background).mean() > 20
    # One framing for the whole sequence: the unchanged forehead pools to exactly the "no change" value.
    assert np.abs(front[8:14, 16:32] - background).mean() < 0.5
    static = dynamic_views([base] * 4, yaws=(0,), size=32)
    assert not static.any()
    exact = dynamic_views(frames, yaws=(0,), size=32, method="exact")
    assert exact.shape == (1, 32, 32, 3) and exact.max() == 255
    with pytest.raises(ValueError, match="method="):
        dynamic_views(frames, method="mean")
