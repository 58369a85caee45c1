"""4DME adapter: `<root>/<sub_ID>/<fold_name>/<frame>.<mesh ext>` plus a label sheet (docs/datasets.md §5).

The label sheet has the released annotation columns `sub_ID, fold_name, Emotion, Onset, Apex, Offset, AUs`
(`meb`'s reading of `4DME_Labelling_Micro_release v1.xlsx`). The real 4DME 3D mesh sequence format is NOT
public (docs/datasets.md §5, "NOT FOUND"): this adapter reads the layout the synthetic generator writes, which
mirrors the released 2D frame layout `<subject>/<clip>/<frames>`; point `labels` at a CSV export of the
spreadsheet.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fervlm.datasets._common import canonical_label, check_root, log, make_index, sidecar
from fervlm.datasets.sequences import sequence_frames

LABELS_FILE = "4DME_labels.csv"
REQUIRED = ("sub_ID", "fold_name", "Emotion")


def _read_labels(path: Path) -> pd.DataFrame:
    if path.suffix.lower() in (".xlsx", ".xls"):
        return pd.read_excel(path, dtype=str)  # needs openpyxl; export to CSV otherwise
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def load_4dme(root: str | Path, labels: str | Path | None = None, min_frames: int = 1) -> pd.DataFrame:
    """Index 4DME-like clips from the label sheet; rows whose clip folder is missing are skipped (debug log).

    Args:
        root: the folder holding the subject folders.
        labels: the label sheet; `<root>/4DME_labels.csv` when None.
        min_frames: skip clips with fewer mesh frames.

    Returns:
        The index plus columns `onset`, `apex`, `offset` (frame numbers) and `aus` (the `+`-joined AU string).
        `label` is the lower-cased Emotion (positive, negative, surprise, repression, others).
    """
    base = check_root(root, "4DME")
    sheet = Path(labels) if labels is not None else base / LABELS_FILE
    if not sheet.is_file():
        raise FileNotFoundError(f"4DME label sheet not found: {sheet}")
    table = _read_labels(sheet)
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise ValueError(f"{sheet}: 4DME label sheet lacks columns {', '.join(missing)}")
    rows = []
    for rec in table.to_dict("records"):
        sid, clip = str(rec["sub_ID"]).strip(), str(rec["fold_name"]).strip()
        seq = base / sid / clip
        if not seq.is_dir() or len(sequence_frames(seq)) < min_frames:
            log.debug("4DME: skipping %s/%s (no clip folder with mesh frames at %s)", sid, clip, seq)
            continue
        rows.append(
            {
                "dataset": "4dme",
                "sample_id": f"{sid}_{clip}" if not clip.startswith(sid) else clip,
                "subject": sid,
                "label": canonical_label(rec["Emotion"]),
                "path": str(seq),
                "kind": "4d",
                "au_path": sidecar(seq),
                "onset": rec.get("Onset", ""),
                "apex": rec.get("Apex", ""),
                "offset": rec.get("Offset", ""),
                "aus": str(rec.get("AUs", "")),
            }
        )
    return make_index(rows, base, f"<sub_ID>/<fold_name>/<frame> mesh folders listed in {sheet.name}")
