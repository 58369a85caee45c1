"""Tests for fervlm.experiments.priors: the priors notebook 10 compares, built or reused."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import fervlm.experiments.priors
from fervlm.experiments.priors import build_priors


@dataclass
class _Spec:
    folder: Path
    compare_emotion_names: bool = True

    def pretrain_config(self, name_emotions: bool = True) -> dict[str, Any]:
        return {"name_emotions": name_emotions}

    def prior_path(self) -> Path:
        return self.folder / "facs-smoke.pt"


@pytest.fixture
def calls(monkeypatch) -> list[dict[str, Any]]:
    """Record `ensure_prior` calls instead of pretraining; each card names the corpus of its call."""
    seen: list[dict[str, Any]] = []

    def ensure_prior(config, checkpoint, progress=False, corpus_dir=None):
        seen.append({"config": config, "checkpoint": checkpoint, "corpus_dir": corpus_dir})
        return {"corpus": {"folder": f"corpus-of-{Path(checkpoint).stem}"}}

    monkeypatch.setattr(fervlm.experiments.priors, "ensure_prior", ensure_prior)
    return seen


def test_the_au_only_twin_shares_the_corpus_and_drops_emotion_names(tmp_path, calls) -> None:
    paths, cards = build_priors(_Spec(tmp_path))
    assert paths == {
        "FACS prior": tmp_path / "facs-smoke.pt",
        "AU-only captions": tmp_path / "facs-smoke-au-only.pt",
    }
    assert [c["config"]["name_emotions"] for c in calls] == [True, False]
    assert [c["checkpoint"] for c in calls] == list(paths.values())
    # The twin is trained on the main prior's corpus: only the captions differ.
    assert calls[1]["corpus_dir"] == cards["FACS prior"]["corpus"]["folder"] == "corpus-of-facs-smoke"
    assert set(cards) == set(paths)


def test_without_the_comparison_only_the_main_prior_is_built(tmp_path, calls) -> None:
    paths, cards = build_priors(_Spec(tmp_path, compare_emotion_names=False))
    assert list(paths) == list(cards) == ["FACS prior"] and len(calls) == 1
