"""Index and prepared tables: the names of their image columns, and the one reader of their CSV files.

An *index table* (`fervlm.datasets.load_index`) has one row per sample; the *prepared table*
(`fervlm.prepare`, docs/design.md §4) adds one column ``view_<yaw>`` per rendered view (:func:`view_column`),
holding an image path relative to the table's folder, and with AU masks a ``mask_<yaw>`` column
(:func:`mask_column`). Every reader of such a file (training via `fervlm.data`, notebooks via
`fervlm.experiments.read_prepared`, figures, `fervlm folds`) goes through :func:`read_index`, so one rule
decides the column types: identifiers and labels stay the text as written (subject ids such as ``F0001`` or
``001`` must not become numbers, nor an empty cell NaN); only :data:`NUMERIC_COLUMNS` are numbers. It
imports no torch, so the CLI and the notebooks read tables quickly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from fervlm.viewpoints import yaw_of

__all__ = [
    "NUMERIC_COLUMNS",
    "load_table",
    "mask_column",
    "read_index",
    "resolve_view_columns",
    "view_column",
]

#: Index columns read as integers (0 where the cell is empty); every other column is text ("" when empty).
NUMERIC_COLUMNS = ("intensity",)


def view_column(yaw: float) -> str:
    """Prepared-table column of a view: ``view_-30``, ``view_0``, ``view_30``, ``view_12.5``."""
    return f"view_{float(yaw):g}"


def mask_column(yaw: float) -> str:
    """Prepared-table column of a view's AU mask file (``masks=True`` only)."""
    return f"mask_{float(yaw):g}"


def read_index(path: str | Path) -> pd.DataFrame:
    """Read an index or prepared table (CSV) with the column types above; no check of its columns.

    Raises:
        FileNotFoundError: no such file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"index table {path} does not exist")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column in NUMERIC_COLUMNS:
        if column in table.columns:
            table[column] = pd.to_numeric(table[column], errors="coerce").fillna(0).astype(int)
    return table.reset_index(drop=True)


def load_table(path: str | Path) -> tuple[pd.DataFrame, Path]:
    """Read a prepared table (CSV) and return it with the folder its image paths are relative to.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the table has no ``view_*`` or no ``label`` column.
    """
    path = Path(path)
    table = read_index(path)
    if "label" not in table.columns:
        raise ValueError(f"index table {path}: no 'label' column (columns: {list(table.columns)})")
    if not [c for c in table.columns if c.startswith("view_")]:
        raise ValueError(f"index table {path}: no 'view_<yaw>' image columns (not a prepared table?)")
    return table, path.parent


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
