"""Bosphorus adapter: `<root>/bs000/bs000_E_HAPPY_0.bnt` (docs/datasets.md §4).

Only the six emotion classes (`E_*`) are indexed, plus the neutral `N_N` scans with `include_neutral=True`;
the AU, pose and occlusion scans (`LFAU_*`, `YR_*`, `O_*`, ...) are skipped. ``subset="six"`` keeps only
subjects that have all six emotions, the 65-subject subset the papers use.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from fervlm.datasets._common import check_root, log, make_index, sidecar

EMOTION = re.compile(r"^(bs\d{3})_E_(ANGER|DISGUST|FEAR|HAPPY|SADNESS|SURPRISE)_(\d+)$")
NEUTRAL = re.compile(r"^(bs\d{3})_N_N_(\d+)$")
CODES = {
    "ANGER": "anger",
    "DISGUST": "disgust",
    "FEAR": "fear",
    "HAPPY": "happiness",
    "SADNESS": "sadness",
    "SURPRISE": "surprise",
}
SUBSETS = (None, "six")


def load_bosphorus(
    root: str | Path, subset: str | None = None, include_neutral: bool = False
) -> pd.DataFrame:
    """Index a Bosphorus tree.

    Args:
        root: the folder holding `bs000` … subject folders.
        subset: ``"six"`` (only subjects with all six emotions) or None.
        include_neutral: also index the `N_N` scans (label ``neutral``); never part of the ``"six"`` count.
    """
    if subset not in SUBSETS:
        raise ValueError(f"subset={subset!r}: Bosphorus subsets are 'six' or None")
    base = check_root(root, "Bosphorus")
    rows = []
    for path in sorted(base.glob("*/*.bnt")):
        m = EMOTION.match(path.stem)
        if m is not None:
            subject, label = m.group(1), CODES[m.group(2)]
        elif include_neutral and (n := NEUTRAL.match(path.stem)) is not None:
            subject, label = n.group(1), "neutral"
        else:
            log.debug("Bosphorus: skipping %s (not an emotion scan)", path)
            continue
        rows.append(
            {
                "dataset": "bosphorus",
                "sample_id": path.stem,
                "subject": subject,
                "label": label,
                "path": str(path),
                "kind": "3d",
                "au_path": sidecar(path),
            }
        )
    expected = "<bs000>/<bs000>_E_<ANGER|DISGUST|FEAR|HAPPY|SADNESS|SURPRISE>_<k>.bnt files"
    df = make_index(rows, base, expected)
    if subset == "six":
        emotions = df[df["label"] != "neutral"].groupby("subject")["label"].nunique()
        complete = set(emotions[emotions == len(CODES)].index)
        df = df[df["subject"].isin(complete)].reset_index(drop=True)
        if df.empty:
            raise ValueError(f"no subject under {base} has all six emotions (subset='six')")
    return df
