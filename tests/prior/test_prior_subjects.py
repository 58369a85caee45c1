"""Changing a profile's `synthetic_subjects` regenerates the synthetic dataset (the quick profile's count grew
with the FACS prior); it must not silently keep the old subjects."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fervlm.experiments import ensure_dataset


def _subjects(root: Path) -> list[str]:
    return pd.read_csv(root / "subjects.csv", dtype=str)["subject"].tolist()


def test_subject_count_change_regenerates(tmp_path: Path) -> None:
    root = tmp_path / "bu3dfe"
    ensure_dataset("synthetic_bu3dfe", root, subjects=2, seed=0)
    first = _subjects(root)
    probe = next((root / first[0]).glob("*.wrl"))
    before = probe.read_bytes()
    ensure_dataset("synthetic_bu3dfe", root, subjects=3, seed=0)
    assert _subjects(root)[:2] == first and len(_subjects(root)) == 3
    assert probe.read_bytes() == before  # kept subjects are the same faces
    ensure_dataset("synthetic_bu3dfe", root, subjects=1, seed=0)
    assert _subjects(root) == first[:1]
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == first[:1]
    ensure_dataset("synthetic_bu3dfe", root, subjects=None, seed=0)  # None: whatever is there
    assert _subjects(root) == first[:1]
