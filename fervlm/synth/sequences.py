"""Temporal activation profiles for synthetic 4D sequences.

* Posed (BU-4DFE-like): neutral → onset → apex → offset → (near) neutral with random timing (Yin et al. 2008
  describe ~4 s sequences going neutral-onset-apex-offset-neutral; docs/datasets.md §2.1).
* Spontaneous (BP4D-like): the task emotion rises and falls in one to three smooth episodes of varying, lower
  strength, with slowly drifting activation of unrelated AUs.
* Micro (4DME-like): one short, weak burst.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


@dataclass(frozen=True)
class Phases:
    """Frame indices of a burst: onset (first moving frame), apex (peak), offset (back at rest)."""

    onset: int
    apex: int
    offset: int


def burst(frames: int, onset: float, apex_start: float, apex_end: float, offset: float) -> np.ndarray:
    """A (frames,) profile in [0, 1]: 0 before `onset`, smooth rise to 1 at `apex_start`, 1 until `apex_end`,
    smooth fall to 0 at `offset` (positions in frames, may be fractional)."""
    t = np.arange(frames, dtype=float)
    rise = _smoothstep((t - onset) / max(apex_start - onset, 1e-6))
    fall = 1.0 - _smoothstep((t - apex_end) / max(offset - apex_end, 1e-6))
    return np.minimum(rise, fall)


def posed_profile(frames: int, rng: np.random.Generator) -> tuple[np.ndarray, Phases]:
    """Neutral → onset → apex → offset with random timing; the last frame returns to 0.1-0.3 of the apex."""
    if frames < 4:
        raise ValueError(f"frames={frames}: a posed sequence needs at least 4 frames")
    f = frames - 1
    onset = rng.uniform(0.0, 0.15) * f
    apex_start = onset + rng.uniform(0.2, 0.35) * f
    apex_end = apex_start + rng.uniform(0.15, 0.3) * f
    offset = min(apex_end + rng.uniform(0.25, 0.4) * f, f + rng.uniform(0.5, 0.3 * f))
    prof = burst(frames, onset, apex_start, apex_end, offset)
    phases = Phases(int(np.floor(onset)), round((apex_start + apex_end) / 2), min(int(np.ceil(offset)), f))
    return prof, phases


def spontaneous_profile(frames: int, rng: np.random.Generator) -> np.ndarray:
    """One to three smooth episodes of random strength 0.35-0.75 (spontaneous expressions are weaker)."""
    t = np.arange(frames, dtype=float)
    prof = np.zeros(frames)
    for _ in range(int(rng.integers(1, 4))):
        centre = rng.uniform(0.15, 0.85) * (frames - 1)
        width = rng.uniform(0.08, 0.25) * frames + 0.5
        prof = np.maximum(prof, rng.uniform(0.35, 0.75) * np.exp(-0.5 * ((t - centre) / width) ** 2))
    return prof


def drift(frames: int, n_aus: int, rng: np.random.Generator, amplitude: float = 0.15) -> np.ndarray:
    """(frames, n_aus) slowly varying non-negative noise activations (random low-frequency cosines)."""
    t = np.linspace(0.0, 1.0, frames)[:, None]
    freq = rng.uniform(0.3, 1.5, n_aus)
    phase = rng.uniform(0, 2 * np.pi, n_aus)
    amp = amplitude * rng.random(n_aus) * (rng.random(n_aus) < 0.3)
    return amp * 0.5 * (1.0 + np.cos(2 * np.pi * freq * t + phase))


def micro_profile(frames: int, rng: np.random.Generator) -> tuple[np.ndarray, Phases]:
    """A short burst: onset in the first third, apex 2-4 frames later, offset 2-4 frames after that."""
    if frames < 5:
        raise ValueError(f"frames={frames}: a micro-expression clip needs at least 5 frames")
    onset = int(rng.integers(0, max(1, frames // 3)))
    apex = min(onset + int(rng.integers(2, 5)), frames - 2)
    offset = min(apex + int(rng.integers(2, 5)), frames - 1)
    prof = burst(frames, onset, apex, apex, offset)
    return prof, Phases(onset, apex, offset)
