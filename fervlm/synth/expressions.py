"""Emotions as EMFACS-style AU combinations, and the rig that turns AU activations into a deformed face.

Prototypes (docs/design.md, "Expressions from Action Units"; Ekman, Friesen & Hager, FACS Investigator's Guide
2002): happiness 6+12(+25); sadness 1+4+15(+17); surprise 1+2+5+26; fear 1+2+4+5+7+20+26; anger 4+5+7+23;
disgust 9+10+15+17. BP4D's two extra task emotions get plausible combinations (embarrassment: a controlled
smile with the head down; pain: 4+6+7+9+10+43), and 4DME's micro-expression classes short, weak bursts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fervlm.io.mesh import Mesh
from fervlm.synth.aus import AU_NAMES, au_basis, region_mask
from fervlm.synth.face import FaceModel, Subject

EMOTIONS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")

EMOTION_AUS: dict[str, tuple[str, ...]] = {
    "happiness": ("AU6", "AU12"),
    "sadness": ("AU1", "AU4", "AU15"),
    "surprise": ("AU1", "AU2", "AU5", "AU26"),
    "fear": ("AU1", "AU2", "AU4", "AU5", "AU7", "AU20", "AU26"),
    "anger": ("AU4", "AU5", "AU7", "AU23"),
    "disgust": ("AU9", "AU10", "AU15", "AU17"),
    "embarrassment": ("AU12", "AU14"),
    "pain": ("AU4", "AU6", "AU7", "AU9", "AU10", "AU43"),
    "neutral": (),
}
"""Core AUs of each class (the EMFACS prototype)."""

EMOTION_OPTIONAL_AUS: dict[str, tuple[str, ...]] = {
    "happiness": ("AU25",),
    "sadness": ("AU17",),
    "surprise": ("AU25",),
    "fear": ("AU25",),
    "anger": ("AU17",),
    "disgust": ("AU25",),
    "embarrassment": ("AU6",),
    "pain": ("AU25",),
}
"""AUs that join the prototype in about half of the samples, at reduced strength."""

# Fear's extra AUs (4, 7, 20) are weaker than its surprise-like core so the two classes are confusable, as in
# real data; other weights shape the prototypes.
_WEIGHTS: dict[tuple[str, str], float] = {
    ("fear", "AU4"): 0.55,
    ("fear", "AU7"): 0.5,
    ("fear", "AU20"): 0.65,
    ("fear", "AU26"): 0.7,
    ("anger", "AU5"): 0.6,
    ("sadness", "AU4"): 0.7,
    ("embarrassment", "AU14"): 0.6,
    ("pain", "AU43"): 0.6,
    ("pain", "AU9"): 0.7,
}

MICRO_CLASSES = ("positive", "negative", "surprise", "repression", "others")
"""4DME's five classes (docs/datasets.md §5)."""
MICRO_AUS: dict[str, tuple[tuple[str, ...], ...]] = {
    "positive": (("AU12",), ("AU6", "AU12")),
    "negative": (("AU4",), ("AU4", "AU7"), ("AU15", "AU17"), ("AU9",), ("AU4", "AU15")),
    "surprise": (("AU1", "AU2"), ("AU1", "AU2", "AU5")),
    "repression": (("AU14",), ("AU17", "AU23"), ("AU12", "AU17")),
    "others": (("AU1",), ("AU7",), ("AU10",), ("AU20",), ("AU43",)),
}
"""Alternative AU sets per micro-expression class; one is drawn per clip."""

NOISE_AU_PROB = 0.15
NOISE_AU_MAX = 0.3


def intensity_level(intensity: int) -> float:
    """BU-3DFE intensity 0-4 → activation scale 0-1 (0 = neutral, 4 = the strongest)."""
    if not 0 <= int(intensity) <= 4:
        raise ValueError(f"intensity={intensity}: must be 0 (neutral) to 4")
    return int(intensity) / 4.0


def sample_activations(
    emotion: str, level: float, subject: Subject, rng: np.random.Generator, *, noise_aus: bool = True
) -> np.ndarray:
    """Draw one sample's AU activations for an emotion at a given strength.

    Args:
        emotion: a key of `EMOTION_AUS`.
        level: overall strength in [0, 1] (intensity / 4 for posed data).
        subject: supplies the idiosyncratic per-AU gains.
        rng: the sample's random stream.
        noise_aus: add a little random activation of unrelated AUs (so the task is not trivial).

    Returns:
        (len(AU_NAMES),) float activations, ≥ 0.
    """
    if emotion not in EMOTION_AUS:
        raise ValueError(f"emotion={emotion!r}: not one of {', '.join(EMOTION_AUS)}")
    act = np.zeros(len(AU_NAMES))
    for au in EMOTION_AUS[emotion]:
        act[AU_NAMES.index(au)] = _WEIGHTS.get((emotion, au), 1.0) * rng.uniform(0.85, 1.15)
    for au in EMOTION_OPTIONAL_AUS.get(emotion, ()):
        if rng.random() < 0.5:
            act[AU_NAMES.index(au)] = rng.uniform(0.3, 0.8)
    act *= level
    if noise_aus and emotion != "neutral" and level > 0:  # intensity 0 is the neutral face, noise-free
        extra = (act == 0) & (rng.random(len(act)) < NOISE_AU_PROB)
        act[extra] = rng.uniform(0.0, NOISE_AU_MAX, int(extra.sum())) * max(level, 0.25)
    gains = np.array([subject.au_gain.get(au, 1.0) for au in AU_NAMES])
    return act * gains


@dataclass
class FaceRig:
    """A subject's face with its AU displacement basis precomputed (deforming is then one tensor contraction).

    Attributes:
        model: the neutral face.
        fields: (A, N, 3) AU displacement fields at activation 1 (`au_basis`).
        windows: (A, N) AU region windows.
    """

    model: FaceModel
    fields: np.ndarray
    windows: np.ndarray

    @classmethod
    def build(cls, subject: Subject, resolution: int = 5000) -> FaceRig:
        """Mesh the subject and precompute its AU basis."""
        model = FaceModel.build(subject, resolution)
        fields, windows = au_basis(model)
        return cls(model, fields, windows)

    @property
    def subject(self) -> Subject:
        return self.model.subject

    def deform(self, activations: np.ndarray) -> np.ndarray:
        """Neutral vertices displaced by the AU fields: v + Σ_a act_a · field_a, (N, 3) float64."""
        act = np.asarray(activations, dtype=np.float64)
        return self.model.vertices + np.tensordot(act, self.fields, axes=1)

    def labels(self, activations: np.ndarray, min_activation: float = 0.1) -> np.ndarray:
        """Per-vertex AU-region bit mask of the AUs active at ≥ `min_activation` (N,) int64."""
        return region_mask(self.windows, np.asarray(activations) >= min_activation)


def synthesize_expression(
    subject: Subject | FaceRig,
    emotion: str,
    intensity: int,
    rng: np.random.Generator,
    *,
    resolution: int = 5000,
) -> Mesh:
    """A clean (no scanner effects) expressive face of `subject`.

    Args:
        subject: a `Subject` (meshed at `resolution`) or a prebuilt `FaceRig` (reused, faster).
        emotion: a key of `EMOTION_AUS` (``"neutral"`` gives the neutral face).
        intensity: 0-4 (BU-3DFE levels); the activation scale is intensity / 4.
        rng: random stream for the sample's AU jitter.
        resolution: approximate vertex count when `subject` is a `Subject`.

    Returns:
        A `Mesh` with `vertex_labels` (AU regions of the active AUs) and `landmarks` (the 83 BU-3DFE-style
        points).
    """
    rig = subject if isinstance(subject, FaceRig) else FaceRig.build(subject, resolution)
    level = 0.0 if emotion == "neutral" else intensity_level(intensity)
    act = sample_activations(emotion, level, rig.subject, rng)
    vertices = rig.deform(act)
    return Mesh(
        vertices=vertices,
        faces=rig.model.faces,
        uv=rig.model.uv,
        vertex_labels=rig.labels(act),
        landmarks=vertices[rig.model.landmarks83],
    )
