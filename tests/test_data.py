"""fervlm.data: multiview dataset, mixed-view augmentation, global batches, data module."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fervlm.benchmarks.toy import make_toy_table
from fervlm.data import (
    FERDataModule,
    GlobalBatchSampler,
    MultiviewDataset,
    load_table,
    resolve_view_columns,
)

CLASSES = ["anger", "disgust", "fear", "happiness", "sadness", "surprise"]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return load_table(make_toy_table(tmp_path_factory.mktemp("toy"), n_subjects=4, size=16))


def test_items_have_views_labels_metadata_and_normalisation(toy):
    table, root = toy
    mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
    ds = MultiviewDataset(table, root, classes=CLASSES, image_size=16, mean=mean, std=std, augment="none")
    assert len(ds) == len(table) == 24
    item = ds[7]
    assert item["images"].shape == (3, 3, 16, 16) and item["images"].dtype == torch.float32
    assert item["index"] == 7 and CLASSES[item["label"]] == table.at[7, "label"]
    assert item["sex"] == table.at[7, "sex"]
    # Normalisation reverses exactly to the cached uint8 pixels.
    raw = ds.cache[7].float() / 255
    torch.testing.assert_close(item["images"] * 0.25 + 0.5, raw)


def test_unknown_label_is_minus_one_and_rows_subset(toy):
    table, root = toy
    ds = MultiviewDataset(table, root, rows=[3, 5], classes=["anger"], image_size=16, augment="none")
    assert len(ds) == 2 and ds[0]["index"] == 3
    assert {ds[i]["label"] for i in range(2)} <= {-1, 0}


def test_mixed_view_augmentation_is_independent_per_view_and_same_is_shared(toy):
    table, root = toy
    cache = MultiviewDataset.build_cache(table, root, resolve_view_columns(table, ["front"]), 16)
    same_views = cache[:, [0, 0, 0]].contiguous()  # three identical views per sample
    kwargs = dict(views=["front"], classes=CLASSES, image_size=16)
    mixed = MultiviewDataset(table, root, augment="mixed", cache=same_views, **kwargs)
    shared = MultiviewDataset(table, root, augment="same", cache=same_views, **kwargs)
    torch.manual_seed(0)
    differ = [not torch.equal(x[0], x[1]) for x in (mixed[i % 24]["images"] for i in range(20))]
    assert sum(differ) >= 10  # independent draws: views of one sample usually differ
    for i in range(10):
        x = shared[i]["images"]
        assert torch.equal(x[0], x[1]) and torch.equal(x[1], x[2])


def test_two_views_returns_two_augmentations(toy):
    table, root = toy
    ds = MultiviewDataset(table, root, classes=CLASSES, image_size=16, augment="mixed", two_views=True)
    item = ds[0]
    assert set(item) >= {"images_a", "images_b"} and "images" not in item
    assert item["images_a"].shape == item["images_b"].shape == (3, 3, 16, 16)


def test_view_names_and_yaws_resolve_and_bad_views_are_named(toy):
    table, _ = toy
    assert resolve_view_columns(table, ["left", "front", "right"]) == ["view_-30", "view_0", "view_30"]
    assert resolve_view_columns(table, ["30", 0]) == ["view_30", "view_0"]
    with pytest.raises(ValueError, match=r"'top' is neither a view name"):
        resolve_view_columns(table, ["top"])


def test_bad_view_yaw_is_named(toy):
    with pytest.raises(ValueError, match=r"no image column for view '45' \(yaw 45\).*view_-30"):
        resolve_view_columns(toy[0], ["front", "45"])


def test_global_batches_are_the_same_for_any_world_size():
    single = GlobalBatchSampler(23, 6, shuffle=True, drop_last=True, seed=3)
    ranks = [
        GlobalBatchSampler(23, 6, shuffle=True, drop_last=True, seed=3, rank=r, world_size=2) for r in (0, 1)
    ]
    for s in (single, *ranks):
        s.set_epoch(2)
    batches = list(single)
    assert len(batches) == 3 and all(len(b) == 6 for b in batches)
    for full, a, b in zip(batches, *ranks, strict=True):
        assert sorted(a + b) == sorted(full) and a == full[0::2]
    single.set_epoch(3)
    assert list(single) != batches  # reshuffled each epoch, deterministically
    single.set_epoch(2)
    assert list(single) == batches


def test_last_partial_batch_kept_without_drop_last():
    s = GlobalBatchSampler(10, 4, shuffle=False, drop_last=False)
    assert [len(b) for b in s] == [4, 4, 2] and len(s) == 3


def test_datamodule_drops_last_and_serves_plain_splits(toy):
    table, root = toy
    rows = np.arange(len(table))
    dm = FERDataModule(table, root, rows[:20], rows[20:], CLASSES, image_size=16, batch_size=8, num_workers=0)
    dm.setup("fit")
    sizes = [len(b["index"]) for b in dm.train_dataloader()]
    assert sizes == [8, 8]
    test = list(dm.test_dataloader())
    assert sum(len(b["index"]) for b in test) == 4
    plain = torch.cat([b["index"] for b in dm.plain_dataloader("train")])
    assert plain.tolist() == list(range(20))
