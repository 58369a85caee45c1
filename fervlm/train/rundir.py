"""The run folder of a training run (layout: the `fervlm.train` docstring): fold folders, who writes them.

Only global rank 0 writes files; every other DDP process computes the same results and writes nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fervlm.utils import atomic_write_text


def fold_dir(out_dir: str | Path, fold: int) -> Path:
    """``out_dir/fold-KK``."""
    return Path(out_dir) / f"fold-{int(fold):02d}"


def _global_rank() -> int:
    for key in ("RANK", "SLURM_PROCID", "GLOBAL_RANK"):
        if key in os.environ:
            return int(os.environ[key])
    from fervlm.distributed import rank

    return rank()


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(payload, indent=2, default=str) + "\n")
