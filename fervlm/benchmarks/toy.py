"""A tiny learnable prepared table: the input of `fervlm bench` and the fixture of the tests.

The benchmarks (`fervlm.benchmarks.data`, `fervlm.benchmarks.train`) measure loading and training
throughput with no dataset on disk, so the package itself needs a table in the layout `fervlm.prepare`
writes; the tests use the same one, so that a benchmark and a test read the same kind of data.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

__all__ = ["make_toy_table"]


def make_toy_table(
    folder: str | Path,
    n_subjects: int = 8,
    classes: Sequence[str] = ("anger", "disgust", "fear", "happiness", "sadness", "surprise"),
    yaws: Sequence[int] = (-30, 0, 30),
    size: int = 32,
    seed: int = 0,
) -> Path:
    """Write a tiny prepared table (one sample per subject × class) whose images depend on the class.

    Each class has its own colour and stripe frequency, each view a small shift, each sample noise,
    so a tiny backbone can learn it in a few steps. For tests, demos and docs; it mimics the output
    of `fervlm.prepare` (``index.csv`` + ``views/*.png``, paths relative to ``folder``).

    Returns:
        The path of ``folder/index.csv``.
    """
    folder = Path(folder)
    (folder / "views").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    rows = []
    for s in range(n_subjects):
        for c, label in enumerate(classes):
            row: dict[str, Any] = {
                "dataset": "toy",
                "sample_id": f"S{s:02d}_{label}",
                "subject": f"S{s:02d}",
                "label": label,
                "intensity": 4,
                "path": "",
                "kind": "3d",
                "sex": "FM"[s % 2],
                "age_group": "",
                "ethnicity": "",
                "task": "",
                "au_path": "",
            }
            hue = np.array([np.cos(c), np.sin(c), np.cos(2 * c)]) * 0.4 + 0.5
            for v, yaw in enumerate(yaws):
                stripes = 0.5 + 0.5 * np.sin(2 * np.pi * (c + 1) * (xx + 0.05 * v) + yy * yaw / 30)
                img = stripes[..., None] * hue + rng.normal(0, 0.08, (size, size, 3))
                name = f"views/{row['sample_id']}_{yaw}.png"
                Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(folder / name)
                row[f"view_{yaw}"] = name
            rows.append(row)
    path = folder / "index.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path
