"""The one list of method names: profiles, sweeps, training configs, the CLI and the benchmarks read it here.

A module of its own (no torch import) so that `fervlm.runs` and the command line can name the methods
without loading the LightningModules of `fervlm.methods`. docs/methods.md describes each method.
"""

from __future__ import annotations

__all__ = ["METHOD_NAMES", "TRAINED_METHODS"]

#: Every method a run can name: the three papers' methods, then the baselines (CLIP zero-shot, a linear
#: probe on frozen image features, the classical pixel baseline, `fervlm.methods.pixels`) and the
#: cross-entropy ceiling of a tower (`fervlm.methods.ceiling`, a diagnostic).
METHOD_NAMES: tuple[str, ...] = (
    "affectvlm",
    "multiviewvlm",
    "smilevlm",
    "zeroshot",
    "linearprobe",
    "pixels",
    "ceiling",
)
#: The methods trained with batch-wide losses (they need >= 2 samples per global batch, and are what
#: timing and step benchmarks measure).
TRAINED_METHODS: tuple[str, ...] = ("affectvlm", "multiviewvlm", "smilevlm")
