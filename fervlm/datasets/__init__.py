"""Dataset adapters: each benchmark's folder layout → one index table (one row per sample).

`load_index(name, root, **options)` dispatches to one small adapter per layout. Real and synthetic data go
through the same code. Columns are fixed in CONTRIBUTING.md ("Index tables"): dataset, sample_id, subject,
label, intensity, path, kind, sex, age_group, ethnicity, task, au_path.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from fervlm.datasets._common import COLUMNS, canonical_label
from fervlm.datasets.bosphorus import load_bosphorus
from fervlm.datasets.bp4d import load_bp4d, read_task_table
from fervlm.datasets.bu3dfe import load_bu3dfe
from fervlm.datasets.bu4dfe import load_bu4dfe
from fervlm.datasets.cross import cross_dataset_pair
from fervlm.datasets.fourdme import load_4dme
from fervlm.datasets.manifest import load_manifest
from fervlm.datasets.sequences import frame_number, sequence_frames
from fervlm.datasets.views import load_views

ADAPTERS: dict[str, Callable[..., pd.DataFrame]] = {
    "bu3dfe": load_bu3dfe,
    "bu4dfe": load_bu4dfe,
    "bosphorus": load_bosphorus,
    "bp4d": load_bp4d,
    "4dme": load_4dme,
    "manifest": load_manifest,
    "views": load_views,
}


def load_index(name: str, root: str | Path, **options: object) -> pd.DataFrame:
    """Index a dataset folder.

    Args:
        name: one of `ADAPTERS` (bu3dfe, bu4dfe, bosphorus, bp4d, 4dme, manifest, views).
        root: the dataset root (for `manifest`: the CSV or its folder).
        **options: adapter options, e.g. ``subset="I"`` (BU-3DFE), ``subset="six"`` (Bosphorus),
            ``tasks=["T1", "T8"]`` (BP4D).

    Returns:
        The index DataFrame.

    Raises:
        ValueError: unknown name or option, or no sample found (the message names the root and what was
        expected).
        FileNotFoundError: the root does not exist.
    """
    key = str(name).lower().replace("-", "").replace("_", "")
    if key not in ADAPTERS:
        raise ValueError(f"dataset={name!r}: must be one of {', '.join(ADAPTERS)}")
    try:
        return ADAPTERS[key](root, **options)
    except TypeError as err:
        if "unexpected keyword" in str(err):
            raise ValueError(f"dataset={name!r}: {err}") from err
        raise


__all__ = [
    "ADAPTERS",
    "COLUMNS",
    "canonical_label",
    "cross_dataset_pair",
    "frame_number",
    "load_4dme",
    "load_bosphorus",
    "load_bp4d",
    "load_bu3dfe",
    "load_bu4dfe",
    "load_index",
    "load_manifest",
    "load_views",
    "read_task_table",
    "sequence_frames",
]
