"""A profile with `weights: facs` gets its prior built once by the sweep (and so by `make demo`)."""

from __future__ import annotations

from pathlib import Path

import pytest

import fervlm.pretrain as pretrain_module
from fervlm.runs import Profile, ensure_profile_prior


def test_sweep_builds_a_missing_prior_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FERVLM_WEIGHTS", str(tmp_path))
    calls = []

    def fake_ensure(config, path, progress=True):
        calls.append((config.backbone, Path(path)))
        Path(path).write_bytes(b"weights")
        return {}

    monkeypatch.setattr(pretrain_module, "ensure_prior", fake_ensure)
    profile = Profile(name="p", backbone="fervlm-tiny-rn", weights="facs")
    expected = tmp_path / "facs-fervlm-tiny-rn.pt"
    assert ensure_profile_prior(profile, verbose=False) == expected
    assert ensure_profile_prior(profile, verbose=False) == expected  # reused: built once
    assert calls == [("fervlm-tiny-rn", expected)]
    assert ensure_profile_prior(Profile(name="p", weights="none"), verbose=False) is None
    assert len(calls) == 1
