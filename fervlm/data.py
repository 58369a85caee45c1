"""Multiview datasets over a prepared table, mixed-view augmentation, and the Lightning data module.

A *prepared table* (`fervlm.prepare`, CONTRIBUTING.md) has the index columns plus one column
``view_<yaw>`` per rendered view, holding an image path relative to the table's folder. A sample is
``V`` such images (dynamic images for 4D data are just images here, docs/methods.md §5).

Design points (why):

* **Decoded images are cached in memory** as resized ``uint8`` tensors, decoded once (in threads;
  PIL releases the GIL). The benchmark datasets are small (a few thousand samples × 3 views) and
  decoding PNGs every epoch would starve the model on a 2-core machine. The cache is built in the
  main process before the loaders fork their workers, so workers share it copy-on-write.
* **Augmentation runs on tensors** with ``torchvision.transforms.v2``.
* **Mixed-view augmentation** (AffectVLM §III-C): every view of a sample gets an *independently
  drawn* transform from {horizontal flip, rotation ±10°, random resized crop (scale 0.8–1), scale
  jitter}; e.g. the front view flipped while the left one is cropped. ``augment="same"`` draws one
  transform and applies it to all views (the ablation), ``"none"`` disables augmentation.
* **Augmentation draws are keyed on (seed, epoch, row, draw)**, not taken from a running random
  stream: the training sampler hands every index over with its epoch, and the dataset seeds a
  private torch generator state from that key. A run resumed at epoch ``k`` therefore draws exactly
  what the uninterrupted run drew at epoch ``k`` (bit-identical resume on CPU, tested), whatever the
  number of loader workers.
* **Prompts are not drawn here.** The text tower is frozen, so prompt embeddings are computed once
  (`fervlm.methods.prompting`) and the *method* draws prompt ids in its training step. That lets
  pseudo-labels (MultiviewVLM) change between epochs even with persistent loader workers, whose
  copy of the dataset would never see the update.
* **Global batches under DDP.** :class:`GlobalBatchSampler` forms the *same* global batches in any
  number of processes and hands rank ``r`` the slice ``batch[r::W]``. With losses that gather the
  global batch (docs/methods.md §1), a run on ``W`` processes then computes what one process computes
  with the same global batch size (the DDP equivalence test relies on this).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler
from torchvision import tv_tensors
from torchvision.transforms import v2

from fervlm.viewpoints import yaw_of

__all__ = [
    "FERDataModule",
    "GlobalBatchSampler",
    "MultiviewDataset",
    "augmentation_seed",
    "default_num_workers",
    "load_table",
    "make_toy_table",
    "normalization_of",
    "resolve_view_columns",
    "view_augmentations",
]

#: Index columns that can augment prompts (AffectVLM "augmented textual prompts").
METADATA_COLUMNS = ("sex", "age_group", "ethnicity")
#: open_clip's default (OpenAI) normalisation, used when a transform carries none.
_OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
_OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def default_num_workers() -> int:
    """Loader workers: ``min(2, CPUs available to this process)``."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return min(2, cpus)


def load_table(path: str | Path) -> tuple[pd.DataFrame, Path]:
    """Read a prepared table (CSV) and return it with the folder its image paths are relative to.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the table has no ``view_*`` or no ``label`` column.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"index table {path} does not exist")
    table = pd.read_csv(path, dtype={"subject": str, "sample_id": str}, keep_default_na=False)
    if "label" not in table.columns:
        raise ValueError(f"index table {path}: no 'label' column (columns: {list(table.columns)})")
    if not [c for c in table.columns if c.startswith("view_")]:
        raise ValueError(f"index table {path}: no 'view_<yaw>' image columns (not a prepared table?)")
    return table.reset_index(drop=True), path.parent


def resolve_view_columns(table: pd.DataFrame, views: Sequence[str | int]) -> list[str]:
    """Map view names (``left``/``front``/``right``) or yaw angles to the table's ``view_<yaw>`` columns.

    Raises:
        ValueError: a view is unknown or the table has no column for it (the message lists those present).
    """
    available = {c: yaw_of(c[len("view_") :]) for c in table.columns if c.startswith("view_")}
    if not views:
        raise ValueError("views: at least one view is needed")
    columns = []
    for view in views:
        yaw = yaw_of(view)
        match = [c for c, y in available.items() if math.isclose(y, yaw)]
        if not match:
            raise ValueError(
                f"views: the table has no image column for view {view!r} (yaw {yaw:g}); "
                f"columns present: {sorted(available)}"
            )
        columns.append(match[0])
    if len(set(columns)) != len(columns):
        raise ValueError(f"views: {list(views)} name the same view twice")
    return columns


def normalization_of(transform: Any) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The (mean, std) of the ``Normalize`` step inside an open_clip preprocess transform."""
    for step in getattr(transform, "transforms", []):
        if hasattr(step, "mean") and hasattr(step, "std"):
            return tuple(float(m) for m in step.mean), tuple(float(s) for s in step.std)
    return _OPENAI_MEAN, _OPENAI_STD


def view_augmentations(size: int) -> list[v2.Transform]:
    """The AffectVLM mixed-view augmentation menu (AffectVLM §III-C) for ``size``-pixel images."""
    return [
        v2.RandomHorizontalFlip(p=1.0),
        v2.RandomRotation(degrees=10),
        v2.RandomResizedCrop(size, scale=(0.8, 1.0), ratio=(0.9, 1.1), antialias=True),
        v2.RandomAffine(degrees=0, scale=(0.9, 1.1)),  # scale jitter
    ]


def augmentation_seed(seed: int, epoch: int, row: int, draw: int) -> int:
    """The torch seed of one augmentation draw: a hash of (run seed, epoch, table row, draw number).

    ``draw`` tells apart the two augmentations SMILE-VLM takes of the same sample (0 and 1). A
    ``SeedSequence`` hash keeps neighbouring keys' streams unrelated.
    """
    key = [int(seed) % 2**63, int(epoch), int(row), int(draw)]
    return int(np.random.SeedSequence(key).generate_state(1, np.uint64)[0] >> np.uint64(1))


def _decode(path: Path, size: int) -> np.ndarray:
    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            if img.size != (size, size):
                img = img.resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(img, dtype=np.uint8).copy()
    except (OSError, ValueError) as err:
        raise ValueError(f"view image {path}: cannot be read ({err})") from err


class MultiviewDataset(Dataset):
    """``V`` view images per row of a prepared table, normalised for a backbone.

    Items are dicts: ``images`` ``(V, 3, H, W)`` float (or ``images_a``/``images_b`` when
    ``two_views``: two independent augmentations of every view, SMILE-VLM §II-B), ``label`` (int
    class id, −1 when the label is not among ``classes``), ``index`` (int, the row's position in the
    table — methods key prompts and pseudo-labels on it), and the metadata columns that prompts use
    (``sex``, ``age_group``, ``ethnicity``; ``""`` when unknown).

    Args:
        table: the prepared table (:func:`load_table`).
        root: folder the image paths are relative to.
        rows: positional rows of ``table`` this dataset serves (default: all).
        views: view names or yaws (:func:`resolve_view_columns`).
        classes: class names; ``label`` is the position of the row's label in it.
        image_size: side length the images are resized to (the backbone's ``image_size``).
        mean, std: normalisation (:func:`normalization_of` of the backbone's preprocess).
        augment: ``"mixed"`` (independent per view), ``"same"`` (one draw for all views) or ``"none"``.
        two_views: return two augmentations of every view (``images_a``, ``images_b``).
        cache: shared ``(N_table, V, 3, S, S)`` uint8 cache to reuse (see :meth:`build_cache`).
        seed: run seed of the keyed augmentation draws; an item asked for as ``dataset[(i, epoch)]``
            (what :class:`GlobalBatchSampler` yields with ``with_epoch=True``) is augmented with
            :func:`augmentation_seed`, a plain ``dataset[i]`` draws from torch's global generator.
    """

    def __init__(
        self,
        table: pd.DataFrame,
        root: str | Path,
        rows: Sequence[int] | np.ndarray | None = None,
        views: Sequence[str | int] = ("left", "front", "right"),
        classes: Sequence[str] = (),
        image_size: int = 224,
        mean: Sequence[float] = _OPENAI_MEAN,
        std: Sequence[float] = _OPENAI_STD,
        augment: str = "mixed",
        two_views: bool = False,
        cache: torch.Tensor | None = None,
        seed: int = 0,
    ) -> None:
        if augment not in ("mixed", "same", "none"):
            raise ValueError(f"augment must be 'mixed', 'same' or 'none', got {augment!r}")
        self.table = table
        self.root = Path(root)
        self.rows = np.arange(len(table)) if rows is None else np.asarray(rows, dtype=np.int64)
        self.columns = resolve_view_columns(table, views)
        self.classes = list(classes)
        self.image_size = int(image_size)
        self.augment = augment
        self.two_views = two_views
        self.seed = int(seed)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
        lookup = {c: i for i, c in enumerate(self.classes)}
        self.labels = np.array([lookup.get(str(x), -1) for x in table["label"]], dtype=np.int64)
        self.metadata = {
            col: table[col].astype(str).to_numpy() if col in table.columns else np.full(len(table), "")
            for col in METADATA_COLUMNS
        }
        if cache is None:
            cache = self.build_cache(table, self.root, self.columns, image_size)
        self.cache = cache
        self._menu = view_augmentations(self.image_size)
        self._mixed = v2.RandomChoice(self._menu)

    @staticmethod
    def build_cache(
        table: pd.DataFrame, root: Path, columns: Sequence[str], size: int, threads: int | None = None
    ) -> torch.Tensor:
        """Decode and resize every view image of ``table`` once: ``(N, V, 3, size, size)`` uint8."""
        paths = [Path(root) / str(table.at[i, c]) for i in range(len(table)) for c in columns]
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} view image(s) listed in the table do not exist, e.g. {missing[0]}"
            )
        with ThreadPoolExecutor(max_workers=threads or default_num_workers() * 2) as pool:
            arrays = list(pool.map(lambda p: _decode(p, size), paths))
        if not arrays:
            return torch.zeros(len(table), len(columns), 3, size, size, dtype=torch.uint8)
        stack = torch.from_numpy(np.stack(arrays))
        return stack.view(len(table), len(columns), size, size, 3).permute(0, 1, 4, 2, 3).contiguous()

    def __len__(self) -> int:
        return len(self.rows)

    def _augment(self, views: torch.Tensor) -> torch.Tensor:
        if self.augment == "mixed":
            # An independent draw (transform *and* its parameters) per view: AffectVLM §III-C.
            return torch.stack([self._mixed(tv_tensors.Image(v)) for v in views])
        if self.augment == "same":
            # One tv_tensors.Image of shape (V, 3, H, W): v2 applies one draw to the whole batch.
            return self._mixed(tv_tensors.Image(views)).as_subclass(torch.Tensor)
        return views

    def _normalise(self, views: torch.Tensor) -> torch.Tensor:
        return (views.as_subclass(torch.Tensor).float() / 255.0 - self.mean) / self.std

    def _augment_keyed(self, views: torch.Tensor, epoch: int | None, row: int, draw: int) -> torch.Tensor:
        if epoch is None or self.augment == "none":
            return self._augment(views)
        # fork_rng: the keyed draw must neither depend on nor disturb the global stream.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(augmentation_seed(self.seed, epoch, row, draw))
            return self._augment(views)

    def __getitem__(self, i: int | tuple[int, int]) -> dict[str, Any]:
        epoch = None
        if isinstance(i, tuple):  # (position, epoch) from GlobalBatchSampler(with_epoch=True)
            i, epoch = i
        row = int(self.rows[i])
        raw = self.cache[row]
        item: dict[str, Any] = {"label": int(self.labels[row]), "index": row}
        if self.two_views:
            item["images_a"] = self._normalise(self._augment_keyed(raw, epoch, row, 0))
            item["images_b"] = self._normalise(self._augment_keyed(raw, epoch, row, 1))
        else:
            item["images"] = self._normalise(self._augment_keyed(raw, epoch, row, 0))
        for col, values in self.metadata.items():
            item[col] = str(values[row])
        return item


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
        mean: Sequence[float] = _OPENAI_MEAN,
        std: Sequence[float] = _OPENAI_STD,
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


def make_toy_table(
    folder: str | Path,
    n_subjects: int = 8,
    classes: Sequence[str] = ("anger", "disgust", "fear", "happiness", "sadness", "surprise"),
    yaws: Sequence[int] = (-30, 0, 30),
    size: int = 32,
    seed: int = 0,
) -> Path:
    """Write a tiny prepared table (one sample per subject × class) whose images depend on the class.

    Each class has its own colour and stripe frequency, each view a small shift, each sample noise,
    so a tiny backbone can learn it in a few steps. For tests, demos and docs; it mimics the output
    of `fervlm.prepare` (``index.csv`` + ``views/*.png``, paths relative to ``folder``).

    Returns:
        The path of ``folder/index.csv``.
    """
    folder = Path(folder)
    (folder / "views").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    rows = []
    for s in range(n_subjects):
        for c, label in enumerate(classes):
            row: dict[str, Any] = {
                "dataset": "toy",
                "sample_id": f"S{s:02d}_{label}",
                "subject": f"S{s:02d}",
                "label": label,
                "intensity": 4,
                "path": "",
                "kind": "3d",
                "sex": "FM"[s % 2],
                "age_group": "",
                "ethnicity": "",
                "task": "",
                "au_path": "",
            }
            hue = np.array([np.cos(c), np.sin(c), np.cos(2 * c)]) * 0.4 + 0.5
            for v, yaw in enumerate(yaws):
                stripes = 0.5 + 0.5 * np.sin(2 * np.pi * (c + 1) * (xx + 0.05 * v) + yy * yaw / 30)
                img = stripes[..., None] * hue + rng.normal(0, 0.08, (size, size, 3))
                name = f"views/{row['sample_id']}_{yaw}.png"
                Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(folder / name)
                row[f"view_{yaw}"] = name
            rows.append(row)
    path = folder / "index.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path
