"""Checkpoints a fold can trust: corrupt files set aside, random generator states carried over.

* A ``last.ckpt`` cut short (killed during a save on a system without atomic rename, a full disk,
  a copy interrupted) makes ``torch.load`` fail with a long ``PytorchStreamReader`` traceback or a
  bare ``EOFError``, and a CV run would stop at that fold. :func:`usable_checkpoint` loads it once
  before training; one that does not load is renamed ``last.ckpt.corrupt`` (kept for inspection),
  one line says so, and the fold starts again from scratch.
* :class:`RandomStates` stores the global generators (Python, NumPy, torch CPU and CUDA) in every
  checkpoint and restores them on resume, so randomness drawn in the training process (dropout,
  anything a method draws from the global stream) continues where it stopped. Augmentation does
  not rely on it: its draws are keyed on (seed, epoch, row) in `fervlm.data`.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

__all__ = ["CORRUPT_SUFFIX", "RandomStates", "usable_checkpoint"]

CORRUPT_SUFFIX = ".corrupt"


def usable_checkpoint(ckpt: Path, what: str = "this fold", move: bool = True) -> Path | None:
    """``ckpt`` when it exists and loads; None when there is none or it is corrupt (then set aside).

    Args:
        ckpt: the checkpoint file (``last.ckpt``).
        what: what restarts, for the message (``"fold 3"``).
        move: rename a corrupt file to ``<name>.corrupt`` (only one process of a DDP run should).

    Returns:
        The path to resume from, or None to start from scratch.
    """
    if not ckpt.is_file():
        return None
    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        if not isinstance(state, dict) or "state_dict" not in state:
            raise ValueError("not a Lightning checkpoint (no state_dict)")
    except Exception as exc:  # any failure to load means: cannot resume from this file
        # The first sentence: torch appends paragraphs of advice that would break the one line.
        reason = " ".join(str(exc).split()).split(". ")[0][:160] or type(exc).__name__
        aside = ckpt.with_name(ckpt.name + CORRUPT_SUFFIX)
        if move:
            ckpt.replace(aside)
        print(
            f"fervlm: checkpoint {ckpt} is corrupt ({type(exc).__name__}: {reason}); moved it to "
            f"{aside.name} and restarting {what} from scratch",
            file=sys.stderr,
            flush=True,
        )
        return None
    return ckpt


class RandomStates(pl.Callback):
    """Save the global random generator states in checkpoints and restore them on resume."""

    def state_dict(self) -> dict[str, Any]:
        # Plain ints, tuples and tensors only: Lightning loads checkpoints with ``weights_only=True``.
        kind, key, pos, has_gauss, gauss = np.random.get_state()
        state: dict[str, Any] = {
            "python": random.getstate(),
            "numpy": (
                str(kind),
                torch.from_numpy(key.astype(np.int64)),
                int(pos),
                int(has_gauss),
                float(gauss),
            ),
            "torch": torch.get_rng_state(),
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if "python" in state_dict:
            random.setstate(state_dict["python"])
        if "numpy" in state_dict:
            kind, key, pos, has_gauss, gauss = state_dict["numpy"]
            np.random.set_state((kind, key.numpy().astype(np.uint32), pos, has_gauss, gauss))
        if "torch" in state_dict:
            torch.set_rng_state(state_dict["torch"])
        cuda = state_dict.get("cuda")
        if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
