"""Shared pieces of the dataset adapters: the index columns, label names, root checks, subject metadata."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

log = logging.getLogger("fervlm.datasets")

COLUMNS: tuple[str, ...] = (
    "dataset",
    "sample_id",
    "subject",
    "label",
    "intensity",
    "path",
    "kind",
    "sex",
    "age_group",
    "ethnicity",
    "task",
    "au_path",
)
"""Index-table columns, always present (CONTRIBUTING.md, "Index tables")."""

SUBJECTS_FILE = "subjects.csv"
"""Optional per-subject metadata at a dataset root (columns subject, sex, age_group, ethnicity); the synthetic
generator writes one, and users may add one beside a real dataset."""

_SYNONYMS = {
    "angry": "anger",
    "anger": "anger",
    "an": "anger",
    "disgust": "disgust",
    "disgusted": "disgust",
    "di": "disgust",
    "fear": "fear",
    "fearful": "fear",
    "afraid": "fear",
    "fe": "fear",
    "happy": "happiness",
    "happiness": "happiness",
    "joy": "happiness",
    "ha": "happiness",
    "sad": "sadness",
    "sadness": "sadness",
    "sa": "sadness",
    "surprise": "surprise",
    "surprised": "surprise",
    "su": "surprise",
    "neutral": "neutral",
    "ne": "neutral",
}


def canonical_label(name: str) -> str:
    """Canonical lower-case class name (`Happy` → `happiness`, `Angry` → `anger`); others lower-cased."""
    key = str(name).strip().lower()
    return _SYNONYMS.get(key, key)


def check_root(root: str | Path, what: str) -> Path:
    """The root as a `Path`; FileNotFoundError naming it when it does not exist."""
    path = Path(root).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{what} root not found: {path}")
    return path


def sidecar(path: Path) -> str:
    """The AU-label sidecar of a 3D mesh (`<stem>.au.npy`) or 4D sequence (`au.npy`); "" if absent."""
    candidate = path / "au.npy" if path.is_dir() else path.with_name(path.stem + ".au.npy")
    return str(candidate) if candidate.is_file() else ""


def make_index(rows: Iterable[dict[str, object]], root: Path, expected: str) -> pd.DataFrame:
    """Build the index table from row dicts: fixed column order and types, metadata merged, sorted by
    sample_id.

    Raises:
        ValueError: no rows (names the root and what was expected there).
    """
    rows = list(rows)
    if not rows:
        raise ValueError(f"no samples found under {root}: expected {expected}")
    df = pd.DataFrame(rows)
    extra = [c for c in df.columns if c not in COLUMNS]
    for col in COLUMNS:
        if col not in df.columns:
            df[col] = 0 if col == "intensity" else ""
    df = df[list(COLUMNS) + extra]
    df["intensity"] = pd.to_numeric(df["intensity"], errors="coerce").fillna(0).astype(int)
    text_cols = [c for c in COLUMNS if c != "intensity"]
    df[text_cols] = df[text_cols].fillna("").astype(str)
    df = merge_subjects(df, root)
    if df["sample_id"].duplicated().any():
        dup = df.loc[df["sample_id"].duplicated(), "sample_id"].iloc[0]
        raise ValueError(f"{root}: duplicate sample_id {dup!r} in the index")
    return df.sort_values("sample_id", kind="stable").reset_index(drop=True)


def merge_subjects(df: pd.DataFrame, root: Path) -> pd.DataFrame:
    """Fill sex/age_group/ethnicity from `<root>/subjects.csv` if present (values parsed from names win)."""
    meta_path = root / SUBJECTS_FILE if root.is_dir() else root.parent / SUBJECTS_FILE
    if not meta_path.is_file():
        return df
    try:
        meta = pd.read_csv(meta_path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        reason = " ".join(str(exc).split())  # pandas' tokenizer messages span lines
        raise ValueError(f"{meta_path}: not a readable subjects table (CSV): {reason}") from None
    if "subject" not in meta.columns:
        log.warning("%s has no 'subject' column; ignored", meta_path)
        return df
    meta = meta.drop_duplicates("subject").set_index("subject")
    for col in ("sex", "age_group", "ethnicity"):
        if col in meta.columns:
            fill = df["subject"].map(meta[col]).fillna("")
            df[col] = df[col].where(df[col] != "", fill)
    return df
