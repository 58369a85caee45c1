"""PromptTable: prompt ids drawn per (seed, epoch, sample, view), independent of batching."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from fervlm.methods.prompting import PromptTable, splitmix64
from fervlm.prompts import bank_for_labels


class _FakeText:
    """A text tower stand-in: deterministic pseudo-embeddings of each prompt (no model needed)."""

    def encode_text(self, texts, normalize=True):
        gen = [torch.Generator().manual_seed(abs(hash(t)) % (2**31)) for t in texts]
        return torch.nn.functional.normalize(torch.stack([torch.randn(8, generator=g) for g in gen]), dim=-1)


@pytest.fixture(scope="module")
def table():
    meta = pd.DataFrame({"sex": ["F", "M", "F", "M"], "age_group": ["", "", "", ""], "label": ["anger"] * 4})
    bank = bank_for_labels(["anger", "happiness"])
    return PromptTable.build(_FakeText(), bank, bank.classes, meta, use_metadata=True, seed=3), bank


def test_options_follow_metadata_and_class(table):
    prompts, bank = table
    assert prompts.group_of.tolist() == [0, 1, 0, 1]
    for g, sex in enumerate(["F", "M"]):
        for c, cls in enumerate(bank.classes):
            ids = prompts.options[g, c, : prompts.counts[g, c]].tolist()
            assert [prompts.texts[i] for i in ids] == bank.prompts(cls, {"sex": sex, "age_group": ""})


def test_draws_are_keyed_not_sequential(table):
    prompts, _ = table
    index, cls = torch.tensor([0, 1, 2, 3]), torch.tensor([0, 1, 1, 0])
    full = prompts.draw(index, cls, epoch=5, n_views=3)
    # The same samples in another batch order / split across ranks get the same prompts.
    part = prompts.draw(index[[3, 1]], cls[[3, 1]], epoch=5, n_views=3)
    assert torch.equal(part, full[[3, 1]])
    assert not torch.equal(prompts.draw(index, cls, epoch=6, n_views=3), full)  # new epoch, new draws
    for b in range(4):  # every id is admissible for its sample's group and class
        allowed = prompts.options[prompts.group_of[b], cls[b], : prompts.counts[prompts.group_of[b], cls[b]]]
        assert set(full[b].tolist()) <= set(allowed.tolist())
    assert prompts.draw(index, cls, epoch=5).shape == (4,)
    with pytest.raises(ValueError, match="no class"):
        prompts.draw(index, torch.tensor([0, -1, 0, 0]), epoch=0)


def test_draws_are_roughly_uniform(table):
    prompts, _ = table
    n, count = 20000, int(prompts.counts[0, 0])
    zero = torch.zeros(1, dtype=torch.long)
    views = prompts.draw(zero, zero, epoch=0, n_views=n)  # one sample, n independent keys
    freq = torch.bincount(views.flatten(), minlength=prompts.n_prompts)[prompts.options[0, 0, :count]].float()
    assert freq.sum() == n and (freq / n - 1 / count).abs().max() < 0.02


def test_splitmix64_matches_reference_values():
    # Reference: the first outputs of Vigna's splitmix64.c seeded with 0 are the finaliser applied to
    # k * 0x9E3779B97F4A7C15 for k = 1, 2, ...; splitmix64(x) adds the increment itself.
    import numpy as np

    out = splitmix64(np.array([0], dtype=np.uint64))
    assert int(out[0]) == 0xE220A8397B1DCDAF
