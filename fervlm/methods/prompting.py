"""Precomputed prompt embeddings and per-(sample, class) prompt choices, drawn inside the training step.

The text tower is frozen (docs/methods.md §1), so every prompt a run can use is encoded **once**. What a
sample may be paired with depends on its metadata (AffectVLM's augmented textual prompts: "an older
man looking very happy") and on its class, which for ``prompt_source="pseudo"`` changes between
clustering rounds. The table therefore stores, for every metadata group ``g`` and class ``c``, the
ids of the admissible prompts; the method draws one per sample (and per view for AffectVLM) in its
training step, so pseudo-labels updated at an epoch start are used immediately even when the data
loader's workers are persistent.

Draws are a pure function of ``(seed, epoch, sample index, view)`` — a SplitMix64 hash — rather
than of a sequential generator: the same sample gets the same prompt in the same epoch whatever the
batch composition or the number of DDP processes, which keeps multi-process runs equal to
single-process ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from fervlm.prompts import METADATA_KEYS, PromptBank, PromptEmbeddingCache, encode_prompts

__all__ = ["PromptTable", "splitmix64"]

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser (Steele et al. 2014) on uint64 arrays: a fast, well-mixed hash."""
    with np.errstate(over="ignore"):
        z = (np.asarray(x, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)) & _MASK
        z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK
        z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK
        return z ^ (z >> np.uint64(31))


def _uniform(seed: int, epoch: int, index: np.ndarray, view: np.ndarray) -> np.ndarray:
    """Deterministic uniforms in [0, 1) keyed by (seed, epoch, index, view)."""
    h = splitmix64(np.full(index.shape, seed & 0xFFFFFFFF, dtype=np.uint64))
    for part in (np.full(index.shape, epoch + 1, dtype=np.int64), index, view):
        h = splitmix64(h ^ part.astype(np.int64).astype(np.uint64))
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


class PromptTable(nn.Module):
    """All prompt embeddings of a run and the prompt ids admissible per (metadata group, class).

    Buffers (non-persistent: rebuilt from the frozen text tower, never stored in checkpoints):
    ``embeddings`` ``(P, D)``, ``options`` ``(G, C, K)`` prompt ids padded with 0, ``counts``
    ``(G, C)``, ``group_of`` ``(N,)`` metadata group of every table row.
    """

    def __init__(
        self, embeddings: Tensor, options: Tensor, counts: Tensor, group_of: Tensor, seed: int = 0
    ) -> None:
        super().__init__()
        if (counts < 1).any():
            raise ValueError("PromptTable: every (group, class) needs at least one prompt")
        self.register_buffer("embeddings", embeddings.float(), persistent=False)
        self.register_buffer("options", options.long(), persistent=False)
        self.register_buffer("counts", counts.long(), persistent=False)
        self.register_buffer("group_of", group_of.long(), persistent=False)
        self.seed = int(seed)

    @classmethod
    def build(
        cls,
        backbone: nn.Module,
        bank: PromptBank,
        classes: Sequence[str],
        table: pd.DataFrame | None = None,
        use_metadata: bool = True,
        seed: int = 0,
        cache: PromptEmbeddingCache | None = None,
    ) -> PromptTable:
        """Encode every admissible prompt once.

        Args:
            backbone: a `fervlm.backbones.Backbone` (frozen text tower).
            bank: the prompt bank; ``classes`` must be defined in it.
            classes: class names, in label-id order.
            table: the index table; its ``sex``/``age_group``/``ethnicity``/``intensity`` columns
                select metadata-augmented prompts when ``use_metadata`` (AffectVLM §III-B).
            use_metadata: False uses each class's plain prompts for everybody.
            seed: seed of the prompt draws.
            cache: optional embedding cache shared across folds.
        """
        n_rows = 0 if table is None else len(table)
        keys = [k for k in METADATA_KEYS if table is not None and k in table.columns] if use_metadata else []
        if keys:
            meta = table[keys].astype(str).replace({"nan": ""})
            tuples = list(meta.itertuples(index=False, name=None))
        else:
            tuples = [()] * n_rows
        groups = list(dict.fromkeys(tuples)) or [()]
        group_id = {g: i for i, g in enumerate(groups)}
        texts: dict[str, int] = {}
        per_group: list[list[list[int]]] = []
        for g in groups:
            metadata = dict(zip(keys, g, strict=True)) if keys else None
            row = []
            for c in classes:
                ids = [texts.setdefault(p, len(texts)) for p in bank.prompts(c, metadata)]
                row.append(ids)
            per_group.append(row)
        prompt_list = list(texts)
        emb = cache.get(backbone, prompt_list) if cache is not None else encode_prompts(backbone, prompt_list)
        width = max(len(ids) for row in per_group for ids in row)
        options = torch.zeros(len(groups), len(classes), width, dtype=torch.long)
        counts = torch.zeros(len(groups), len(classes), dtype=torch.long)
        for gi, row in enumerate(per_group):
            for ci, ids in enumerate(row):
                options[gi, ci, : len(ids)] = torch.tensor(ids)
                counts[gi, ci] = len(ids)
        group_of = torch.tensor([group_id[t] for t in tuples], dtype=torch.long)
        table_ = cls(emb.detach().cpu(), options, counts, group_of, seed)
        table_.texts = prompt_list
        return table_

    @property
    def n_prompts(self) -> int:
        return int(self.embeddings.shape[0])

    def draw(self, index: Tensor, classes: Tensor, epoch: int, n_views: int | None = None) -> Tensor:
        """Prompt ids for samples ``index`` (table rows) of classes ``classes`` ``(B,)``.

        Returns ``(B,)`` ids, or ``(B, n_views)`` with an independent draw per view (AffectVLM).
        """
        idx = index.detach().cpu().numpy().astype(np.int64)
        cls = classes.detach().cpu().numpy().astype(np.int64)
        if (cls < 0).any():
            raise ValueError("PromptTable.draw: a sample has no class (label -1 or no pseudo-label yet)")
        groups = self.group_of.cpu().numpy()[idx] if self.group_of.numel() else np.zeros_like(idx)
        counts = self.counts.cpu().numpy()[groups, cls][:, None]  # (B, 1)
        n = 1 if n_views is None else int(n_views)
        views = np.broadcast_to(np.arange(n), (len(idx), n))
        u = _uniform(self.seed, int(epoch), np.broadcast_to(idx[:, None], views.shape), views)
        k = np.minimum((u * counts).astype(np.int64), counts - 1)  # (B, n) uniform choice per view
        ids = self.options.cpu().numpy()[groups[:, None], cls[:, None], k]
        ids = ids[:, 0] if n_views is None else ids
        return torch.as_tensor(np.ascontiguousarray(ids), device=self.embeddings.device)

    def embed(self, ids: Tensor) -> Tensor:
        """Embeddings of prompt ids (any shape) → ``(*ids.shape, D)``."""
        return self.embeddings[ids]
