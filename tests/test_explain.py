"""Tests for fervlm.explain: Grad-CAM per view (against an independent autograd re-implementation) and the
pointing game (against synthetic maps whose answer is known). docs/algorithms.md §2.6 gives the recipe."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from pytorch_grad_cam import GradCAM
from torch import nn

from fervlm.backbones import create_backbone
from fervlm.explain import (
    PrototypeSimilarityTarget,
    gradcam_views,
    overlay,
    pointing_game,
    pointing_game_report,
    random_baseline,
    reshape_transform_for,
    target_layer,
    to_uint8,
)

SIZE = 64  # both tiny configs: 64 px; the ViT has patch 16 -> a 4x4 grid, the ResNet layer4 is 2x2
N_CLASSES = 5


@pytest.fixture(scope="module", params=["fervlm-tiny", "fervlm-tiny-rn"])
def backbone(request):
    torch.manual_seed(0)
    return create_backbone(request.param)


@pytest.fixture(scope="module")
def vit():
    torch.manual_seed(0)
    return create_backbone("fervlm-tiny")


def _prototypes(dim: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(N_CLASSES, dim, generator=g), dim=-1)


def _images(*shape: int, seed: int = 2) -> torch.Tensor:
    return torch.randn(*shape, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------------------------
# Independent Grad-CAM (Selvaraju et al. 2017, eq. 1-2) with plain autograd


def _tokens_or_map(backbone, t: torch.Tensor) -> torch.Tensor:
    """Layer output -> (B, C, h, w), typed from the configs rather than read from the model."""
    if backbone.name == "fervlm-tiny":  # (B, 1 + 4*4, C) batch-first tokens, CLS first
        return t[:, 1:, :].reshape(t.shape[0], 4, 4, t.shape[2]).permute(0, 3, 1, 2)
    return t


def _minmax(m: torch.Tensor) -> torch.Tensor:
    flat = m.reshape(m.shape[0], -1)
    flat = flat - flat.min(dim=1, keepdim=True).values
    return (flat / (flat.max(dim=1, keepdim=True).values + 1e-7)).reshape(m.shape)


def reference_gradcam(
    backbone, x: torch.Tensor, protos_per_image: torch.Tensor, hires: bool = False, stage: str = "layer4"
) -> torch.Tensor:
    """Grad-CAM (eq. 1-2), or with `hires` HiResCAM (M = ReLU(Σ_c ∂y/∂A_c ⊙ A_c)), at a ResNet `stage`."""
    visual = backbone.model.visual
    layer = (
        visual.transformer.resblocks[-1].ln_1 if backbone.name == "fervlm-tiny" else getattr(visual, stage)
    )
    store = {}
    handle = layer.register_forward_hook(lambda _m, _i, out: store.__setitem__("a", out))
    visual.eval()
    try:
        with torch.enable_grad():
            z = backbone.model.encode_image(x.clone().requires_grad_(True))
            store["a"].retain_grad()
            F.cosine_similarity(z, protos_per_image, dim=-1).sum().backward()
    finally:
        handle.remove()
    acts = _tokens_or_map(backbone, store["a"].detach())
    grads = _tokens_or_map(backbone, store["a"].grad)
    weights = grads if hires else grads.mean(dim=(2, 3), keepdim=True)  # eq. 1 averages; HiResCAM does not
    cam = _minmax(torch.relu((weights * acts).sum(dim=1)))  # eq. 2, then the library's per-image scaling
    cam = F.interpolate(cam[:, None], size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    # the library min-max scales once more after aggregating layers (aggregate_multi_layers)
    return _minmax(torch.relu(cam))


def test_gradcam_matches_independent_reimplementation(backbone):
    images = _images(2, 3)
    protos = _prototypes(backbone.embed_dim)
    classes = torch.tensor([1, 3])
    cams, ids = gradcam_views(backbone, images, protos, target_class=classes)
    ref = reference_gradcam(backbone, images.reshape(-1, 3, SIZE, SIZE), protos[classes.repeat_interleave(3)])
    assert ids.tolist() == [1, 3]
    assert cams.shape == (2, 3, SIZE, SIZE)
    np.testing.assert_allclose(cams.reshape(-1, SIZE, SIZE), ref.numpy(), atol=1e-4)
    assert float(ref.amax(dim=(1, 2)).min()) > 0.99  # a real, non-degenerate map was compared


def test_hirescam_at_a_finer_resnet_stage_matches_the_reference():
    torch.manual_seed(0)
    rn = create_backbone("fervlm-tiny-rn")
    images = _images(2, 3)
    protos = _prototypes(rn.embed_dim)
    classes = torch.tensor([1, 3])  # classes whose maps are not all zero for this random tower
    per_image = protos[classes.repeat_interleave(3)]
    flat = images.reshape(-1, 3, SIZE, SIZE)
    cams, _ = gradcam_views(rn, images, protos, target_class=classes, cam="hirescam", stage="auto")
    ref = reference_gradcam(rn, flat, per_image, hires=True, stage="layer2")  # auto = layer2 at 64 px
    np.testing.assert_allclose(cams.reshape(-1, SIZE, SIZE), ref.numpy(), atol=1e-4)
    assert float(ref.amax(dim=(1, 2)).min()) > 0.99  # a real, non-degenerate map was compared
    # Not Grad-CAM at the same stage: the per-cell gradients change the map.
    grad_ref = reference_gradcam(rn, flat, per_image, hires=False, stage="layer2")
    assert float((ref - grad_ref).abs().max()) > 0.05
    with pytest.raises(ValueError, match="cam="):
        gradcam_views(rn, images, protos, cam="scorecam")
    with pytest.raises(ValueError, match="stage"):
        gradcam_views(rn, images, protos, stage="layer9")


def test_auto_stage_is_the_deepest_with_at_least_8x8_cells():
    from fervlm.explain.layers import resnet_stage

    tiny = create_backbone("fervlm-tiny-rn").model.visual  # 64 px: layer1 16x16, layer2 8x8, layer4 2x2
    assert resnet_stage(tiny, "auto") == "layer2" and target_layer(tiny, "auto") is tiny.layer2
    assert resnet_stage(tiny) == "layer4" and target_layer(tiny) is tiny.layer4
    rn50 = create_backbone("RN50").model.visual  # 224 px: layer3 14x14, layer4 7x7
    assert resnet_stage(rn50, "auto") == "layer3"
    vit = create_backbone("fervlm-tiny").model.visual  # a ViT has one grid: the stage is ignored
    assert target_layer(vit, "auto") is vit.transformer.resblocks[-1].ln_1


def test_target_layer_and_reshape(backbone):
    visual = backbone.visual
    store = {}
    handle = target_layer(visual).register_forward_hook(lambda _m, _i, out: store.__setitem__("a", out))
    with torch.no_grad():
        backbone.encode_image(_images(2))
    handle.remove()
    transform = reshape_transform_for(visual)
    if backbone.name == "fervlm-tiny":
        assert store["a"].shape == (2, 17, 64)
        maps = transform(store["a"])
        assert maps.shape == (2, 64, 4, 4)
        # token k = 1 + 4*i + j (row-major after the CLS token) lands at grid cell (i, j)
        torch.testing.assert_close(maps[:, :, 2, 3], store["a"][:, 1 + 4 * 2 + 3, :])
        # sequence-first (L, B, C) layout of open_clip <= 2.24 gives the same map
        visual.transformer.batch_first = False
        try:
            torch.testing.assert_close(reshape_transform_for(visual)(store["a"].transpose(0, 1)), maps)
        finally:
            visual.transformer.batch_first = True
        with pytest.raises(ValueError, match="patch grid"):
            transform(store["a"][:, :10])
    else:
        assert transform is None
        assert store["a"].shape == (2, 512, 2, 2)


def test_unsupported_tower_raises_type_error():
    with pytest.raises(TypeError, match="unsupported image tower"):
        target_layer(nn.Conv2d(3, 8, 3))
    with pytest.raises(TypeError, match="unsupported image tower"):
        reshape_transform_for(nn.Sequential())


# ---------------------------------------------------------------------------------------------
# Target invariances


class _Embedder(nn.Module):
    def __init__(self, backbone):
        super().__init__()
        self.visual = backbone.visual
        self.backbone = [backbone]  # not a submodule

    def forward(self, x):
        return self.backbone[0].encode_image(x, normalize=False)


def _library_cam(backbone, x, targets):
    cam = GradCAM(
        model=_Embedder(backbone),
        target_layers=[target_layer(backbone.visual)],
        reshape_transform=reshape_transform_for(backbone.visual),
    )
    try:
        return cam(input_tensor=x, targets=targets)
    finally:
        cam.activations_and_grads.release()


def test_positive_scaling_keeps_map_and_negation_changes_it(backbone):
    x = _images(2)
    proto = _prototypes(backbone.embed_dim)[2]
    base = _library_cam(backbone, x, [PrototypeSimilarityTarget(proto)] * 2)
    scaled = _library_cam(backbone, x, [PrototypeSimilarityTarget(proto, scale=100.0)] * 2)
    np.testing.assert_allclose(scaled, base, atol=1e-4)
    # The same map through the public API (target class 2, one view per sample).
    protos = _prototypes(backbone.embed_dim)
    api, _ = gradcam_views(backbone, x[:, None], protos, target_class=2)
    np.testing.assert_allclose(api[:, 0], base, atol=1e-4)
    # Negated target: cos(z, -p) = -cos(z, p) flips the channel weights, so ReLU keeps other regions.
    negated, _ = gradcam_views(backbone, x[:, None], -protos, target_class=2)
    assert np.abs(negated - api).max() > 0.1


def test_target_is_cosine_of_one_sample_output():
    proto = torch.tensor([3.0, 4.0])
    target = PrototypeSimilarityTarget(proto, scale=2.0)
    torch.testing.assert_close(target(torch.tensor([4.0, -3.0])), torch.tensor(0.0))
    torch.testing.assert_close(target(torch.tensor([6.0, 8.0])), torch.tensor(2.0))
    with pytest.raises(ValueError, match="1-D"):
        PrototypeSimilarityTarget(torch.ones(2, 2))


# ---------------------------------------------------------------------------------------------
# Frozen towers and model state


def test_frozen_tower_works_and_state_is_restored():
    torch.manual_seed(0)
    frozen = create_backbone("fervlm-tiny", unlocked_visual_groups=0)  # lock_image_tower: nothing trainable
    params = list(frozen.visual.parameters())
    assert not any(p.requires_grad for p in params)
    x = _images(2)
    protos = _prototypes(frozen.embed_dim)
    # Without the input requiring grad, the library alone cannot backpropagate (docs/algorithms.md pitfall 4).
    with pytest.raises(RuntimeError, match="does not require grad"):
        _library_cam(frozen, x, [PrototypeSimilarityTarget(protos[0])] * 2)
    frozen.model.train()
    with torch.no_grad():  # callers inside no_grad still get maps
        cams, _ = gradcam_views(frozen, x, protos, target_class=0)
    assert cams.shape == (2, SIZE, SIZE)
    assert cams.max(axis=(1, 2)).min() > 0.99 and cams.min() == 0.0
    assert not any(p.requires_grad for p in params)
    assert all(m.training for m in frozen.visual.modules())


def test_trainable_tower_flags_grads_and_mode_restored(vit):
    params = list(vit.visual.parameters())
    params[0].requires_grad_(False)  # a mixed pattern must come back as it was
    sentinel = torch.full_like(params[1], 7.0)
    params[1].grad = sentinel
    vit.visual.train()
    vit.visual.transformer.resblocks[0].eval()
    flags = [p.requires_grad for p in params]
    modes = [m.training for m in vit.visual.modules()]
    try:
        gradcam_views(vit, _images(2), _prototypes(vit.embed_dim))
        assert [p.requires_grad for p in params] == flags
        assert [m.training for m in vit.visual.modules()] == modes
        assert params[1].grad is sentinel and torch.equal(sentinel, torch.full_like(sentinel, 7.0))
        assert all(p.grad is None for p in params[2:])  # no parameter gradient was computed
    finally:
        params[0].requires_grad_(True)
        params[1].grad = None
        vit.visual.eval()


# ---------------------------------------------------------------------------------------------
# Shapes, values, predicted class


def test_shapes_values_and_predicted_class(backbone):
    protos = _prototypes(backbone.embed_dim)
    batch = _images(2, 3, seed=5)
    cams, ids = gradcam_views(backbone, batch, protos, batch_size=4)  # chunks straddle the samples
    assert cams.shape == (2, 3, SIZE, SIZE) and cams.dtype == np.float32
    assert cams.min() >= 0.0 and cams.max() <= 1.0
    with torch.no_grad():  # the fused prediction, computed independently
        z = F.normalize(backbone.model.encode_image(batch.reshape(-1, 3, SIZE, SIZE)), dim=-1)
        fused = F.normalize(z.reshape(2, 3, -1).mean(dim=1), dim=-1)
        expected = (fused @ protos.T).argmax(dim=1)
    assert ids.dtype == np.int64 and ids.tolist() == expected.tolist()
    single, single_id = gradcam_views(backbone, batch[1], protos)
    assert single.shape == (3, SIZE, SIZE) and single_id.shape == ()
    assert int(single_id) == int(expected[1])
    np.testing.assert_allclose(single, cams[1], atol=1e-4)


def test_gradcam_views_bad_input(vit):
    protos = _prototypes(vit.embed_dim)
    with pytest.raises(ValueError, match="images must be"):
        gradcam_views(vit, torch.zeros(3, SIZE, SIZE), protos)
    with pytest.raises(ValueError, match="target_class"):
        gradcam_views(vit, _images(2, 2), protos, target_class=[0, 1, 2])
    with pytest.raises(ValueError, match="target_class"):
        gradcam_views(vit, _images(2), protos, target_class=N_CLASSES)
    with pytest.raises(TypeError, match="backbone"):
        gradcam_views(object(), _images(2), protos)


# ---------------------------------------------------------------------------------------------
# Display helpers


def test_to_uint8_round_trip_and_overlay():
    from open_clip import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(2, 8, 8, 3), dtype=np.uint8)
    mean = torch.tensor(OPENAI_DATASET_MEAN)[:, None, None]
    std = torch.tensor(OPENAI_DATASET_STD)[:, None, None]
    normalised = (torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 255 - mean) / std
    np.testing.assert_array_equal(to_uint8(normalised), rgb)
    cam = np.zeros((8, 8), np.float32)
    cam[2, 3] = 1.0
    out = overlay(rgb[0], cam)
    assert out.shape == (8, 8, 3) and out.dtype == np.uint8
    assert not np.array_equal(out[2, 3], overlay(rgb[0], np.zeros((8, 8)))[2, 3])
    with pytest.raises(ValueError, match="does not match"):
        overlay(rgb[0], np.zeros((4, 4)))
    with pytest.raises(ValueError, match="uint8"):
        overlay(rgb[0].astype(float), cam)


# ---------------------------------------------------------------------------------------------
# Pointing game


def _blob(center: tuple[int, int], size: int = 32, sigma: float = 2.0) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return np.exp(-((yy - center[0]) ** 2 + (xx - center[1]) ** 2) / (2 * sigma**2))


def _box(y0: int, y1: int, x0: int, x1: int, size: int = 32) -> np.ndarray:
    m = np.zeros((size, size), bool)
    m[y0:y1, x0:x1] = True
    return m


def test_pointing_game_known_hits_and_empty_masks_skipped():
    masks = np.stack(
        [
            _box(4, 12, 4, 12),
            _box(4, 12, 4, 12),
            _box(20, 30, 2, 10),
            _box(0, 32, 0, 16),
            np.zeros((32, 32), bool),
        ]
    )
    # peaks: inside, outside (1 px right of the box), inside, outside (9 px right), on an empty mask
    cams = np.stack([_blob((8, 8)), _blob((8, 12)), _blob((29, 9)), _blob((16, 24)), _blob((8, 8))])
    cams = cams + 0.3 * _blob((26, 26), sigma=1.0)  # a weaker second blob does not move the maximum
    result = pointing_game(cams, masks)
    assert result["n_evaluated"] == 4 and result["n_skipped_empty"] == 1
    assert result["hit_rate"] == 0.5 and result["n_hits"] == 2.0
    np.testing.assert_array_equal(result["hits"][:4], [1.0, 0.0, 1.0, 0.0])
    assert np.isnan(result["hits"][4])
    # a peak 1 px outside the box counts with a 1-px tolerance, the one 9 px away does not
    tol = pointing_game(cams, masks, tolerance_px=1.0)
    np.testing.assert_array_equal(tol["hits"][:4], [1.0, 1.0, 1.0, 0.0])
    # any leading shape: (B, V, H, W) maps work like (N, H, W)
    assert pointing_game(cams[:4].reshape(2, 2, 32, 32), masks[:4].reshape(2, 2, 32, 32))["hit_rate"] == 0.5
    assert np.isnan(pointing_game(cams[4:], masks[4:])["hit_rate"])


def test_pointing_game_tie_rules():
    flat = np.zeros((1, 10, 10))
    mask = _box(0, 5, 0, 10, size=10)[None]  # half the image
    assert pointing_game(flat, mask, ties="any")["hit_rate"] == 1.0
    assert pointing_game(flat, mask, ties="fraction")["hit_rate"] == 0.5
    assert pointing_game(flat, mask)["n_tied"] == 1
    two_peaks = np.zeros((1, 10, 10))
    two_peaks[0, 1, 1] = two_peaks[0, 8, 8] = 1.0  # one maximum inside, one outside
    assert pointing_game(two_peaks, mask, ties="any")["hit_rate"] == 1.0
    assert pointing_game(two_peaks, mask, ties="fraction")["hit_rate"] == 0.5
    with pytest.raises(ValueError, match="ties"):
        pointing_game(flat, mask, ties="first")
    with pytest.raises(ValueError, match="boolean"):
        pointing_game(flat, mask.astype(int))
    with pytest.raises(ValueError, match="does not match"):
        pointing_game(flat, mask[:, :5])


def test_random_baseline_equals_mask_fraction():
    masks = np.stack([_box(0, 8, 0, 8), _box(0, 16, 0, 32), _box(4, 6, 4, 30), np.zeros((32, 32), bool)])
    fractions = [64 / 1024, 512 / 1024, 52 / 1024]
    rb = random_baseline(masks, n_draws=4000, seed=0)
    assert rb["hit_rate"] == pytest.approx(np.mean(fractions), abs=1e-12)
    assert rb["n_evaluated"] == 3 and rb["n_skipped_empty"] == 1
    assert abs(rb["hit_rate_simulated"] - rb["hit_rate"]) < 4 * rb["simulated_se"] + 1e-9
    expected_se = np.sqrt(sum(f * (1 - f) for f in fractions) / 4000) / 3
    assert rb["simulated_se"] == pytest.approx(expected_se, rel=0.1)
    # actual i.i.d. random maps through the pointing game hit at the same rate (the claim behind the formula)
    rng = np.random.default_rng(1)
    n_maps = 600
    random_maps = rng.random((n_maps, 3, 32, 32))
    pg = pointing_game(random_maps, np.broadcast_to(masks[:3], random_maps.shape))
    se = np.sqrt(np.mean([f * (1 - f) for f in fractions]) / (3 * n_maps))
    assert abs(pg["hit_rate"] - rb["hit_rate"]) < 4 * se
    # over a foreground: area fraction of mask ∩ foreground within the foreground
    fg = np.broadcast_to(_box(0, 32, 0, 16), masks.shape)
    rb_fg = random_baseline(masks, n_draws=10, foreground=fg)
    assert rb_fg["region"] == "foreground"
    assert rb_fg["hit_rate"] == pytest.approx(np.mean([64 / 512, 256 / 512, 24 / 512]))
    with pytest.raises(ValueError, match="foreground"):
        random_baseline(masks, foreground=np.zeros_like(masks))


def test_pointing_game_report_ratio():
    masks = np.stack([_box(0, 8, 0, 32), _box(0, 8, 0, 32)])  # 1/4 of the image each
    cams = np.stack([_blob((2, 2)), _blob((20, 2))])  # one hit, one miss
    report = pointing_game_report(cams, masks, n_draws=200)
    assert report["pointing_game"]["hit_rate"] == 0.5
    assert report["random_baseline"]["hit_rate"] == 0.25
    assert report["ratio"] == pytest.approx(2.0) and report["gain"] == pytest.approx(0.25)
