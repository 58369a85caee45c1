"""Subject-independent splits: k-fold cross-validation, validation carving, cross-dataset splits.

All three papers evaluate with 10-fold subject-independent cross-validation (docs/methods.md §5): no
subject appears in both the training and the test part of a fold, and results are mean ± std over
folds. The cross-dataset protocol trains on BU-4DFE and tests on BP4D tasks T1 (happiness) and
T8 (disgust), i.e. on the classes both datasets share.

Splits are positional row indices into the index table (`fervlm.datasets.load_index`, columns in
CONTRIBUTING.md), so they work whatever the table's pandas index is. `save_folds` records the
subjects and `sample_id`s of every fold, so a CV run can state exactly what it used and a reordered
table can be mapped back onto the same folds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from fervlm.utils import atomic_write_text

FOLDS_FORMAT_VERSION = 1

Fold = tuple[np.ndarray, np.ndarray]


def _subjects_of(index: pd.DataFrame, where: str = "index") -> np.ndarray:
    """The `subject` column as strings, validated (present, no empty values)."""
    if not isinstance(index, pd.DataFrame):
        raise TypeError(f"{where}: expected a pandas DataFrame, got {type(index).__name__}")
    if "subject" not in index.columns:
        raise ValueError(
            f"{where}: no 'subject' column (columns: {list(index.columns)}); "
            "subject-independent splits need the subject of every row"
        )
    raw = index["subject"]
    missing = raw.isna().to_numpy() | (raw.astype(str).str.strip() == "").to_numpy()
    if missing.any():
        rows = np.flatnonzero(missing)
        raise ValueError(
            f"{where}: {len(rows)} row(s) have no subject (first positional rows: {rows[:5].tolist()}); "
            "a row without a subject cannot be kept out of the other folds"
        )
    return raw.astype(str).to_numpy()


def _rows_of(subjects: np.ndarray, chosen: set[str]) -> np.ndarray:
    """Sorted positional indices of the rows whose subject is in `chosen`."""
    return np.flatnonzero(np.isin(subjects, sorted(chosen))).astype(np.int64)


def subject_kfold(index: pd.DataFrame, k: int = 10, seed: int = 0) -> list[Fold]:
    """Split an index table into `k` subject-independent folds (docs/methods.md §5).

    Subjects are dealt to folds in rounds of `k`: within a round every fold receives exactly one
    subject, so fold sizes differ by at most one subject. Subjects are ordered by sample count
    (largest first, ties broken by a seeded shuffle) and within a round the largest subject goes to
    the fold that holds the fewest samples so far, which also keeps the number of test samples per
    fold close (a greedy longest-processing-time rule).

    The result depends only on the multiset of (subject, row) pairs and `seed`: subjects are sorted
    before the shuffle, so hash ordering and the order in which subjects first appear do not matter.

    Args:
        index: the index table; needs a `subject` column with no empty values.
        k: number of folds, 2 ≤ k ≤ number of subjects.
        seed: seed of the tie-breaking shuffle.

    Returns:
        `k` pairs `(train_idx, test_idx)` of sorted int64 positional row indices. Every row is in
        exactly one `test_idx`; `train_idx` is the complement.

    Raises:
        ValueError: `subject` column missing or empty for some rows, `k < 2`, or more folds than subjects.
    """
    subjects = _subjects_of(index)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k: expected an integer number of folds, got {k!r}")
    unique, counts = np.unique(subjects, return_counts=True)  # sorted: independent of row order
    if k < 2:
        raise ValueError(f"k={k}: cross-validation needs at least 2 folds")
    if k > len(unique):
        raise ValueError(
            f"k={k} folds but the index has only {len(unique)} subjects; "
            f"use k <= {len(unique)} so every fold has a test subject"
        )
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(unique))
    # Stable sort on the shuffled order: largest subjects first, seeded tie-breaking.
    order = order[np.argsort(-counts[order], kind="stable")]

    fold_subjects: list[set[str]] = [set() for _ in range(k)]
    fold_samples = np.zeros(k, dtype=np.int64)
    for start in range(0, len(order), k):
        free = list(range(k))
        for s in order[start : start + k]:
            # Fewest samples first; ties go to the lowest fold number, for determinism.
            target = min(free, key=lambda f: (fold_samples[f], f))
            free.remove(target)
            fold_subjects[target].add(str(unique[s]))
            fold_samples[target] += counts[s]

    all_rows = np.arange(len(subjects), dtype=np.int64)
    folds: list[Fold] = []
    for chosen in fold_subjects:
        test_idx = _rows_of(subjects, chosen)
        train_idx = np.setdiff1d(all_rows, test_idx, assume_unique=True)
        folds.append((train_idx, test_idx))
    return folds


def validation_split(
    index: pd.DataFrame, train_idx: Sequence[int] | np.ndarray, fraction: float = 0.1, seed: int = 0
) -> Fold:
    """Carve a validation set out of a fold's training part, by subject.

    `round(fraction * n_subjects)` training subjects (at least one, and at least one left for
    training) are drawn with a seeded generator; all their rows become validation rows.

    Args:
        index: the index table (needs `subject`).
        train_idx: positional indices of the fold's training rows.
        fraction: share of training subjects to hold out, in (0, 1).
        seed: seed of the subject draw.

    Returns:
        `(train_idx, val_idx)`: sorted int64 positional indices, subject-disjoint, whose union is the
        input `train_idx`.
    """
    subjects = _subjects_of(index)
    if not 0.0 < float(fraction) < 1.0:
        raise ValueError(f"fraction={fraction}: the validation fraction must be strictly between 0 and 1")
    train_idx = np.unique(np.asarray(train_idx, dtype=np.int64))
    if train_idx.size and (train_idx.min() < 0 or train_idx.max() >= len(subjects)):
        raise ValueError(f"train_idx: positions must lie in [0, {len(subjects)}) for an index of that length")
    train_subjects = np.unique(subjects[train_idx])
    if len(train_subjects) < 2:
        raise ValueError(
            f"train_idx covers {len(train_subjects)} subject(s); "
            "a subject-disjoint validation split needs at least 2"
        )
    n_val = int(np.clip(round(fraction * len(train_subjects)), 1, len(train_subjects) - 1))
    rng = np.random.default_rng(seed)
    val_subjects = set(rng.choice(train_subjects, size=n_val, replace=False).tolist())
    in_val = np.isin(subjects[train_idx], sorted(val_subjects))
    return train_idx[~in_val], train_idx[in_val]


def cross_dataset_split(
    train_index: pd.DataFrame, test_index: pd.DataFrame, classes: Sequence[str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Restrict a train and a test table to common classes (docs/methods.md §5, cross-dataset protocol).

    E.g. BU-4DFE (six emotions) → BP4D-Spontaneous T1 (happiness) and T8 (disgust):
    `cross_dataset_split(bu4dfe, bp4d[bp4d.task.isin(["T1", "T8"])])` keeps happiness and disgust.

    Args:
        train_index: training table (needs `label`).
        test_index: test table (needs `label`).
        classes: classes to keep; every one must occur in both tables. Default: the classes the two
            tables share, in the order they first appear in `train_index`.

    Returns:
        `(train_table, test_table)`: filtered copies with a fresh 0..n-1 index.
    """
    for name, table in (("train_index", train_index), ("test_index", test_index)):
        if "label" not in table.columns:
            raise ValueError(f"{name}: no 'label' column (columns: {list(table.columns)})")
    train_labels = pd.unique(train_index["label"].astype(str))
    test_labels = set(test_index["label"].astype(str))
    if classes is None:
        keep = [c for c in train_labels if c in test_labels and c != ""]
        if not keep:
            raise ValueError(
                f"train_index and test_index share no class (train: {sorted(train_labels)}, "
                f"test: {sorted(test_labels)})"
            )
    else:
        keep = [str(c) for c in classes]
        if not keep:
            raise ValueError("classes: empty list; give at least one class or None for the shared ones")
        for name, present in (("train_index", set(train_labels)), ("test_index", test_labels)):
            missing = [c for c in keep if c not in present]
            if missing:
                raise ValueError(f"classes: {missing} not present in {name} (it has {sorted(present)})")
    train_out = train_index[train_index["label"].astype(str).isin(keep)].reset_index(drop=True)
    test_out = test_index[test_index["label"].astype(str).isin(keep)].reset_index(drop=True)
    return train_out, test_out


def save_folds(
    path: str | Path, folds: Sequence[Fold], index: pd.DataFrame, meta: dict | None = None
) -> Path:
    """Write folds to JSON (atomically) with their subjects, sample ids and positions.

    Args:
        path: destination `.json` file.
        folds: `(train_idx, test_idx)` pairs as returned by `subject_kfold`.
        index: the table the positions refer to (needs `subject` and `sample_id`).
        meta: optional extra fields to record (e.g. `{"k": 10, "seed": 0, "index": "index.csv"}`).

    Returns:
        The written path.
    """
    subjects = _subjects_of(index)
    if "sample_id" not in index.columns:
        raise ValueError(
            f"index: no 'sample_id' column (columns: {list(index.columns)}); folds are saved by id"
        )
    ids = index["sample_id"].astype(str).to_numpy()
    if len(set(ids)) != len(ids):
        raise ValueError("index: 'sample_id' values are not unique; folds saved by id would be ambiguous")
    records = []
    for i, (train_idx, test_idx) in enumerate(folds):
        train_idx = np.asarray(train_idx, dtype=np.int64)
        test_idx = np.asarray(test_idx, dtype=np.int64)
        records.append(
            {
                "fold": i,
                "train_subjects": sorted(set(subjects[train_idx].tolist())),
                "test_subjects": sorted(set(subjects[test_idx].tolist())),
                "train_ids": ids[train_idx].tolist(),
                "test_ids": ids[test_idx].tolist(),
                "train_idx": train_idx.tolist(),
                "test_idx": test_idx.tolist(),
            }
        )
    payload = {
        "format": "fervlm-folds",
        "version": FOLDS_FORMAT_VERSION,
        "n_rows": len(index),
        "k": len(records),
        "meta": dict(meta or {}),
        "folds": records,
    }
    return atomic_write_text(path, json.dumps(payload, indent=1) + "\n")


def load_folds(path: str | Path, index: pd.DataFrame | None = None) -> list[Fold]:
    """Read folds written by `save_folds`.

    Args:
        path: the JSON file.
        index: optional table to map the folds onto by `sample_id` (robust to reordered or
            re-generated tables). Without it the stored positions are returned as they are.

    Returns:
        `(train_idx, test_idx)` pairs of sorted int64 positional indices.

    Raises:
        ValueError: not a folds file, or a stored sample id missing from `index`.
    """
    path = Path(path)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != "fervlm-folds":
        raise ValueError(f"{path}: not a fervlm folds file (no 'format': 'fervlm-folds')")
    if payload.get("version") != FOLDS_FORMAT_VERSION:
        raise ValueError(
            f"{path}: folds format version {payload.get('version')}, expected {FOLDS_FORMAT_VERSION}"
        )
    folds: list[Fold] = []
    if index is None:
        for rec in payload["folds"]:
            folds.append(
                (np.asarray(rec["train_idx"], dtype=np.int64), np.asarray(rec["test_idx"], dtype=np.int64))
            )
        return folds
    if "sample_id" not in index.columns:
        raise ValueError(f"index: no 'sample_id' column; cannot map the folds of {path} onto it")
    position = {sid: i for i, sid in enumerate(index["sample_id"].astype(str))}
    for rec in payload["folds"]:
        parts = []
        for key in ("train_ids", "test_ids"):
            missing = [sid for sid in rec[key] if sid not in position]
            if missing:
                raise ValueError(
                    f"{path}: fold {rec['fold']} lists {len(missing)} sample id(s) not in the index, "
                    f"e.g. {missing[:3]}"
                )
            parts.append(np.sort(np.asarray([position[sid] for sid in rec[key]], dtype=np.int64)))
        folds.append((parts[0], parts[1]))
    return folds


def folds_summary(index: pd.DataFrame, folds: Sequence[Fold]) -> pd.DataFrame:
    """One row per fold: sizes, subject counts and the test part's class counts (for notebooks).

    Columns: `fold, n_train, n_test, train_subjects, test_subjects` (subject counts), then one
    `test_<class>` column per class (when the table has a `label` column), in sorted class order.
    """
    subjects = _subjects_of(index)
    labels = index["label"].astype(str).to_numpy() if "label" in index.columns else None
    classes = sorted(set(labels.tolist())) if labels is not None else []
    rows = []
    for i, (train_idx, test_idx) in enumerate(folds):
        train_idx = np.asarray(train_idx, dtype=np.int64)
        test_idx = np.asarray(test_idx, dtype=np.int64)
        row: dict[str, int] = {
            "fold": i,
            "n_train": len(train_idx),
            "n_test": len(test_idx),
            "train_subjects": len(set(subjects[train_idx].tolist())),
            "test_subjects": len(set(subjects[test_idx].tolist())),
        }
        if labels is not None:
            test_labels = labels[test_idx]
            for c in classes:
                row[f"test_{c}"] = int(np.sum(test_labels == c))
        rows.append(row)
    return pd.DataFrame(rows)
