"""Natural-language captions of a synthetic face from its Action Unit activations (the prior's "alt text").

CLIP (Radford et al., "Learning Transferable Visual Models From Natural Language Supervision", ICML 2021)
learned to relate images and words from web alt-text. Our offline prior learns the same relation from
captions written *from the AUs that deform the face*: plain-language appearance ("raised inner brows, lips
pulled back at the corners, a dropped jaw"), several phrasings per AU, random order, intensity adverbs, and
FACS codes in a share of the captions (FACS: Ekman & Friesen 1978). See docs/methods.md §1 for how the
prompts are used downstream.

The vocabulary is written to *meet the prompt banks' wording* (`fervlm/resources/prompts/emotions6.yaml`): the
banks' descriptions speak of "lowered brows", "a wrinkled nose", "raised cheeks and pulled-up lip corners",
"wide open eyes and a dropped jaw"; their templates of "a photo of a {adj} face", "a face showing {cls}".
Zero-shot prediction compares an image with those prompts, so it only works where the caption language and the
prompt language overlap (`tests/prior/test_captions.py` checks that every bank adjective is known here).

Whether a caption may also *name an emotion* — as web alt-text does ("a happy woman") — is a switch
(`CaptionStyle.name_emotions`): an emotion is named only when the face contains that emotion's EMFACS
prototype (`fervlm.synth.EMOTION_AUS`, all core AUs active), never from a label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fervlm.synth.aus import AU_NAMES
from fervlm.synth.expressions import EMOTION_AUS, EMOTIONS

__all__ = [
    "AU_PHRASES",
    "EMOTION_WORDS",
    "CaptionStyle",
    "active_aus",
    "caption",
    "captions",
    "contained_emotion",
    "vocabulary",
]

#: Plain-language phrasings of each AU's appearance. A phrase that starts with a participle can take an
#: intensity adverb ("slightly raised cheeks"); the others are used as they are.
AU_PHRASES: dict[str, tuple[str, ...]] = {
    "AU1": ("raised inner brows", "lifted inner eyebrows", "inner brows raised"),
    "AU2": ("raised outer brows", "lifted outer eyebrows", "high arched brows"),
    "AU4": ("lowered brows", "brows drawn together", "furrowed brows", "a frown"),
    "AU5": ("wide eyes", "widened eyes", "raised upper eyelids", "glaring eyes"),
    "AU6": ("raised cheeks", "cheeks pushed up", "crinkled eyes"),
    "AU7": ("tightened eyelids", "tense lower eyelids", "narrowed eyes"),
    "AU9": ("a wrinkled nose", "wrinkled nose", "nose wrinkled up"),
    "AU10": ("a raised upper lip", "raised upper lip", "upper lip pulled up"),
    "AU12": ("pulled-up lip corners", "lip corners pulled up", "a smile", "smiling lips"),
    "AU14": ("dimpled lip corners", "tightened lip corners", "dimples"),
    "AU15": ("lowered lip corners", "lip corners pulled down", "a downturned mouth"),
    "AU17": ("a raised chin", "chin pushed up", "a wrinkled chin"),
    "AU20": ("stretched lips", "lips stretched sideways", "lips pulled back at the corners"),
    "AU23": ("tightly pressed lips", "tightened lips", "narrowed lips"),
    "AU25": ("parted lips", "lips apart", "slightly open lips"),
    "AU26": ("a dropped jaw", "an open mouth", "jaw dropped", "a lowered jaw"),
    "AU43": ("closed eyes", "eyes shut", "drooping eyelids"),
}

#: AU pairs that plain language names as one thing ("raised eyebrows" = inner + outer brow raiser).
_MERGES: tuple[tuple[frozenset[str], tuple[str, ...]], ...] = (
    (frozenset({"AU1", "AU2"}), ("raised eyebrows", "raised brows", "high arched brows")),
    (frozenset({"AU6", "AU12"}), ("a broad smile", "a smile with crinkled eyes", "a smile, raised cheeks")),
    (frozenset({"AU25", "AU26"}), ("an open mouth", "a wide open mouth", "a dropped jaw")),
    (frozenset({"AU9", "AU10"}), ("a wrinkled nose and raised upper lip",)),
)

#: Emotion words: adjectives and nouns. A superset of the bank adjectives (resources/prompts/emotions6.yaml).
EMOTION_WORDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "anger": (("angry", "furious", "annoyed", "frowning"), ("anger", "fury", "frustration")),
    "disgust": (("disgusted", "repulsed", "revolted"), ("disgust", "distaste", "revulsion")),
    "fear": (("fearful", "afraid", "scared", "frightened"), ("fear", "terror")),
    "happiness": (("happy", "joyful", "cheerful", "delighted", "smiling"), ("happiness", "joy", "delight")),
    "sadness": (("sad", "sorrowful", "unhappy"), ("sadness", "sorrow", "grief")),
    "surprise": (("surprised", "astonished", "amazed"), ("surprise", "astonishment", "amazement")),
}

_NEUTRAL = (
    "a neutral face",
    "a face with a neutral expression",
    "a relaxed face showing no emotion",
    "a face at rest with closed lips",
    "an expressionless face",
    "a calm face",
    "a photo of a neutral face",
    "a 3D face scan of a neutral expression",
)
_AU_ONLY = (
    "a face with {aus}",
    "a photo of a face with {aus}",
    "a 3D face scan with {aus}",
    "a rendering of a face with {aus}",
    "an expression with {aus}",
    "a facial expression with {aus}",
    "{aus}",
)
_NAMED = (
    "a photo of a {adj} face",
    "a {adj} facial expression",
    "a face showing {noun}",
    "a 3D face scan showing {noun}",
    "a rendering of a {adj} face",
    "a person looking {adj}",
    "a {adj} face with {aus}",
    "a face showing {noun}, with {aus}",
    "a {adj} expression: {aus}",
    "a photo of a {adj} face with {aus}",
)
_WEAK, _STRONG = ("slightly", "a little"), ("strongly", "clearly", "very")
_PARTICIPLE_ENDINGS = ("ed", "en")


@dataclass(frozen=True)
class CaptionStyle:
    """How captions are written.

    Attributes:
        name_emotions: captions may name an emotion when the face contains its EMFACS prototype.
        p_emotion: share of such faces' captions that do name it (the rest describe AUs only).
        p_codes: share of captions that carry FACS codes (alone, or in brackets after the phrases).
        p_adverb: chance that a participle phrase of a weak (< 0.45) or strong (> 0.8) AU gets an adverb.
        max_phrases: at most this many AU phrases per caption (the strongest AUs are kept), so a caption
            fits the text tower's 32-token context.
        threshold: activation from which an AU counts as visible (and is described).
    """

    name_emotions: bool = True
    p_emotion: float = 0.6
    p_codes: float = 0.15
    p_adverb: float = 0.5
    max_phrases: int = 4
    threshold: float = 0.25

    def __post_init__(self) -> None:
        for name in ("p_emotion", "p_codes", "p_adverb"):
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                raise ValueError(f"CaptionStyle {name}={getattr(self, name)}: must be in [0, 1]")
        if self.max_phrases < 1:
            raise ValueError(f"CaptionStyle max_phrases={self.max_phrases}: must be >= 1")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"CaptionStyle threshold={self.threshold}: must be in (0, 1)")


def _check(act: np.ndarray) -> np.ndarray:
    a = np.asarray(act, dtype=np.float64)
    if a.shape != (len(AU_NAMES),):
        raise ValueError(f"activations: expected shape ({len(AU_NAMES)},) (one per AU_NAMES), got {a.shape}")
    return a


def active_aus(act: np.ndarray, threshold: float = 0.25) -> list[tuple[str, float]]:
    """The visible AUs (activation ≥ `threshold`), strongest first, as (name, activation)."""
    a = _check(act)
    order = np.argsort(-a, kind="stable")
    return [(AU_NAMES[k], float(a[k])) for k in order if a[k] >= threshold]


def contained_emotion(act: np.ndarray, threshold: float = 0.25) -> str | None:
    """The basic emotion whose EMFACS core AUs are all visible, or None.

    When several are contained (fear's prototype contains surprise's), the one with the most core AUs wins:
    it explains more of the face.
    """
    visible = {name for name, _ in active_aus(act, threshold)}
    hits = [e for e in EMOTIONS if set(EMOTION_AUS[e]) <= visible]
    return max(hits, key=lambda e: len(EMOTION_AUS[e])) if hits else None


def _phrase(au: str, level: float, rng: np.random.Generator, style: CaptionStyle) -> str:
    text = AU_PHRASES[au][int(rng.integers(len(AU_PHRASES[au])))]
    first = text.split()[0]
    if first.endswith(_PARTICIPLE_ENDINGS) and rng.random() < style.p_adverb:
        if level < 0.45:
            text = f"{_WEAK[int(rng.integers(len(_WEAK)))]} {text}"
        elif level > 0.8:
            text = f"{_STRONG[int(rng.integers(len(_STRONG)))]} {text}"
    return text


def _join(parts: list[str], rng: np.random.Generator) -> str:
    if len(parts) == 1:
        return parts[0]
    if rng.random() < 0.5:
        return ", ".join(parts[:-1]) + " and " + parts[-1]
    return ", ".join(parts)


def _describe(visible: list[tuple[str, float]], rng: np.random.Generator, style: CaptionStyle) -> str:
    """Phrases for the strongest visible AUs, merged where plain language has one word, in random order."""
    kept = visible[: style.max_phrases]
    names = {n for n, _ in kept}
    level = dict(kept)
    parts: list[tuple[str, str]] = []  # (phrase, codes)
    for group, options in _MERGES:
        if group <= names and rng.random() < 0.5:
            codes = "+".join(sorted(group, key=AU_NAMES.index))
            parts.append((options[int(rng.integers(len(options)))], codes))
            names -= group
    # In AU order, not set order: a set of strings iterates in an order that changes with Python's hash seed
    # (every process), which made the random draws below, and so every caption, differ between processes.
    for name in sorted(names, key=AU_NAMES.index):
        parts.append((_phrase(name, level[name], rng, style), name))
    order = rng.permutation(len(parts))
    parts = [parts[i] for i in order]
    if rng.random() < style.p_codes:
        if rng.random() < 0.4:  # codes only, as a FACS coder writes them: "AU1 + AU2 + AU26"
            return " + ".join(c for _, c in parts)
        return _join([f"{p} ({c})" for p, c in parts], rng)
    return _join([p for p, _ in parts], rng)


def caption(act: np.ndarray, rng: np.random.Generator, style: CaptionStyle | None = None) -> str:
    """One caption of a face with AU activations `act` ((len(AU_NAMES),), as `sample_activations` gives).

    Args:
        act: AU activations (after the subject's gains: what the face shows).
        rng: the caption's random stream (phrasing, order, template, adverbs, codes).
        style: how to write (default `CaptionStyle()`).

    Returns:
        A lower-case English caption, e.g. "a photo of a happy face with raised cheeks and a smile".
    """
    style = style or CaptionStyle()
    visible = active_aus(act, style.threshold)
    if not visible:
        return _NEUTRAL[int(rng.integers(len(_NEUTRAL)))]
    emotion = contained_emotion(act, style.threshold) if style.name_emotions else None
    if emotion is not None and rng.random() < style.p_emotion:
        template = _NAMED[int(rng.integers(len(_NAMED)))]
        adjs, nouns = EMOTION_WORDS[emotion]
        words = {"adj": adjs[int(rng.integers(len(adjs)))], "noun": nouns[int(rng.integers(len(nouns)))]}
        if "{aus}" in template:
            words["aus"] = _describe(visible, rng, style)
        return _article(template.format(**words))
    template = _AU_ONLY[int(rng.integers(len(_AU_ONLY)))]
    return _article(template.format(aus=_describe(visible, rng, style)))


def captions(
    act: np.ndarray, rng: np.random.Generator, n: int, style: CaptionStyle | None = None
) -> list[str]:
    """`n` independently written captions of the same face (different phrasings, orders and templates)."""
    return [caption(act, rng, style) for _ in range(int(n))]


def _article(text: str) -> str:
    """Fix "a" / "an" before a vowel sound after filling a template ("a angry face" → "an angry face")."""
    words = text.split(" ")
    for i in range(len(words) - 1):
        if words[i] in ("a", "an"):
            nxt = words[i + 1].lstrip("(")
            words[i] = "an" if nxt[:1] in "aeiou" and not nxt.startswith(("uni", "one", "eu")) else "a"
    return " ".join(words)


def vocabulary(style: CaptionStyle | None = None) -> set[str]:
    """Every word a caption can use (lower case), for checking that it meets a prompt bank's wording."""
    words: set[str] = set()
    texts = [*_NEUTRAL, *_AU_ONLY, *(p for ps in AU_PHRASES.values() for p in ps)]
    texts += [p for _, ps in _MERGES for p in ps]
    texts += [*_WEAK, *_STRONG]
    if style is None or style.name_emotions:
        texts += list(_NAMED)
        texts += [w for adjs, nouns in EMOTION_WORDS.values() for w in (*adjs, *nouns)]
    for t in texts:
        for w in t.replace(",", " ").replace(":", " ").split():
            if not w.startswith("{"):
                words.add(w.lower())
    return words
