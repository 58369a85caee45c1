"""Saving figures: the one writer every notebook and figure module uses.

A figure is written atomically (`fervlm.utils.atomic_write`): a run killed while saving leaves the previous
PNG or none, never half of one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fervlm.utils import atomic_write

__all__ = ["save_figure"]


def save_figure(fig: Any, output_dir: str | Path, name: str) -> Path:
    """Save a matplotlib figure as `<output_dir>/<name>.png` (folder created, written atomically).

    Args:
        fig: a matplotlib `Figure` (anything with `savefig`).
        output_dir: the folder; created when missing.
        name: the file stem.

    Returns:
        The path of the PNG.
    """
    path = Path(output_dir) / f"{name}.png"
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight", dpi=110)
    return path
