"""The Lightning data module of one fold: cached datasets, global-batch loaders, a plain loader.

It ties the pieces of `fervlm.data` together for `fervlm.train`: one decoded-image cache per table
(`fervlm.data.dataset`), loaders whose batch sampler is `fervlm.data.sampler.GlobalBatchSampler`, and a
plain loader (no augmentation, table order) for pseudo-labelling, the linear probe and evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from fervlm.data.dataset import MultiviewDataset, default_num_workers
from fervlm.data.sampler import GlobalBatchSampler
from fervlm.tables import resolve_view_columns
from fervlm.data.transforms import OPENAI_MEAN, OPENAI_STD

__all__ = ["FERDataModule"]


class FERDataModule(pl.LightningDataModule):
    """Train / validation / test loaders of one fold (or of a cross-dataset pair of tables).

    The global batch size is ``batch_size`` whatever the number of processes (see
    :class:`GlobalBatchSampler`). The training loader drops the last incomplete batch because the
    methods' losses are batch-wide (a batch of one sample has no negatives).

    Args:
        table, root: the training table and its image folder (:func:`load_table`).
        train_rows, val_rows, test_rows: positional rows of each split (``test_rows`` index
            ``test_table`` when given, else ``table``).
        classes: class names (label ids are positions in this list).
        views: view names or yaws.
        image_size, mean, std: image geometry and normalisation of the backbone.
        batch_size: global batch size.
        augment: training augmentation, see :class:`MultiviewDataset`.
        two_views: two augmentations per view in training (SMILE-VLM).
        num_workers: loader workers (default :func:`default_num_workers`); persistent when > 0.
        seed: shuffling seed.
        test_table, test_root: a second table for cross-dataset evaluation.
    """

    def __init__(
        self,
        table: pd.DataFrame,
        root: str | Path,
        train_rows: Sequence[int] | np.ndarray,
        test_rows: Sequence[int] | np.ndarray,
        classes: Sequence[str],
        views: Sequence[str | int] = ("left", "front", "right"),
        image_size: int = 224,
        mean: Sequence[float] = OPENAI_MEAN,
        std: Sequence[float] = OPENAI_STD,
        batch_size: int = 32,
        augment: str = "mixed",
        two_views: bool = False,
        num_workers: int | None = None,
        seed: int = 0,
        val_rows: Sequence[int] | np.ndarray | None = None,
        test_table: pd.DataFrame | None = None,
        test_root: str | Path | None = None,
    ) -> None:
        super().__init__()
        self.table, self.root = table, Path(root)
        self.train_rows = np.asarray(train_rows, dtype=np.int64)
        has_val = val_rows is not None and len(val_rows) > 0
        self.val_rows = np.asarray(val_rows, dtype=np.int64) if has_val else None
        self.test_rows = np.asarray(test_rows, dtype=np.int64)
        self.classes, self.views = list(classes), list(views)
        self.image_size, self.mean, self.std = int(image_size), tuple(mean), tuple(std)
        self.batch_size, self.augment, self.two_views = int(batch_size), augment, two_views
        self.num_workers = default_num_workers() if num_workers is None else int(num_workers)
        self.seed = seed
        self.test_table = table if test_table is None else test_table
        self.test_root = self.root if test_root is None else Path(test_root)
        self._cache: torch.Tensor | None = None
        self._test_cache: torch.Tensor | None = None

    # ------------------------------------------------------------------ datasets
    def _dataset(self, split: str, augment: str = "none", two_views: bool = False) -> MultiviewDataset:
        common = dict(
            views=self.views, classes=self.classes, image_size=self.image_size, mean=self.mean, std=self.std
        )
        if split == "test" and self.test_table is not self.table:
            if self._test_cache is None:
                cols = resolve_view_columns(self.test_table, self.views)
                self._test_cache = MultiviewDataset.build_cache(
                    self.test_table, self.test_root, cols, self.image_size
                )
            return MultiviewDataset(
                self.test_table,
                self.test_root,
                self.test_rows,
                augment="none",
                cache=self._test_cache,
                **common,
            )
        if self._cache is None:
            cols = resolve_view_columns(self.table, self.views)
            self._cache = MultiviewDataset.build_cache(self.table, self.root, cols, self.image_size)
        rows = {"train": self.train_rows, "val": self.val_rows, "test": self.test_rows}[split]
        return MultiviewDataset(
            self.table,
            self.root,
            rows,
            augment=augment,
            two_views=two_views,
            cache=self._cache,
            seed=self.seed,
            **common,
        )

    def _world(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return 0, 1
        return int(trainer.global_rank), int(trainer.world_size)

    def _loader(
        self, dataset: MultiviewDataset, shuffle: bool, drop_last: bool, distributed: bool
    ) -> DataLoader:
        rank, world = self._world() if distributed else (0, 1)
        sampler = GlobalBatchSampler(
            len(dataset),
            self.batch_size,
            shuffle=shuffle,
            drop_last=drop_last,
            seed=self.seed,
            rank=rank,
            world_size=world,
            with_epoch=dataset.augment != "none",
        )
        workers = self.num_workers
        return DataLoader(
            dataset,
            batch_sampler=sampler,
            num_workers=workers,
            persistent_workers=workers > 0,
            # Every new loader iterator draws a base seed; from its own generator that draw leaves
            # the global stream alone, which a resumed run (fewer iterators so far) must not see shift.
            generator=torch.Generator().manual_seed(self.seed),
        )

    def setup(self, stage: str | None = None) -> None:
        # Decode everything up front, in the main process, before loader workers fork.
        self._dataset("train")
        if self.test_table is not self.table:
            self._dataset("test")

    def train_dataloader(self) -> DataLoader:
        ds = self._dataset("train", augment=self.augment, two_views=self.two_views)
        if len(ds) < self.batch_size:
            raise ValueError(
                f"batch_size={self.batch_size} is larger than the training split ({len(ds)} samples); "
                "with drop_last the epoch would be empty"
            )
        return self._loader(ds, shuffle=True, drop_last=True, distributed=True)

    def val_dataloader(self) -> DataLoader | list:
        if self.val_rows is None:
            return []
        # Validation losses are batch-wide as well: under DDP every rank needs a non-empty slice.
        world = self._world()[1]
        return self._loader(self._dataset("val", two_views=self.two_views), False, world > 1, True)

    def plain_dataloader(self, split: str = "train") -> DataLoader:
        """A loader over a whole split without augmentation, in table order, not sharded across ranks.

        Used for pseudo-labelling (MultiviewVLM §II-F: embed all training samples without
        augmentation), the linear probe and evaluation. Every rank sees every sample, which keeps
        k-means identical on all ranks; the benchmark splits are small enough for that.
        """
        ds = self._dataset(split)
        return DataLoader(ds, batch_size=max(self.batch_size, 64), shuffle=False, num_workers=0)

    def test_dataloader(self) -> DataLoader:
        return self.plain_dataloader("test")
