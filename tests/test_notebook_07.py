"""Notebook 07 (Grad-CAM + pointing game): helpers, and a papermill run at smoke size."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import papermill as pm
import pytest

from fervlm.explain import ExplainConfig, active_region_mask, resize_nearest
from fervlm.synth import AU_NAMES

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "07_explainability.ipynb"


def test_active_region_mask_keeps_only_the_emotions_core_aus() -> None:
    au12, au25, au4 = (1 << AU_NAMES.index(a) for a in ("AU12", "AU25", "AU4"))
    bits = np.array([[0, au12, au25], [au4, au12 | au25, au4 | au25]])
    expected = np.array([[False, True, False], [False, True, False]])
    np.testing.assert_array_equal(active_region_mask(bits, "happiness"), expected)  # AU6 + AU12
    with pytest.raises(ValueError, match="no AU prototype"):
        active_region_mask(bits, "boredom")


def test_resize_nearest_keeps_labels() -> None:
    labels = np.arange(16).reshape(4, 4)
    up = resize_nearest(labels, 8)
    np.testing.assert_array_equal(up[::2, ::2], labels)
    assert set(np.unique(resize_nearest(labels, 2))) <= set(range(16))


def test_config_rejects_real_data_and_picks_the_first_fold() -> None:
    with pytest.raises(ValueError, match="AU masks"):
        ExplainConfig(dataset="bu3dfe_I")
    assert ExplainConfig(run_folds=[3, 1], k_folds=5).fold == 3
    assert ExplainConfig(run_folds="all").fold == 0
    assert ExplainConfig().train_config("fervlm-tiny-rn").image_size is None  # the tower's own size


def test_tower_weights_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`facs`: each architecture's own prior, or random weights where none is built; all else as given."""
    from fervlm.pretrain import prior_path

    monkeypatch.setenv("FERVLM_WEIGHTS", str(tmp_path))
    prior_path("fervlm-tiny-rn").write_bytes(b"")  # only the ResNet has a prior here
    cfg = ExplainConfig(vit_backbone="fervlm-tiny", resnet_backbone="fervlm-tiny-rn", weights="facs")
    assert cfg.tower_weights("fervlm-tiny-rn") == "facs"
    assert cfg.tower_weights("fervlm-tiny") == "none"
    assert cfg.towers == {"vit": "fervlm-tiny (weights none)", "resnet": "fervlm-tiny-rn (weights facs)"}
    prior_path("fervlm-tiny").write_bytes(b"")  # a ViT prior, once built, is used the same way
    assert cfg.tower_weights("fervlm-tiny") == "facs"
    other = ExplainConfig(weights="some/file.pt")
    assert {other.tower_weights(b) for b in other.backbones.values()} == {"some/file.pt"}


@pytest.mark.slow
def test_notebook_runs_at_smoke_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FERVLM_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    pm.execute_notebook(
        str(NOTEBOOK),
        str(tmp_path / "07.ipynb"),
        parameters={
            "output_dir": str(out),
            "dataset_root": str(tmp_path / "bu3dfe"),
            "synthetic_subjects": 4,
            "image_size": 64,
            "vit_backbone": "fervlm-tiny",
            "epochs": 1,
            "k_folds": 2,
            "run_folds": [0],
            "n_show": 2,
            "batch_size": 8,
        },
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    for name in ("gradcam_vit.png", "gradcam_resnet.png", "pointing_game.png"):
        assert (out / name).stat().st_size > 0, name
    metrics = json.loads((out / "metrics.json").read_text())
    for kind in ("vit", "resnet"):
        assert 0.0 <= metrics[kind]["pointing_game"] <= 1.0
        assert 0.0 < metrics[kind]["random_image"] < metrics[kind]["random_face"] < 1.0
        assert set(metrics[kind]["per_view"]) == {"view_-30", "view_0", "view_30"}
    assert (out / "vit" / "fold-00" / "metrics.json").is_file()
