"""Notebook 07 (Grad-CAM + pointing game): helpers, and a papermill run at smoke size."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import papermill as pm
import pytest

from fervlm.experiments.explain import ExplainConfig
from fervlm.explain import ExplainSet, active_region_mask, pointing_table, resize_nearest
from fervlm.synth import AU_NAMES
from fervlm.viz.explain import _REGION_COLOURS, cam_figure, pointing_bar_chart

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


def _entry(hit: float, image: float, face: float, n: int) -> dict:
    return {
        "pointing_game": {"hit_rate": hit, "n_evaluated": n, "n_tied": 0},
        "random_baseline": {"hit_rate": image},
        "random_face": {"hit_rate": face},
        "ratio": hit / image,
    }


def test_pointing_table_and_chart_show_each_backbone_and_view_beside_the_baselines() -> None:
    reports = {
        "vit": {"view_-30": _entry(0.5, 0.1, 0.2, 4), "overall": _entry(0.25, 0.1, 0.2, 8)},
        "resnet": {"overall": _entry(0.75, 0.1, 0.3, 8)},
    }
    table = pointing_table(reports)
    assert list(zip(table["backbone"], table["views"], strict=True)) == [
        ("vit", "-30"),
        ("vit", "overall"),
        ("resnet", "overall"),
    ]
    assert table["hit_rate"].tolist() == [0.5, 0.25, 0.75] and table["n_maps"].tolist() == [4, 8, 8]
    assert table["ratio_to_image_baseline"].tolist() == pytest.approx([5.0, 2.5, 7.5])
    fig = pointing_bar_chart(table)
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    # Three series of three bars: Grad-CAM, random map (image), random map (face pixels).
    assert heights == pytest.approx([0.5, 0.25, 0.75, 0.1, 0.1, 0.1, 0.2, 0.2, 0.3])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "Grad-CAM maximum",
        "random map (image)",
        "random map (face pixels)",
    ]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["vit\n-30", "vit\noverall", "resnet\noverall"]


def test_cam_figure_marks_each_maps_maximum_and_outlines_the_active_regions() -> None:
    import torch

    from fervlm.explain import overlay

    n, views, size = 2, 3, 8
    bits = np.zeros((n, views, size, size), dtype=np.int64)
    bits[:, :, 5:7, 2:6] = 1 << AU_NAMES.index("AU12")  # the mouth of a happy face
    cams = np.zeros((n, views, size, size))
    peaks = {(i, v): (i + v, 7 - v) for i in range(n) for v in range(views)}  # (row, column)
    for (i, v), (y, x) in peaks.items():
        cams[i, v, y, x] = 1.0
    rgb = np.random.default_rng(0).integers(0, 255, (n, views, size, size, 3), dtype=np.uint8)
    data = ExplainSet(
        images=torch.zeros(n, views, 3, size, size),
        rgb=rgb,
        bits=bits,
        masks=bits > 0,
        foreground=np.ones_like(bits, dtype=bool),
        labels=["happiness", "sadness"],
        sample_ids=["a", "b"],
        yaws=[-30.0, 0.0, 30.0],
    )
    fig = cam_figure(data, cams, [1, 0], ["sadness", "happiness"], title="vit")
    axes = np.array(fig.axes).reshape(2, views)  # rows follow `chosen`: sample 1 first
    assert fig.get_suptitle() == "vit"
    assert [ax.get_title() for ax in axes[0]] == ["yaw -30°", "yaw +0°", "yaw +30°"]
    assert [axes[r, 0].get_ylabel() for r in range(2)] == ["sadness\n→ sadness", "happiness\n→ happiness"]
    for r, i in enumerate([1, 0]):
        for v in range(views):
            ax = axes[r, v]
            np.testing.assert_array_equal(ax.images[0].get_array(), overlay(rgb[i, v], cams[i, v], 0.55))
            (marker,) = ax.get_lines()
            assert (marker.get_ydata()[0], marker.get_xdata()[0]) == peaks[(i, v)]
            # Happiness (AU6 + AU12) outlines its mouth; sadness has no AU12 pixels to outline.
            assert bool(ax.collections) == (data.labels[i] == "happiness")


def test_config_rejects_real_data_and_picks_the_first_fold() -> None:
    with pytest.raises(ValueError, match="AU masks"):
        ExplainConfig(dataset="bu3dfe_I")
    assert ExplainConfig(run_folds=[3, 1], k_folds=5).fold == 3
    assert ExplainConfig(run_folds="all").fold == 0
    assert ExplainConfig().train_config("fervlm-tiny-rn").image_size is None  # the tower's own size
    with pytest.raises(ValueError, match="cam="):
        ExplainConfig(cam="scorecam")
    with pytest.raises(ValueError, match="resnet_stage="):
        ExplainConfig(resnet_stage="layer5")
    assert (ExplainConfig().cam, ExplainConfig().resnet_stage) == ("hirescam", "auto")


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
def test_notebook_runs_at_smoke_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, png_with_colours
) -> None:
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
    # Overlays with the four region outlines of the legend; bars in the three series' colours.
    for kind in ("vit", "resnet"):
        png_with_colours(out / f"gradcam_{kind}.png", list(_REGION_COLOURS.values()))
    png_with_colours(out / "pointing_game.png", ["#1f77b4", "#bbbbbb", "#777777"])
    metrics = json.loads((out / "metrics.json").read_text())
    for kind in ("vit", "resnet"):
        hits = metrics[kind]["pointing_game"] * metrics[kind]["n_maps"]
        assert hits == pytest.approx(round(hits)), "a hit rate is hits / maps"
        n_test = json.loads((out / kind / "fold-00" / "metrics.json").read_text())["n_test"]
        assert 0 < metrics[kind]["n_maps"] <= 3 * n_test  # at most one map per view of every test sample
        assert 0.0 < metrics[kind]["random_image"] < metrics[kind]["random_face"] < 1.0
        assert set(metrics[kind]["per_view"]) == {"view_-30", "view_0", "view_30"}
    assert (out / "vit" / "fold-00" / "metrics.json").is_file()
