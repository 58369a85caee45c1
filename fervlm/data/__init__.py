"""Multiview datasets over a prepared table, mixed-view augmentation, and the Lightning data module.

One concept per submodule:

* :func:`load_table` and :func:`resolve_view_columns` (a prepared table and its view columns) are
  re-exported from `fervlm.tables`, the one reader of index and prepared tables (torch-free).
* `transforms` — the backbone's normalisation (:func:`normalization_of`), the AffectVLM mixed-view
  augmentation menu (AffectVLM §III-C, :func:`view_augmentations`) and the keyed augmentation draws
  (:func:`augmentation_seed`) that make a resumed run bit-identical.
* `dataset` — :class:`MultiviewDataset`: ``V`` cached, decoded views per row, augmented and normalised.
* `sampler` — :class:`GlobalBatchSampler`: the same global batches for any number of DDP processes
  (docs/methods.md §1).
* `datamodule` — :class:`FERDataModule`: a fold's train / validation / test loaders.

The toy table of the tests and benchmarks lives with the benchmarks (`fervlm.benchmarks.toy`).
"""

from fervlm.data.datamodule import FERDataModule
from fervlm.data.dataset import METADATA_COLUMNS, MultiviewDataset, default_num_workers
from fervlm.data.sampler import GlobalBatchSampler
from fervlm.tables import load_table, resolve_view_columns
from fervlm.data.transforms import augmentation_seed, normalization_of, view_augmentations

__all__ = [
    "METADATA_COLUMNS",
    "FERDataModule",
    "GlobalBatchSampler",
    "MultiviewDataset",
    "augmentation_seed",
    "default_num_workers",
    "load_table",
    "normalization_of",
    "resolve_view_columns",
    "view_augmentations",
]
