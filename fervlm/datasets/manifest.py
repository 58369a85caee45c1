"""Generic manifest adapter: a CSV with at least `path`, `label`, `subject` columns, one row per sample.

Relative paths resolve against the CSV's folder. Any of the other index columns present in the CSV are kept
(`intensity`, `sex`, `task`, ...); `kind` defaults to ``"4d"`` for folders and ``"3d"`` for files.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fervlm.datasets._common import canonical_label, check_root, make_index, sidecar

REQUIRED = ("path", "label", "subject")
MANIFEST_FILE = "manifest.csv"


def load_manifest(root: str | Path, dataset: str = "manifest", check_paths: bool = True) -> pd.DataFrame:
    """Index from a manifest CSV.

    Args:
        root: the CSV, or a folder holding `manifest.csv`.
        dataset: value of the `dataset` column where the CSV has none.
        check_paths: raise when a listed path does not exist.

    Raises:
        FileNotFoundError: missing CSV, or (with `check_paths`) a listed path that does not exist.
        ValueError: a required column is missing.
    """
    path = check_root(root, "manifest")
    csv_path = path / MANIFEST_FILE if path.is_dir() else path
    if not csv_path.is_file():
        raise FileNotFoundError(f"manifest CSV not found: {csv_path}")
    table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise ValueError(
            f"{csv_path}: manifest lacks required columns {', '.join(missing)} (needs path,label,subject)"
        )
    rows = []
    for i, rec in enumerate(table.to_dict("records")):
        p = Path(rec["path"])
        p = p if p.is_absolute() else csv_path.parent / p
        if check_paths and not p.exists():
            raise FileNotFoundError(f"{csv_path} row {i + 2}: path does not exist: {p}")
        row = dict(rec)
        row["path"] = str(p)
        row["label"] = canonical_label(rec["label"])
        row.setdefault("dataset", dataset)
        row["dataset"] = row["dataset"] or dataset
        row["sample_id"] = (
            rec.get("sample_id") or p.stem if not p.is_dir() else rec.get("sample_id") or p.name
        )
        row["kind"] = rec.get("kind") or ("4d" if p.is_dir() else "3d")
        row["au_path"] = rec.get("au_path") or (sidecar(p) if p.exists() else "")
        rows.append(row)
    return make_index(rows, csv_path.parent, f"rows in {csv_path.name}")
