"""Cross-dataset evaluation (docs/methods.md §5): train on one table, test on another, on shared classes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fervlm.data import load_table
from fervlm.methods.config import TrainConfig
from fervlm.train.split import _as_config, _fit_split


def cross_dataset(
    config: TrainConfig | dict[str, Any],
    train_index: str | Path,
    test_index: str | Path,
    out_dir: str | Path,
    classes: Sequence[str] | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Train on one table, test on another, on a restricted class set (docs/methods.md §5).

    E.g. train on BU-4DFE and test on BP4D tasks T1/T8: ``classes=("happiness", "disgust")``. Test
    rows whose label is not in ``classes`` are left out. Training rows depend on the protocol:

    * ``prompt_source="label"``: training rows whose label is not in ``classes`` are left out too
      (the supervised protocol reads the training labels anyway);
    * ``prompt_source="pseudo"`` (label-free): **no training label is read** — every training row is
      used, the pseudo-labels cluster them into the ``classes``, and without ``classes`` the class
      set is the test table's.

    Results go to ``out_dir`` (same files as a fold folder; resumed, skipped, refused or forced as in
    :func:`fit_fold`).
    """
    config = _as_config(config)
    if classes is not None:
        config = config.replace(classes=tuple(classes))
    train_table, train_root = load_table(train_index)
    test_table, test_root = load_table(test_index)
    label_free = config.prompt_source == "pseudo"
    if label_free and not config.classes:
        config = config.replace(classes=tuple(sorted(set(test_table["label"].astype(str)) - {""})))
    wanted = set(config.classes or train_table["label"].astype(str))
    if label_free:
        train_rows = np.arange(len(train_table))
    else:
        train_rows = np.flatnonzero(train_table["label"].astype(str).isin(wanted).to_numpy())
    test_rows = np.flatnonzero(test_table["label"].astype(str).isin(wanted).to_numpy())
    if len(train_rows) == 0 or len(test_rows) == 0:
        raise ValueError(
            f"classes {sorted(wanted)}: {len(train_rows)} training rows in {train_index} and "
            f"{len(test_rows)} test rows in {test_index}; both need at least one"
        )
    info = {"train_index": str(train_index), "test_index": str(test_index)}
    return _fit_split(
        config,
        train_table,
        train_root,
        train_rows,
        test_rows,
        Path(out_dir),
        info,
        test_table=test_table,
        test_root=test_root,
        force=force,
    )
