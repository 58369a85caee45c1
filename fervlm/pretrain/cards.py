"""The JSON card next to a prior checkpoint: what was trained, on what corpus, how long it took."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def card_path(checkpoint: str | Path) -> Path:
    """The JSON card next to a prior checkpoint."""
    return Path(checkpoint).with_suffix(".json")


def load_card(checkpoint: str | Path) -> dict[str, Any]:
    """The card of a prior checkpoint.

    Raises:
        FileNotFoundError: no card next to the checkpoint.
    """
    path = card_path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"prior card {path} does not exist; build the prior with `fervlm pretrain`")
    return json.loads(path.read_text())
