"""Captions written from AU activations (fervlm.prior.captions)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from fervlm.prior.captions import (
    AU_PHRASES,
    EMOTION_WORDS,
    CaptionStyle,
    active_aus,
    caption,
    captions,
    contained_emotion,
    vocabulary,
)
from fervlm.prompts import prompts_dir
from fervlm.synth import AU_NAMES, EMOTION_AUS, EMOTIONS


def _act(**aus: float) -> np.ndarray:
    a = np.zeros(len(AU_NAMES))
    for name, value in aus.items():
        a[AU_NAMES.index(name)] = value
    return a


def _all_phrases(au: str) -> list[str]:
    from fervlm.prior.captions import _MERGES

    return list(AU_PHRASES[au]) + [p for group, ps in _MERGES if au in group for p in ps]


def test_every_au_has_phrases() -> None:
    assert set(AU_PHRASES) == set(AU_NAMES)
    assert all(len(p) >= 2 for p in AU_PHRASES.values())


def test_neutral_face_gets_a_neutral_caption() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        text = caption(np.zeros(len(AU_NAMES)), rng)
        assert any(w in text for w in ("neutral", "rest", "no emotion", "calm", "expressionless")), text


def test_captions_describe_the_active_aus_and_nothing_else() -> None:
    rng = np.random.default_rng(1)
    act = _act(AU9=0.9, AU17=0.6)  # no emotion prototype: AU-only captions
    style = CaptionStyle(p_codes=0.0)
    for text in captions(act, rng, 30, style):
        assert any(p in text for p in _all_phrases("AU9")), text
        assert any(p in text for p in _all_phrases("AU17")), text
        # Phrases of an inactive AU never appear (AU12 "smile", AU26 "open mouth").
        assert "smile" not in text and "open mouth" not in text, text


def test_below_threshold_aus_are_not_described() -> None:
    rng = np.random.default_rng(2)
    act = _act(AU4=0.9, AU12=0.1)
    assert [n for n, _ in active_aus(act, 0.25)] == ["AU4"]
    style = CaptionStyle(p_codes=0.0)
    for text in captions(act, rng, 20, style):
        assert "smil" not in text and "lip corners pulled up" not in text, text


def test_several_phrasings_and_orders() -> None:
    rng = np.random.default_rng(3)
    act = _act(AU1=0.8, AU4=0.7, AU15=0.9, AU20=0.5)
    texts = captions(act, rng, 40, CaptionStyle(name_emotions=False))
    assert len(set(texts)) >= 30  # phrasing, order and template vary
    coded = [t for t in texts if "AU" in t]
    assert 0 < len(coded) < len(texts)  # FACS codes in a share of them


def test_contained_emotion_picks_the_prototype_with_most_aus() -> None:
    for emotion in EMOTIONS:
        act = _act(**{au: 0.8 for au in EMOTION_AUS[emotion]})
        assert contained_emotion(act) == emotion
    # Fear's prototype contains surprise's: the fuller explanation wins; without AU4/7/20 it is surprise.
    assert contained_emotion(_act(**{au: 0.8 for au in EMOTION_AUS["fear"]})) == "fear"
    assert contained_emotion(_act(AU1=0.8, AU2=0.8, AU5=0.8, AU26=0.8, AU4=0.1)) == "surprise"
    assert contained_emotion(_act(AU6=0.9)) is None


def test_emotion_switch() -> None:
    act = _act(AU6=0.9, AU12=0.9)
    words = set(EMOTION_WORDS["happiness"][0]) | set(EMOTION_WORDS["happiness"][1])
    rng = np.random.default_rng(4)
    named = captions(act, rng, 60, CaptionStyle(name_emotions=True, p_emotion=0.6))
    share = np.mean([any(w in t.split() for w in words) for t in named])
    assert 0.3 < share < 0.9  # named in about p_emotion of the captions
    off = captions(act, rng, 60, CaptionStyle(name_emotions=False))
    all_words = {w for adjs, nouns in EMOTION_WORDS.values() for w in (*adjs, *nouns)} - {"smiling"}
    assert not any(w in t.replace(",", " ").split() for t in off for w in all_words)


def test_caption_vocabulary_meets_the_prompt_bank() -> None:
    bank = yaml.safe_load((prompts_dir() / "emotions6.yaml").read_text())
    vocab = vocabulary()
    for cls in EMOTIONS:
        for adj in bank["classes"][cls]["adjectives"]:
            assert adj in vocab, (cls, adj)
        assert cls in vocab
    # The bank's AU-descriptive descriptions share their content words with the captions.
    content = {"brows", "lips", "nose", "cheeks", "eyes", "jaw", "mouth", "lip", "corners"}
    descriptions = [d for c in EMOTIONS for d in bank["classes"][c]["descriptions"]]
    described = {w for d in descriptions for w in d.replace(",", "").split()}
    assert content & described <= vocab


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="activations"):
        caption(np.zeros(3), np.random.default_rng(0))
    with pytest.raises(ValueError, match="p_codes"):
        CaptionStyle(p_codes=1.5)


def test_articles_are_fixed() -> None:
    rng = np.random.default_rng(5)
    act = _act(AU4=0.9, AU5=0.6, AU7=0.6, AU23=0.8)  # anger: "angry", "annoyed" take "an"
    for text in captions(act, rng, 80):
        assert " a angry" not in text and " a annoyed" not in text and not text.startswith("a angry"), text


def test_captions_do_not_depend_on_the_python_hash_seed() -> None:
    """One seed gives the same captions in every process (string-set order varies with PYTHONHASHSEED)."""
    import os
    import subprocess
    import sys

    script = (
        "import numpy as np\n"
        "from fervlm.prior.captions import caption\n"
        "from fervlm.synth import AU_NAMES\n"
        "rng = np.random.default_rng(0)\n"
        "for _ in range(40):\n"
        "    act = np.where(rng.random(len(AU_NAMES)) < 0.4, rng.uniform(0.3, 1.0, len(AU_NAMES)), 0.0)\n"
        "    print(caption(act, rng))\n"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outputs) == 1 and len(next(iter(outputs)).splitlines()) == 40
