"""Prompt embeddings with the text tower, their cache, and the class prototypes built from them.

`p_c = normalize(mean_{t in T_c} normalize(f_t(t)))` (docs/methods.md §1): the prototype of class `c` is the
normalised mean of its normalised prompt embeddings. The frozen text tower embeds a bank's prompts once
(`PromptEmbeddingCache`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from fervlm.prompts.bank import PromptBank
from fervlm.utils import atomic_write


def encode_prompts(backbone: Any, prompts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
    """Embed prompts with the backbone's text tower: (N, D) float32, L2-normalised, no gradient.

    Args:
        backbone: a `fervlm.backbones.Backbone` (anything with `encode_text(list[str], normalize=True)`).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if len(prompts) == 0:
        raise ValueError("encode_prompts: no prompts given")
    chunks = []
    with torch.no_grad():
        for i in range(0, len(prompts), batch_size):
            emb = backbone.encode_text(list(prompts[i : i + batch_size]), normalize=True)
            chunks.append(emb.float())
    return torch.cat(chunks)


class PromptEmbeddingCache:
    """Prompt embeddings computed once per (text-tower fingerprint, prompt), in memory and optionally on disk.

    The text tower is frozen by default (docs/methods.md §1), so a bank's embeddings never change during
    training; keying on `Backbone.text_fingerprint()` keeps the cache right if the tower is trained or
    reloaded anyway. On disk each fingerprint gets one file `<cache_dir>/<fingerprint>.pt`
    ({prompt: (D,) tensor}), written to a temporary name and renamed so a crash never leaves a corrupt cache.
    """

    def __init__(self, cache_dir: str | os.PathLike[str] | None = None, batch_size: int = 256) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.batch_size = batch_size
        self._store: dict[str, dict[str, torch.Tensor]] = {}
        self.n_encoded = 0  # prompts actually sent through the text tower (for tests and logs)

    def _table(self, key: str) -> dict[str, torch.Tensor]:
        if key not in self._store:
            table: dict[str, torch.Tensor] = {}
            if self.cache_dir is not None and (self.cache_dir / f"{key}.pt").is_file():
                table = torch.load(self.cache_dir / f"{key}.pt", weights_only=True)
            self._store[key] = table
        return self._store[key]

    def get(self, backbone: Any, prompts: Sequence[str], key: str | None = None) -> torch.Tensor:
        """(N, D) normalised embeddings of `prompts`, encoding only those not cached yet.

        Args:
            key: cache identity; default `backbone.text_fingerprint()`.
        """
        key = key or backbone.text_fingerprint()
        table = self._table(key)
        missing = list(dict.fromkeys(p for p in prompts if p not in table))
        if missing:
            emb = encode_prompts(backbone, missing, self.batch_size).cpu()
            self.n_encoded += len(missing)
            table.update({p: e.clone() for p, e in zip(missing, emb, strict=True)})
            if self.cache_dir is not None:
                self._save(key, table)
        return torch.stack([table[p] for p in prompts])

    def _save(self, key: str, table: dict[str, torch.Tensor]) -> None:
        assert self.cache_dir is not None
        with atomic_write(self.cache_dir / f"{key}.pt") as tmp:
            torch.save(table, tmp)


def class_prototypes(
    backbone: Any,
    bank: PromptBank,
    classes: Sequence[str] | None = None,
    cache: PromptEmbeddingCache | None = None,
) -> torch.Tensor:
    """Class prototypes `p_c = normalize(mean_{t in T_c} normalize(f_t(t)))` (docs/methods.md §1): (C, D).

    Uses each class's prompts without metadata, in the order of `classes` (default: `bank.classes`).
    """
    classes = list(classes) if classes is not None else list(bank.classes)
    texts, owners = bank.all_prompts(classes)
    emb = cache.get(backbone, texts) if cache is not None else encode_prompts(backbone, texts)
    owner_idx = torch.tensor([classes.index(o) for o in owners])
    sums = torch.zeros(len(classes), emb.shape[1], dtype=emb.dtype).index_add_(0, owner_idx, emb.cpu())
    counts = torch.bincount(owner_idx, minlength=len(classes)).to(emb.dtype)[:, None]
    return torch.nn.functional.normalize(sums / counts, dim=1)


def bank_fingerprint(bank: PromptBank) -> str:
    """A short hash of a bank's active classes and prompts (for run records)."""
    texts, owners = bank.all_prompts()
    return hashlib.sha1(json.dumps([owners, texts]).encode()).hexdigest()[:12]
