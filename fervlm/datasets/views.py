"""Pre-rendered view folders: `<root>/<view>/<class>/<image>` (docs/datasets.md §6.1, as MultiviewTransformer
used).

Rows are samples matched across the view folders by file stem; the table gets one `view_<name>` column per
view holding the image path (and `path` is ""). Samples missing from some view are skipped (debug log).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from fervlm.datasets._common import canonical_label, check_root, log, make_index

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
# Subject ids recognisable in the image names of the benchmarks (BU-3DFE, Bosphorus, BU-4DFE/BP4D).
DEFAULT_SUBJECT_PATTERN = r"^(?:([FM]\d{4})_|(bs\d{3})_|([FM]\d{3})(?:_|$))"


def load_views(
    root: str | Path,
    views: Sequence[str] | None = None,
    split: str | None = None,
    subject_pattern: str = DEFAULT_SUBJECT_PATTERN,
    dataset: str = "views",
) -> pd.DataFrame:
    """Index a pre-rendered multiview folder tree.

    Args:
        root: the folder holding one sub-folder per view.
        views: the view folder names (all sub-folders when None).
        split: an extra level `<view>/<split>/<class>` (MiT's `train`/`val`), or None.
        subject_pattern: regex whose first non-empty group is the subject id in an image stem ("" if no
        match).
        dataset: the `dataset` column value.
    """
    base = check_root(root, "view-folder")
    names = list(views) if views is not None else sorted(p.name for p in base.iterdir() if p.is_dir())
    if not names:
        raise ValueError(f"no view folders under {base}: expected <view>/<class>/<image>")
    found: dict[str, dict[tuple[str, str], Path]] = {}
    for view in names:
        vdir = base / view / split if split else base / view
        if not vdir.is_dir():
            raise FileNotFoundError(f"view folder not found: {vdir}")
        found[view] = {}
        for img in sorted(vdir.glob("*/*")):
            if img.suffix.lower() not in IMAGE_EXTENSIONS or not img.is_file():
                log.debug("views: skipping %s (not an image)", img)
                continue
            found[view][(img.parent.name, img.stem)] = img
    common = set.intersection(*(set(f) for f in found.values()))
    for view, f in found.items():
        for key in sorted(set(f) - common):
            log.debug("views: %s/%s/%s is missing from another view; skipped", view, *key)
    pattern = re.compile(subject_pattern)
    rows = []
    for cls, stem in sorted(common):
        m = pattern.match(stem)
        subject = next((g for g in m.groups() if g), m.group(0)) if m else ""
        row = {
            "dataset": dataset,
            "sample_id": f"{cls}/{stem}",
            "subject": subject,
            "label": canonical_label(cls),
            "path": "",
            "kind": "3d",
        }
        row.update({f"view_{v}": str(found[v][(cls, stem)]) for v in names})
        rows.append(row)
    return make_index(
        rows, base, f"images matched by name across views {', '.join(names)} (<view>/<class>/<image>)"
    )
