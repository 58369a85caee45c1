"""Aggregation: every `metrics.json` / `summary.json` of one profile's outputs into `results.csv`."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from fervlm.profiles import KNOWN_METHODS
from fervlm.runs.provenance import STATUS_FILE
from fervlm.utils import atomic_write

__all__ = ["aggregate_results"]

_FOLD_DIR = re.compile(r"^fold-(\d+)$")
_META_KEYS = ("profile", "notebook", "dataset", "method", "variant", "fold", "data_kind")
#: Run labels kept as text after the meta keys: the protocol of every number (fervlm.protocols).
_TEXT_KEYS = ("prompt_source",)


def _flatten(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Scalar numbers of a (nested) metrics dict; nested keys joined with '.'; lists and strings dropped."""
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        elif isinstance(value, bool):
            flat[name] = float(value)
        elif isinstance(value, (int, float)):
            flat[name] = value
        elif value is None and not prefix:  # write_metrics stores NaN as null
            flat[name] = float("nan")
    return flat


def _item_dir(metrics_path: Path, profile_dir: Path) -> Path:
    """The run folder a metrics file belongs to: the nearest parent with config.yaml or status.json."""
    for parent in metrics_path.parents:
        if parent == profile_dir:
            break
        if (parent / "config.yaml").is_file() or (parent / STATUS_FILE).is_file():
            return parent
    return metrics_path.parent


def _path_labels(metrics_path: Path, profile_dir: Path) -> dict[str, str]:
    """notebook / dataset / method / fold from the folder names (contract point 3) and the item's config."""
    parts = list(metrics_path.relative_to(profile_dir).parts[:-1])
    labels = {
        "notebook": parts[0] if parts else "",
        "dataset": "",
        "method": "",
        "variant": "",
        "fold": "summary",
    }
    fold_parts = [p for p in parts[1:] if _FOLD_DIR.match(p)]
    if fold_parts:
        labels["fold"] = str(int(_FOLD_DIR.match(fold_parts[-1]).group(1)))
    rest = [p for p in parts[1:] if not _FOLD_DIR.match(p)]
    item_dir = _item_dir(metrics_path, profile_dir)
    if item_dir != metrics_path.parent:
        # A notebook that runs several configurations (prompt sources, ablations) puts each in a
        # sub-folder of its item: that sub-path names the variant.
        inner = metrics_path.parent.relative_to(item_dir).parts
        labels["variant"] = "/".join(p for p in inner if not _FOLD_DIR.match(p))
    config_file = item_dir / "config.yaml"
    config: dict[str, Any] = {}
    if config_file.is_file():
        try:
            config = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            config = {}
    if config.get("dataset") or config.get("method"):
        labels["dataset"] = str(config.get("dataset") or "")
        labels["method"] = str(config.get("method") or "")
    elif len(rest) >= 2:
        labels["dataset"], labels["method"] = rest[0], rest[1]
    elif len(rest) == 1:  # one level: a method when it names one, else a dataset
        labels["method" if rest[0] in KNOWN_METHODS else "dataset"] = rest[0]
    return labels


def aggregate_results(profile_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """Collect every `metrics.json` (and `summary.json`) of one profile's outputs into one table.

    Columns: profile, notebook, dataset, method, fold (the `fold-KK` number, or ``"summary"`` for a file at
    item level), data_kind (``synthetic``/``real`` when the metrics record it, else ""), prompt_source
    (``label``/``pseudo``: the protocol, `fervlm.protocols`; "" when not recorded), then every scalar
    metric (accuracy, macro_f1, nmi, ``*_mean``, ``*_std``, …; nested dicts flattened as ``a.b``). Labels
    recorded inside the metrics file win over those read from the folders. The table is written atomically
    to ``<profile_dir>/results.csv``.

    Args:
        profile_dir: ``<outputs>/<profile>``; its name is the profile column.

    Returns:
        The table, sorted by notebook, dataset, method, fold.
    """
    profile_dir = Path(profile_dir).absolute()
    if not profile_dir.is_dir():
        raise FileNotFoundError(f"outputs folder {profile_dir} does not exist")
    files = sorted(
        p
        for pattern in ("metrics.json", "summary.json")
        for p in profile_dir.rglob(pattern)
        if not any(part.startswith(".") for part in p.relative_to(profile_dir).parts)
    )
    rows = []
    for path in files:
        try:
            metrics = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue  # being written or corrupt: the next aggregation picks it up
        if not isinstance(metrics, dict):
            continue
        row: dict[str, Any] = {
            "profile": profile_dir.name,
            **_path_labels(path, profile_dir),
            "data_kind": "",
            "prompt_source": "",
        }
        for key in ("dataset", "method", "variant", "data_kind", *_TEXT_KEYS):
            if isinstance(metrics.get(key), str) and metrics[key]:
                row[key] = metrics[key]
        if isinstance(metrics.get("fold"), int) and not isinstance(metrics.get("fold"), bool):
            row["fold"] = str(metrics["fold"])
        row.update({k: v for k, v in _flatten(metrics).items() if k not in _META_KEYS})
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        table = pd.DataFrame(columns=[*_META_KEYS, *_TEXT_KEYS])
    metric_cols = sorted(c for c in table.columns if c not in _META_KEYS and c not in _TEXT_KEYS)
    meta = ["profile", "notebook", "dataset", "method", "variant", "fold", "data_kind"]
    table = table[[*meta, *_TEXT_KEYS, *metric_cols]]
    order = table["fold"].map(lambda f: 1 << 30 if f == "summary" else int(f))  # summary after the folds
    table = (
        table.assign(_order=order)
        .sort_values(["notebook", "dataset", "method", "variant", "_order"], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )
    with atomic_write(profile_dir / "results.csv") as tmp:
        table.to_csv(tmp, index=False)
    return table
