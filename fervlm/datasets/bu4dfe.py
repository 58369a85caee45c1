"""BU-4DFE adapter: `<root>/<F001>/<Angry|Disgust|Fear|Happy|Sad|Surprise>/<000>.wrl` (docs/datasets.md §2).

One row per sequence folder; `path` is the folder and `sequence_frames(path)` lists its frames. Subject
folders must match `^[FM]\\d{3}$`, which drops the distribution's `BU_WrlViewer_V2/` viewer folder.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from fervlm.datasets._common import canonical_label, check_root, log, make_index, sidecar
from fervlm.datasets.sequences import sequence_frames

SUBJECT = re.compile(r"^[FM]\d{3}$")
FOLDERS = {
    "Angry": "anger",
    "Disgust": "disgust",
    "Fear": "fear",
    "Happy": "happiness",
    "Sad": "sadness",
    "Surprise": "surprise",
}


def load_bu4dfe(root: str | Path, min_frames: int = 1) -> pd.DataFrame:
    """Index a BU-4DFE tree: one 4D row per `<subject>/<expression>` folder holding ≥ `min_frames` meshes."""
    base = check_root(root, "BU-4DFE")
    rows = []
    for subject_dir in sorted(p for p in base.iterdir() if p.is_dir()):
        if not SUBJECT.match(subject_dir.name):
            log.debug("BU-4DFE: skipping %s (not a subject folder)", subject_dir)
            continue
        for seq in sorted(p for p in subject_dir.iterdir() if p.is_dir()):
            if seq.name not in FOLDERS:
                log.debug("BU-4DFE: skipping %s (not an expression folder)", seq)
                continue
            if len(sequence_frames(seq)) < min_frames:
                log.debug("BU-4DFE: skipping %s (fewer than %d mesh frames)", seq, min_frames)
                continue
            sid = subject_dir.name
            rows.append(
                {
                    "dataset": "bu4dfe",
                    "sample_id": f"{sid}_{seq.name}",
                    "subject": sid,
                    "label": canonical_label(FOLDERS[seq.name]),
                    "path": str(seq),
                    "kind": "4d",
                    "sex": sid[0],
                    "au_path": sidecar(seq),
                }
            )
    return make_index(rows, base, "<F001>/<Angry|Disgust|Fear|Happy|Sad|Surprise>/<000>.wrl sequence folders")
