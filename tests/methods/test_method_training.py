"""Training smoke tests of every method on a fixed batch, prediction, pseudo-labels, failure modes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from fervlm.benchmarks.toy import make_toy_table
from fervlm.data import FERDataModule, MultiviewDataset, load_table
from fervlm.losses import total_loss
from fervlm.methods import AffectVLM, LinearProbe, MultiviewVLM, SmileVLM, TrainConfig, ZeroShot, build_method

CLASSES = ["anger", "disgust", "fear", "happiness", "sadness", "surprise"]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return load_table(make_toy_table(tmp_path_factory.mktemp("toy"), n_subjects=4, size=16))


def _batch(table, root, rows, views=("left", "front", "right"), two_views=False):
    ds = MultiviewDataset(
        table, root, rows, views=views, classes=CLASSES, image_size=64, augment="none", two_views=two_views
    )
    items = [ds[i] for i in range(len(ds))]
    tensors = ("images", "label", "index")
    return {
        k: torch.stack([torch.as_tensor(it[k]) for it in items])
        if k.startswith(tensors)
        else [it[k] for it in items]
        for k in items[0]
    }


def _config(method, **kw):
    return TrainConfig.from_dict(dict(method=method, backbone="fervlm-tiny", lr=1e-3, batch_size=12, **kw))


def _train_steps(method, batch, steps=8):
    opt = method.configure_optimizers()
    opt = opt["optimizer"] if isinstance(opt, dict) else opt
    losses = []
    for _ in range(steps):
        parts, _ = method.compute_loss(batch)
        loss = total_loss(parts)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize(
    ("name", "cls", "extra", "two_views"),
    [
        ("affectvlm", AffectVLM, {}, False),
        ("multiviewvlm", MultiviewVLM, {}, False),
        ("multiviewvlm", MultiviewVLM, {"prompt_source": "pseudo"}, False),
        ("smilevlm", SmileVLM, {}, True),
        ("affectvlm", AffectVLM, {"views": ("front",)}, False),  # single-view variant, V = 1
        ("multiviewvlm", MultiviewVLM, {"views": ("left",)}, False),  # V = 1: no positive view pairs
        ("smilevlm", SmileVLM, {"views": ("right",)}, True),
    ],
)
def test_loss_decreases_on_a_fixed_batch(toy, name, cls, extra, two_views):
    table, root = toy
    pl.seed_everything(0, verbose=False)
    method = build_method(_config(name, **extra), table)
    assert isinstance(method, cls)
    rows = np.arange(12)
    views = extra.get("views", ("left", "front", "right"))
    batch = _batch(table, root, rows, views=views, two_views=two_views)
    if method.uses_pseudo_labels:  # pseudo-labels come from a clustering round; fix them here
        method.pseudo_labels[torch.as_tensor(rows)] = torch.as_tensor(rows % 6)
    losses = _train_steps(method, batch)
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.8 * losses[0], losses


def test_affectvlm_draws_one_prompt_per_view_with_metadata(toy):
    table, _ = toy
    method = build_method(_config("affectvlm"), table)
    texts = method.prompt_table.texts
    assert any(" man " in f" {t} " or "woman" in t for t in texts)  # metadata-augmented prompts exist
    ids = method.prompt_table.draw(torch.arange(12), torch.arange(12) % 6, epoch=0, n_views=3)
    assert ids.shape == (12, 3)
    assert len(set(ids.flatten().tolist())) > 12  # views draw independently


def test_predict_step_uses_prototypes(toy):
    table, root = toy
    method = build_method(_config("zeroshot"), table)
    batch = _batch(table, root, np.arange(6))
    out = method.predict_step(batch)
    assert out["pred"].shape == (6,) and out["scores"].shape == (6, 6) and out["embeddings"].shape[0] == 6
    z = torch.nn.functional.normalize(method.embed_views(batch["images"]).mean(0), dim=-1)
    torch.testing.assert_close(out["scores"], z @ method.prototypes.T)
    assert torch.equal(out["pred"], out["scores"].argmax(1))


def test_linear_probe_learns_the_toy_classes(toy):
    table, root = toy
    pl.seed_everything(0, verbose=False)
    method = build_method(_config("linearprobe"), table)
    assert isinstance(method, LinearProbe) and not method.trainable
    rows = np.arange(len(table))
    dm = FERDataModule(table, root, rows[:18], rows[18:], method.classes, image_size=64, num_workers=0)
    dm.setup()
    info = method.fit_probe(dm.plain_dataloader("train"))
    assert info["n_train"] == 18 and info["train_accuracy"] > 0.9
    out = method.predict_step(_batch(table, root, rows[:18]))
    assert (out["pred"].numpy() == rows[:18] % 6).mean() > 0.9
    assert isinstance(build_method(_config("zeroshot"), table), ZeroShot)


def test_recluster_assigns_pseudo_labels_and_reports_accuracy(toy):
    table, root = toy
    pl.seed_everything(0, verbose=False)
    method = build_method(_config("multiviewvlm", prompt_source="pseudo", pseudo_init="zeroshot"), table)
    rows = np.arange(len(table))
    dm = FERDataModule(table, root, rows[:18], rows[18:], method.classes, image_size=64, num_workers=0)
    dm.setup()
    report = method.recluster(dm.plain_dataloader("train"))
    assert report["round"] == 0 and report["method"] == "zeroshot" and 0 <= report["accuracy"] <= 1
    assert (method.pseudo_labels[:18] >= 0).all() and (method.pseudo_labels[18:] == -1).all()
    report = method.recluster(dm.plain_dataloader("train"))
    assert report["round"] == 1 and report["method"] == "kmeans" and sum(report["cluster_sizes"]) == 18


@pytest.mark.parametrize("naming", ["anchor", "prototypes"])
def test_rounds_are_named_against_the_frozen_priors_zero_shot_labels(toy, naming):
    from fervlm.pseudo import aggregate_views, assign_pseudo_labels, zero_shot_labels

    table, root = toy
    pl.seed_everything(0, verbose=False)
    config = _config("multiviewvlm", prompt_source="pseudo", pseudo_init="zeroshot", pseudo_naming=naming)
    method = build_method(config, table)
    rows = np.arange(len(table))
    dm = FERDataModule(table, root, rows[:18], rows[18:], method.classes, image_size=64, num_workers=0)
    dm.setup()
    views0 = method.embed_loader(dm.plain_dataloader("train"))[0]
    method.recluster(dm.plain_dataloader("train"))
    zero_shot = zero_shot_labels(aggregate_views(views0), method.prototypes)  # the frozen prior's labels
    assert torch.equal(method.pseudo_labels[:18], zero_shot)  # pseudo_init="zeroshot"
    if naming == "anchor":
        assert torch.equal(method.pseudo_anchor[:18], zero_shot) and (method.pseudo_anchor[18:] == -1).all()
    else:
        assert (method.pseudo_anchor == -1).all()
    with torch.no_grad():  # the image tower moves between rounds; the anchor must not
        for p in method.backbone.visual.parameters():
            p.add_(0.05 * torch.randn_like(p))
    method.recluster(dm.plain_dataloader("train"))
    views = method.embed_loader(dm.plain_dataloader("train"))[0]
    anchor = zero_shot if naming == "anchor" else None
    expected = assign_pseudo_labels(views, method.prototypes, init="kmeans", seed=1, n_init=4, anchor=anchor)
    assert torch.equal(method.pseudo_labels[:18], expected.labels)


def test_checkpoints_without_the_anchor_still_load_strictly(toy):
    table, _ = toy
    method = build_method(_config("multiviewvlm", prompt_source="pseudo"), table)
    old = {k: v for k, v in method.state_dict().items() if k != "pseudo_anchor"}
    old["pseudo_labels"] = torch.arange(len(table)) % 6
    method.pseudo_anchor.fill_(2)
    method.load_state_dict(old, strict=True)
    assert (method.pseudo_anchor == -1).all() and torch.equal(method.pseudo_labels, old["pseudo_labels"])


def test_validation_rows_get_the_nearest_named_centroid_of_the_round(toy):
    from fervlm.pseudo import aggregate_views, assign_pseudo_labels, zero_shot_labels

    table, root = toy
    pl.seed_everything(0, verbose=False)
    method = build_method(_config("multiviewvlm", prompt_source="pseudo"), table)  # anchored naming
    rows = np.arange(len(table))
    dm = FERDataModule(
        table, root, rows[:12], rows[18:], method.classes, image_size=64, num_workers=0, val_rows=rows[12:18]
    )
    dm.setup()
    report = method.recluster(dm.plain_dataloader("train"), dm.plain_dataloader("val"))
    assert (method.pseudo_labels[:18] >= 0).all() and (method.pseudo_labels[18:] == -1).all()
    assert 0 <= report["val_accuracy"] <= 1 and sum(report["cluster_sizes"]) == 12  # val rows not clustered
    # Reference: the same k-means round on the training rows, validation rows to the nearest centroid.
    train_views = method.embed_loader(dm.plain_dataloader("train"))[0]
    val_views = method.embed_loader(dm.plain_dataloader("val"))[0]
    anchor = zero_shot_labels(aggregate_views(train_views), method.prototypes)
    pseudo = assign_pseudo_labels(
        train_views, method.prototypes, init="kmeans", seed=0, n_init=4, anchor=anchor
    )
    assert torch.equal(method.pseudo_labels[:12], pseudo.labels)
    dist = torch.cdist(aggregate_views(val_views).double(), pseudo.centroids.double())
    expected = torch.as_tensor(pseudo.mapping)[dist.argmin(1)]
    assert torch.equal(method.pseudo_labels[12:18], expected)
    batch = _batch(table, root, rows[12:18])
    parts, _ = method.compute_loss(batch)  # a validation batch: its prompt classes exist
    assert torch.isfinite(total_loss(parts))


def _parts_with(method, batch, cls):
    """The method's loss parts with the prompt classes fixed to ``cls``."""
    method.class_of = lambda _batch: cls
    return method.compute_loss(batch)[0]


def test_multiviewvlm_con_targets_key_reaches_the_loss(toy):
    from fervlm.losses import info_nce

    table, root = toy
    batch = _batch(table, root, np.arange(6))
    cls = torch.tensor([0, 0, 1, 1, 2, 2])
    assert TrainConfig().con_targets == "label"  # the paper: negatives are prompts of another emotion
    for targets in ("label", "sample"):
        pl.seed_everything(0, verbose=False)
        method = build_method(_config("multiviewvlm", con_targets=targets), table)
        assert method.loss.con_targets == targets
        with torch.no_grad():
            parts = _parts_with(method, batch, cls)
            z = method.embed_views(batch["images"])
            t = method.prompt_table.embed(method.prompt_table.draw(batch["index"], cls, method.prompt_key()))
        ids = cls if targets == "label" else torch.arange(6)
        V = z.shape[0]
        expected = info_nce(z.reshape(V * 6, -1), t.repeat(V, 1), method.logit_scale(), ids.repeat(V))
        torch.testing.assert_close(parts["con_loss"], expected)


def test_smilevlm_alignment_is_one_to_one_by_default(toy):
    from fervlm.losses import vision_language_alignment

    table, root = toy
    batch = _batch(table, root, np.arange(6), two_views=True)
    cls = torch.tensor([0, 0, 1, 1, 2, 2])
    assert TrainConfig().align_targets == "pair"  # SMILE-VLM eq. (6)
    for targets in ("pair", "class"):
        pl.seed_everything(0, verbose=False)
        method = build_method(_config("smilevlm", align_targets=targets), table).eval()
        with torch.no_grad():
            parts = _parts_with(method, batch, cls)
            z_views = torch.nn.functional.normalize(method.project(batch["images_a"]), dim=-1)
            t = method.prompt_table.embed(method.prompt_table.draw(batch["index"], cls, method.prompt_key()))
            expected = vision_language_alignment(
                z_views, method.fuse(z_views), t, method.logit_scale(), None if targets == "pair" else cls
            )
        torch.testing.assert_close(parts["align_loss"], method.config.beta * expected)


def test_non_finite_loss_raises_naming_the_part(toy):
    table, root = toy
    method = build_method(_config("affectvlm"), table)
    with torch.no_grad():
        next(p for p in method.backbone.visual.parameters() if p.requires_grad).fill_(float("nan"))
    with pytest.raises(FloatingPointError, match=r"loss part '\w+_loss' is nan at train step 0"):
        method._step(_batch(table, root, np.arange(6)), "train")
