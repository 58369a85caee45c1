"""Global batches under DDP: the same global batches in any number of processes.

:class:`GlobalBatchSampler` forms the *same* global batches in any number of processes and hands rank
``r`` the slice ``batch[r::W]``. With losses that gather the global batch (docs/methods.md §1), a run on
``W`` processes then computes what one process computes with the same global batch size (the DDP
equivalence test relies on this).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler

__all__ = ["GlobalBatchSampler"]


class GlobalBatchSampler(Sampler[list[int]]):
    """Batches that are the same global batches whatever the number of processes.

    Epoch ``e`` shuffles with ``seed + e`` (when ``shuffle``), cuts global batches of
    ``batch_size`` and yields ``batch[rank::world_size]`` to rank ``rank``. Lightning calls
    :meth:`set_epoch` at every epoch (``use_distributed_sampler=False`` must be set so it does not
    replace this sampler).

    Args:
        n: dataset length.
        batch_size: the *global* batch size.
        shuffle: reshuffle every epoch.
        drop_last: drop the last incomplete global batch (batch-wide losses need full batches).
        seed: shuffling seed.
        rank, world_size: this process's slice (defaults: single process).
        with_epoch: yield ``(position, epoch)`` pairs instead of positions, so that a
            :class:`MultiviewDataset` keys its augmentation on the epoch (also in persistent loader
            workers, whose dataset copy never sees :meth:`set_epoch`).
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        with_epoch: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, {world_size})")
        self.n, self.batch_size, self.shuffle, self.drop_last = n, batch_size, shuffle, drop_last
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.with_epoch = with_epoch
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _global_batches(self) -> list[np.ndarray]:
        rng = np.random.default_rng(self.seed + self.epoch)
        order = rng.permutation(self.n) if self.shuffle else np.arange(self.n)
        batches = [order[s : s + self.batch_size] for s in range(0, self.n, self.batch_size)]
        # A last batch smaller than the world would leave some rank empty: drop it too.
        short = bool(batches) and len(batches[-1]) < self.batch_size
        if short and (self.drop_last or len(batches[-1]) < self.world_size):
            batches.pop()
        return batches

    def __iter__(self) -> Iterator[list[int]] | Iterator[list[tuple[int, int]]]:
        for batch in self._global_batches():
            mine = batch[self.rank :: self.world_size].tolist()
            yield [(i, self.epoch) for i in mine] if self.with_epoch else mine

    def __len__(self) -> int:
        return len(self._global_batches())
