"""Method totals (AffectVLM, MultiviewVLM, SMILE-VLM): composition, weights, ablation switches."""

import doctest
import importlib
import pkgutil

import pytest
import torch
import torch.nn.functional as F

import fervlm.distributed
import fervlm.losses
from fervlm.losses import (
    AffectVLMLoss,
    MultiviewVLMLoss,
    SmileVLMLoss,
    ViewAwareFusion,
    cross_modal_redundancy,
    info_nce,
    multiview_barlow_twins,
    multiview_consistency,
    multiview_contrastive_margin,
    multiview_triplet,
    negative_pair_loss,
    positive_pair_loss,
    total_loss,
    vision_language_alignment,
)

V, B, D = 3, 6, 8
LABELS = torch.tensor([0, 1, 1, 2, 0, 2])


def _unit(*shape: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*shape, generator=g, dtype=torch.float64), dim=-1)


def test_affectvlm_total_is_weighted_sum_of_terms() -> None:
    z, t = _unit(V, B, D, seed=0), _unit(V, B, D, seed=1)
    loss = AffectVLMLoss(weights={"align": 0.5, "mt": 2.0}, margin_init=0.3).double()
    parts = loss(z=z, t=t, labels=LABELS, logit_scale=10.0)
    alpha = torch.tensor(0.3, dtype=torch.float64)
    align = torch.stack([info_nce(z[v], t[v], 10.0, LABELS) for v in range(V)]).mean()
    assert torch.allclose(parts["align_loss"], 0.5 * align)
    assert torch.allclose(parts["mc_loss"], multiview_contrastive_margin(z, LABELS, alpha))
    assert torch.allclose(parts["mt_loss"], 2.0 * multiview_triplet(z, LABELS, alpha))
    assert torch.allclose(parts["alpha"], alpha)
    assert torch.allclose(total_loss(parts), parts["align_loss"] + parts["mc_loss"] + parts["mt_loss"])
    # (B, D) prompts are shared by all views.
    shared = loss(z=z, t=t[0], labels=LABELS, logit_scale=10.0)
    assert torch.allclose(
        shared["align_loss"], 0.5 * torch.stack([info_nce(z[v], t[0], 10.0, LABELS) for v in range(V)]).mean()
    )


def test_multiviewvlm_total_is_weighted_sum_of_terms() -> None:
    z, t = _unit(V, B, D, seed=2), _unit(B, D, seed=3)
    parts = MultiviewVLMLoss(lambda_mv=0.5, lambda_pn=2.0, tau_p=0.2)(
        z=z, t=t, labels=LABELS, logit_scale=10.0
    )
    # Default: the paper's targets, prompts of the same (pseudo-)class are positives.
    assert torch.allclose(
        parts["con_loss"], info_nce(z.reshape(V * B, D), t.repeat(V, 1), 10.0, LABELS.repeat(V))
    )
    assert torch.allclose(parts["mv_loss"], 0.5 * multiview_consistency(z, t))
    assert torch.allclose(parts["pos_loss"], 2.0 * positive_pair_loss(z, 0.2))
    assert torch.allclose(parts["neg_loss"], 2.0 * negative_pair_loss(z, LABELS, 0.2))
    by_sample = MultiviewVLMLoss(con_targets="sample")(z=z, t=t, labels=LABELS, logit_scale=10.0)
    sample_ids = torch.arange(B).repeat(V)
    assert torch.allclose(
        by_sample["con_loss"], info_nce(z.reshape(V * B, D), t.repeat(V, 1), 10.0, sample_ids)
    )
    assert sorted(MultiviewVLMLoss(disabled=("pn",))(z=z, t=t, labels=LABELS, logit_scale=10.0)) == [
        "con_loss",
        "mv_loss",
    ]


def test_smilevlm_total_is_weighted_sum_of_terms() -> None:
    g = torch.Generator().manual_seed(4)
    z_a = torch.randn(V, B, D, generator=g, dtype=torch.float64)
    z_b = z_a + 0.5 * torch.randn(V, B, D, generator=g, dtype=torch.float64)
    fused, _ = ViewAwareFusion(D).double()(F.normalize(z_a, dim=-1))
    t = _unit(B, D, seed=5)
    parts = SmileVLMLoss(alpha=2.0, beta=0.5, gamma=3.0)(
        z_a=z_a, z_b=z_b, z_fused=fused, t=t, logit_scale=10.0
    )
    assert torch.allclose(parts["bt_loss"], 2.0 / D * multiview_barlow_twins(z_a, z_b))
    assert torch.allclose(
        parts["align_loss"], 0.5 * vision_language_alignment(F.normalize(z_a, dim=-1), fused, t, 10.0)
    )
    assert torch.allclose(parts["red_loss"], 3.0 / D * cross_modal_redundancy(fused, t))
    raw = SmileVLMLoss(scale_by_dim=False)(z_a=z_a, z_b=z_b, z_fused=fused, t=t, logit_scale=10.0)
    assert torch.allclose(raw["bt_loss"], multiview_barlow_twins(z_a, z_b))
    labelled = SmileVLMLoss()(z_a=z_a, z_b=z_b, z_fused=fused, t=t, logit_scale=10.0, prompt_labels=LABELS)
    expected = vision_language_alignment(F.normalize(z_a, dim=-1), fused, t, 10.0, LABELS)
    assert torch.allclose(labelled["align_loss"], expected)


@pytest.mark.parametrize(
    ("factory", "name", "valid"),
    [
        (AffectVLMLoss, "mt", ["align", "mc", "mt"]),
        (MultiviewVLMLoss, "mv", ["con", "mv", "pos", "neg", "pn"]),
        (SmileVLMLoss, "red", ["bt", "align", "red"]),
    ],
)
def test_disabled_terms_are_omitted_and_unknown_names_raise(factory, name, valid) -> None:
    with pytest.raises(ValueError, match="valid names") as info:
        factory(disabled=("nope",))
    assert all(v in str(info.value) for v in valid)
    z, t = _unit(V, B, D, seed=6), _unit(B, D, seed=7)
    loss = factory(disabled=(name,)).double()
    if factory is SmileVLMLoss:
        parts = loss(z_a=z, z_b=z, z_fused=z[0], t=t, logit_scale=10.0)
    else:
        parts = loss(z=z, t=t, labels=LABELS, logit_scale=10.0)
    assert f"{name}_loss" not in parts and len([k for k in parts if k.endswith("_loss")]) >= 2


def test_total_loss_requires_a_loss_key() -> None:
    with pytest.raises(ValueError, match="_loss"):
        total_loss({"alpha": torch.tensor(0.2)})


def test_docstring_examples_run() -> None:
    modules = [fervlm.distributed] + [
        importlib.import_module(f"fervlm.losses.{m.name}")
        for m in pkgutil.iter_modules(fervlm.losses.__path__)
    ]
    attempted = 0
    for module in modules:
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, module.__name__
        attempted += result.attempted
    assert attempted >= 30
