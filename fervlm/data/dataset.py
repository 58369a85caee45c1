"""The multiview dataset over a prepared table: ``V`` decoded views per row, augmented and normalised.

A sample is ``V`` images of a prepared table's row (dynamic images for 4D data are just images here,
docs/methods.md §5). Design points (why):

* **Decoded images are cached in memory** as resized ``uint8`` tensors, decoded once (in threads;
  PIL releases the GIL). The benchmark datasets are small (a few thousand samples × 3 views) and
  decoding PNGs every epoch would starve the model on a 2-core machine. The cache is built in the
  main process before the loaders fork their workers, so workers share it copy-on-write.
* **Augmentation runs on tensors** with ``torchvision.transforms.v2``: mixed-view (AffectVLM §III-C, an
  independent draw per view), ``augment="same"`` (one draw for all views, the ablation) or ``"none"``;
  each draw keyed on (seed, epoch, row, draw) (`fervlm.data.transforms`) for a bit-identical resume.
* **Prompts are not drawn here.** The text tower is frozen, so prompt embeddings are computed once
  (`fervlm.methods.prompting`) and the *method* draws prompt ids in its training step. That lets
  pseudo-labels (MultiviewVLM) change between epochs even with persistent loader workers, whose
  copy of the dataset would never see the update.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from fervlm.tables import resolve_view_columns
from fervlm.data.transforms import OPENAI_MEAN, OPENAI_STD, augmentation_seed, view_augmentations

__all__ = ["METADATA_COLUMNS", "MultiviewDataset", "default_num_workers"]

#: Index columns that can augment prompts (AffectVLM "augmented textual prompts").
METADATA_COLUMNS = ("sex", "age_group", "ethnicity")


def default_num_workers() -> int:
    """Loader workers: ``min(2, CPUs available to this process)``."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return min(2, cpus)


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
        mean: Sequence[float] = OPENAI_MEAN,
        std: Sequence[float] = OPENAI_STD,
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
