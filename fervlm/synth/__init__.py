"""The synthetic FACS-driven 3D/4D face dataset, written in the benchmarks' own file layouts.

Typical use::

    from fervlm.synth import generate, sample_subject, FaceRig, synthesize_expression
    generate("bu3dfe", "data/synth/bu3dfe")                      # the default BU-3DFE-like set
    rig = FaceRig.build(sample_subject(np.random.default_rng(0)))
    mesh = synthesize_expression(rig, "happiness", 4, np.random.default_rng(1))  # .vertex_labels: AU regions

See docs/design.md, "The embedded default".
"""

from fervlm.synth.aus import AU_NAMES, REGION_THRESHOLD, au_basis, au_mask, decode_mask, region_mask
from fervlm.synth.expressions import (
    EMOTION_AUS,
    EMOTION_OPTIONAL_AUS,
    EMOTIONS,
    MICRO_AUS,
    MICRO_CLASSES,
    FaceRig,
    intensity_level,
    sample_activations,
    synthesize_expression,
)
from fervlm.synth.face import (
    AGE_GROUPS,
    BOSPHORUS_LANDMARKS,
    ETHNICITIES,
    FaceModel,
    Subject,
    anchor_points,
    sample_subject,
)
from fervlm.synth.generate import DEFAULTS, LAYOUTS, generate
from fervlm.synth.scanner import Pose, add_noise, hole_mask, make_texture
from fervlm.synth.sequences import Phases, micro_profile, posed_profile, spontaneous_profile

__all__ = [
    "AGE_GROUPS",
    "AU_NAMES",
    "BOSPHORUS_LANDMARKS",
    "DEFAULTS",
    "EMOTIONS",
    "EMOTION_AUS",
    "EMOTION_OPTIONAL_AUS",
    "ETHNICITIES",
    "LAYOUTS",
    "MICRO_AUS",
    "MICRO_CLASSES",
    "REGION_THRESHOLD",
    "FaceModel",
    "FaceRig",
    "Phases",
    "Pose",
    "Subject",
    "add_noise",
    "anchor_points",
    "au_basis",
    "au_mask",
    "decode_mask",
    "generate",
    "hole_mask",
    "intensity_level",
    "make_texture",
    "micro_profile",
    "posed_profile",
    "region_mask",
    "sample_activations",
    "sample_subject",
    "spontaneous_profile",
    "synthesize_expression",
]
