"""Synthetic example inputs one call away: a face, a 4D onset, a micro-expression onset (`fervlm.synth`).

They let the app (and its tests) show a prediction with no dataset at hand; the faces come from the same
FACS rig as the synthetic datasets (docs/design.md §5), so a model trained on those recognises them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fervlm.io import Mesh

__all__ = ["example_inputs", "example_mesh", "example_micro_sequence", "example_sequence"]


def example_mesh(emotion: str, seed: int = 0, intensity: int = 4, resolution: int = 5000) -> Mesh:
    """A synthetic face (`fervlm.synth`) showing ``emotion``: subject and AU jitter drawn from ``seed``."""
    from fervlm.synth import FaceRig, sample_subject, synthesize_expression

    rig = FaceRig.build(sample_subject(np.random.default_rng(seed)), resolution)
    return synthesize_expression(rig, emotion, int(intensity), np.random.default_rng([seed, 1]))


def example_sequence(emotion: str, seed: int = 0, frames: int = 6, resolution: int = 5000) -> list[Mesh]:
    """A synthetic 4D onset: the same face from neutral (intensity 0) to the apex (4) in ``frames`` steps.

    Every frame draws its AU jitter from the same stream, so only the expression's strength changes
    along the sequence (what rank pooling summarises).
    """
    from fervlm.synth import FaceRig, sample_subject, synthesize_expression

    if frames < 2:
        raise ValueError(f"frames={frames}: a sequence needs at least 2")
    rig = FaceRig.build(sample_subject(np.random.default_rng(seed)), resolution)
    levels = np.rint(np.linspace(0, 4, frames)).astype(int)
    return [
        synthesize_expression(
            rig, emotion if level else "neutral", int(level), np.random.default_rng([seed, 1])
        )
        for level in levels
    ]


def example_micro_sequence(label: str, seed: int = 0, frames: int = 6, resolution: int = 5000) -> list[Mesh]:
    """A synthetic micro-expression onset (4DME's classes): a brief, low-intensity AU burst.

    The AUs are the class's first combination in `fervlm.synth.MICRO_AUS` at the strength the synthetic
    4DME layout draws (0.2-0.4 of the subject's gain), ramped from neutral to the apex over ``frames``.
    """
    from fervlm.synth import AU_NAMES, MICRO_AUS, FaceRig, sample_subject

    if label not in MICRO_AUS:
        raise ValueError(f"label={label!r}: not a micro-expression class ({', '.join(MICRO_AUS)})")
    if frames < 2:
        raise ValueError(f"frames={frames}: a sequence needs at least 2")
    rng = np.random.default_rng([seed, 2])
    rig = FaceRig.build(sample_subject(np.random.default_rng(seed)), resolution)
    apex = np.zeros(len(AU_NAMES))
    for au in MICRO_AUS[label][0]:
        apex[AU_NAMES.index(au)] = rng.uniform(0.2, 0.4) * rig.subject.au_gain[au]
    meshes = []
    for level in np.linspace(0.0, 1.0, frames):
        act = level * apex
        vertices = rig.deform(act)
        meshes.append(
            Mesh(
                vertices=vertices,
                faces=rig.model.faces,
                uv=rig.model.uv,
                vertex_labels=rig.labels(act),
                landmarks=vertices[rig.model.landmarks83],
            )
        )
    return meshes


def example_inputs(emotions: Sequence[str] | None = None, seed: int = 0) -> dict[str, Mesh]:
    """One synthetic face per emotion (the six basic emotions by default), all of the same subject."""
    from fervlm.synth import EMOTIONS, FaceRig, sample_subject, synthesize_expression

    rig = FaceRig.build(sample_subject(np.random.default_rng(seed)))
    return {
        e: synthesize_expression(rig, e, 4, np.random.default_rng([seed, 1]))
        for e in (emotions if emotions is not None else EMOTIONS)
    }
