"""The pretraining corpus (fervlm.prior.corpus): identity disjointness, face kinds, rendering, reuse."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fervlm.prior.corpus import (
    FACE_KINDS,
    PRIOR_NAMESPACE,
    CorpusConfig,
    build_corpus,
    identity_seed,
    load_corpus,
    prior_subject,
    sample_face,
)
from fervlm.synth import AU_NAMES, sample_subject

TINY = CorpusConfig(identities=2, faces_per_identity=3, size=24, resolution=1500)


def _eval_subjects(seed: int, n: int) -> list:
    """The subjects `fervlm.synth.generate(layout, out, n, seed)` draws (its own derivation, copied)."""
    seqs = np.random.SeedSequence(seed).spawn(n)
    sexes = ["F" if u < 0.55 else "M" for u in np.random.default_rng([seed, 0x5E5]).random(n)]
    return [sample_subject(np.random.default_rng(s), "x", sex) for s, sex in zip(seqs, sexes, strict=True)]


def _fingerprint(subject) -> tuple:
    return (subject.seed, round(subject.shape["width"], 9), round(subject.shape["nose_length"], 9))


@pytest.mark.parametrize("seed", [0, 1, 11])
def test_corpus_identities_never_overlap_evaluation_subjects(seed: int) -> None:
    corpus = {_fingerprint(prior_subject(seed, i)[0]) for i in range(50)}
    evaluation = set()
    for eval_seed in (0, 1, 2, 3, 11, 42, seed):
        evaluation |= {_fingerprint(s) for s in _eval_subjects(eval_seed, 100)}
    assert len(corpus) == 50
    assert not corpus & evaluation
    # The random streams themselves differ, whatever a subject draws from them.
    streams = {tuple(identity_seed(seed, i).generate_state(4)) for i in range(50)}
    eval_streams = {
        tuple(s.generate_state(4))
        for e in (0, 1, 2, 3, 11, 42, seed)
        for s in np.random.SeedSequence(e).spawn(100)
    }
    assert not streams & eval_streams


def test_namespace_is_a_two_element_spawn_key() -> None:
    seq = identity_seed(0, 7)
    assert seq.spawn_key == (PRIOR_NAMESPACE, 7)
    # Evaluation sets spawn one-element keys from the same entropy: different streams.
    other = np.random.SeedSequence(0).spawn(8)[7]
    assert other.spawn_key == (7,)
    assert not np.array_equal(seq.generate_state(4), other.generate_state(4))


def test_held_out_identities_are_new_people() -> None:
    train = {_fingerprint(prior_subject(0, i)[0]) for i in range(20)}
    held = {_fingerprint(prior_subject(0, i)[0]) for i in range(20, 30)}
    assert not train & held


def test_sample_face_kinds() -> None:
    subject, rng = prior_subject(0, 0)
    seen = {}
    for _ in range(400):
        act, kind, emotion = sample_face(subject, rng, (0.25, 0.25, 0.25, 0.25))
        assert act.shape == (len(AU_NAMES),) and (act >= 0).all()
        seen.setdefault(kind, []).append((act, emotion))
    assert set(seen) == set(FACE_KINDS)
    assert all((a == 0).all() for a, _ in seen["neutral"])
    assert all((a > 0).sum() == 1 for a, _ in seen["single"])
    assert all(2 <= (a > 0).sum() <= 5 for a, _ in seen["combination"])
    assert all(e for _, e in seen["prototype"])


def test_build_is_deterministic_and_reused(tmp_path: Path) -> None:
    a = build_corpus(TINY, tmp_path / "a", progress=False)
    b = build_corpus(TINY, tmp_path / "b", progress=False)
    assert a.images.shape == (6, 3, 24, 24, 3) and a.images.dtype == np.uint8
    assert np.array_equal(a.images, b.images) and np.array_equal(a.activations, b.activations)
    assert a.images[:, 1].max() > 0  # something rendered
    assert [f["subject"] for f in a.faces] == ["P00000"] * 3 + ["P00001"] * 3
    stamp = (tmp_path / "a" / "images.npy").stat().st_mtime_ns
    again = build_corpus(TINY, tmp_path / "a", progress=False)
    assert (tmp_path / "a" / "images.npy").stat().st_mtime_ns == stamp  # reused, not re-rendered
    assert again.config == TINY
    assert load_corpus(tmp_path / "a").view_names == ["shaded/left", "shaded/front", "shaded/right"]


def test_bad_config_and_missing_corpus(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="modes"):
        CorpusConfig(modes=("texture",))
    with pytest.raises(ValueError, match="mix"):
        CorpusConfig(mix=(0.5, 0.5, 0.5, 0.5))
    with pytest.raises(FileNotFoundError, match="no finished corpus"):
        load_corpus(tmp_path)
