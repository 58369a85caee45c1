"""BU-3DFE adapter: `<root>/<F0001>/<F0001>_<EE><II><RR>_F3D.wrl` (docs/datasets.md §1).

Protocol subsets used by the papers (docs/methods.md): ``"I"`` = the six emotions at intensities 3 and 4
(the two strongest), ``"II"`` = the six emotions at all four intensities (no neutral), ``None`` = everything
incl. neutral.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from fervlm.datasets._common import canonical_label, check_root, log, make_index, sidecar

NAME = re.compile(r"^([FM])(\d{4})_([A-Z]{2})(\d{2})([A-Z]{2})_(F3D|RAW|F2D)\.(wrl)$")
"""File-name pattern of docs/datasets.md §1.3
(only `.wrl` meshes; only the cropped `F3D` ones are indexed)."""
EXPRESSIONS = {
    "AN": "anger",
    "DI": "disgust",
    "FE": "fear",
    "HA": "happiness",
    "SA": "sadness",
    "SU": "surprise",
    "NE": "neutral",
}
SUBSETS = (None, "I", "II")


def load_bu3dfe(root: str | Path, subset: str | None = None) -> pd.DataFrame:
    """Index a BU-3DFE tree (or the synthetic BU-3DFE-like one).

    Args:
        root: the folder holding the subject folders.
        subset: ``"I"``, ``"II"`` or None (see the module docstring).

    Returns:
        The index table; `intensity` is the file's 1-4 (0 for neutral), `sex`/`ethnicity` come from the name.
    """
    if subset not in SUBSETS:
        raise ValueError(f"subset={subset!r}: BU-3DFE subsets are 'I' (intensities 3-4), 'II' (1-4) or None")
    base = check_root(root, "BU-3DFE")
    rows = []
    for path in sorted(base.glob("*/*.wrl")):
        m = NAME.match(path.name)
        if m is None or m.group(6) != "F3D":
            log.debug("BU-3DFE: skipping %s (not an F3D mesh name)", path)
            continue
        sex, number, code, intensity, ethnicity = (
            m.group(1),
            m.group(2),
            m.group(3),
            int(m.group(4)),
            m.group(5),
        )
        if code not in EXPRESSIONS:
            log.debug("BU-3DFE: skipping %s (unknown expression code %s)", path, code)
            continue
        label = canonical_label(EXPRESSIONS[code])
        if subset == "I" and (label == "neutral" or intensity < 3):
            continue
        if subset == "II" and label == "neutral":
            continue
        rows.append(
            {
                "dataset": "bu3dfe",
                "sample_id": path.stem,
                "subject": f"{sex}{number}",
                "label": label,
                "intensity": intensity,
                "path": str(path),
                "kind": "3d",
                "sex": sex,
                "ethnicity": ethnicity,
                "au_path": sidecar(path),
            }
        )
    return make_index(
        rows, base, "<subject>/<F0001>_<EE><II><RR>_F3D.wrl files (e.g. F0001/F0001_AN01WH_F3D.wrl)"
    )
