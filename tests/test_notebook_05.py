"""Notebook 05 (ablations): the plan, the tables, and a papermill run at smoke size."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import papermill as pm
import pytest

from fervlm.ablations import ablation_plan, read_ablations, variant_group
from fervlm.evaluate import read_metrics
from fervlm.methods.config import LOSS_TERMS, load_config
from fervlm.viz.ablations import (
    GROUP_COLOURS,
    QUICK_VARIANTS,
    AblationsConfig,
    ablation_table,
    plot_ablation_deltas,
    plot_ablation_heatmap,
)

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "05_ablations.ipynb"


def test_plan_removes_each_active_term_once_and_every_variant_is_a_valid_config() -> None:
    for method in ("affectvlm", "multiviewvlm", "smilevlm"):
        base = load_config(method=method, views=["left", "front", "right"])
        plan = dict(ablation_plan(method, base))
        assert next(iter(plan)) == "full" and plan["full"] == {}
        assert {f"no-{t}" for t in LOSS_TERMS[method]} <= set(plan)
        assert {"left", "front", "right", "same-aug", "no-aug"} <= set(plan)
        for name, overrides in plan.items():
            variant = base.replace(**overrides)  # validates
            assert (variant == base) == (name == "full"), name
    assert "pseudo-prompts" not in dict(ablation_plan("affectvlm"))  # supervised: label prompts only
    assert "no-metadata" in dict(ablation_plan("affectvlm"))
    assert "no-metadata" not in dict(ablation_plan("smilevlm"))


def test_plan_skips_variants_equal_to_the_full_model() -> None:
    quick = load_config(profile="quick", method="affectvlm")  # lambda_mt = 0 in the quick profile
    assert "no-mt" not in dict(ablation_plan("affectvlm", quick))
    single = load_config(method="smilevlm", views=["front"], augment="same", prompt_source="pseudo")
    names = [n for n, _ in ablation_plan("smilevlm", single)]
    assert names == ["full", "no-bt", "no-align", "no-red", "class-align", "label-prompts"]
    with pytest.raises(ValueError, match="trained method"):
        ablation_plan("zeroshot")
    with pytest.raises(ValueError, match="not 'smilevlm'"):
        ablation_plan("smilevlm", quick)
    names = ("full", "no-mc", "no-metadata", "same-aug", "front", "fixed-margin")
    assert [variant_group(v) for v in names] == [
        "full",
        "loss",
        "prompts",
        "augmentation",
        "views",
        "objective",
    ]


def test_plan_switches_each_papers_objective_form_to_the_other_value() -> None:
    expected = {
        "affectvlm": ("fixed-margin", {"margin_mode": "fixed"}),
        "multiviewvlm": ("sample-targets", {"con_targets": "sample"}),
        "smilevlm": ("class-align", {"align_targets": "class"}),
    }
    for method, (name, overrides) in expected.items():
        base = load_config(profile="quick", method=method)
        plan = dict(ablation_plan(method, base))
        assert plan[name] == overrides and variant_group(name) == "objective"
        key = next(iter(overrides))
        other = dict(ablation_plan(method, base.replace(**overrides)))
        assert other[next(n for n in other if variant_group(n) == "objective")] == {key: getattr(base, key)}
    # The margin only acts through L_mc and L_mt: with both off there is nothing to vary.
    no_margin = load_config(method="affectvlm", disabled_losses=["mc", "mt"])
    assert "fixed-margin" not in dict(ablation_plan("affectvlm", no_margin))


def test_margin_dynamics_figure_reads_alpha_per_epoch(tmp_path: Path) -> None:
    from fervlm.viz.ablations import plot_margin_dynamics

    for variant, alphas in (("full", [0.25, 0.3, 0.4]), ("fixed-margin", [0.2, 0.2, 0.2])):
        run = tmp_path / "affectvlm" / variant / "fold-00"
        run.mkdir(parents=True)
        pd.DataFrame({"epoch": [0, 1, 2], "alpha": alphas}).to_csv(run / "history.csv", index=False)
    fig = plot_margin_dynamics(tmp_path / "affectvlm", 0)
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["full", "fixed-margin"]
    assert list(lines[0].get_ydata()) == [0.25, 0.3, 0.4]
    assert "label prompts" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match="alpha"):
        plot_margin_dynamics(tmp_path / "affectvlm", 1)


def test_read_ablations_gives_each_variant_its_difference_to_the_full_model(tmp_path: Path) -> None:
    """Smoke-size runs all sit at chance (every delta 0): the notebook run cannot check deltas; this can."""
    import json

    def summary(method: str, variant: str, accuracy: float, walls: list[float]) -> None:
        folder = tmp_path / method / variant
        folder.mkdir(parents=True)
        payload = {
            "accuracy": {"mean": accuracy, "std": 0.01},
            "macro_f1": {"mean": accuracy / 2, "std": 0.02},
            "n_folds": len(walls),
            "wall_time_s": {"values": walls},
        }
        (folder / "summary.json").write_text(json.dumps(payload))

    summary("affectvlm", "front", 0.6, [1.0, 2.0])
    summary("affectvlm", "no-mc", 0.25, [3.0, 4.0])
    summary("affectvlm", "full", 0.5, [5.0, 6.0])
    summary("smilevlm", "no-bt", 0.3, [7.0])  # its full run is missing
    table = read_ablations(tmp_path, ["affectvlm", "smilevlm"])
    assert list(zip(table["method"], table["variant"], strict=True)) == [
        ("affectvlm", "full"),  # plan order, not the order the folders were written
        ("affectvlm", "no-mc"),
        ("affectvlm", "front"),
        ("smilevlm", "no-bt"),
    ]
    assert table["accuracy"].tolist() == [0.5, 0.25, 0.6, 0.3]
    assert table["delta_accuracy"].iloc[:3].tolist() == pytest.approx([0.0, -0.25, 0.1])
    assert np.isnan(table["delta_accuracy"].iloc[3])
    assert table["wall_time_s"].tolist() == [11.0, 7.0, 3.0, 7.0]  # summed over folds
    assert table["n_folds"].tolist() == [2, 2, 2, 1]
    assert table["group"].tolist() == ["full", "loss", "views", "loss"]


def test_ablation_table_shows_accuracy_and_difference_in_percent() -> None:
    results = pd.DataFrame(
        {
            "method": ["affectvlm", "affectvlm", "smilevlm"],
            "variant": ["full", "no-mc", "full"],
            "accuracy": [0.5, 0.25, 0.4],
            "delta_accuracy": [0.0, -0.25, 0.0],
        }
    )
    table = ablation_table(results)
    assert table.loc["affectvlm", "no-mc"] == "25.0 (-25.0)"
    assert table.loc["smilevlm", "full"] == "40.0" and table.loc["smilevlm", "no-mc"] == "–"


ABLATIONS = pd.DataFrame(
    {
        "method": ["affectvlm", "affectvlm", "affectvlm", "smilevlm", "smilevlm"],
        "variant": ["full", "no-mc", "front", "full", "no-bt"],
        "group": ["full", "loss", "views", "full", "loss"],
        "accuracy": [0.5, 0.25, 0.55, 0.4, 0.3],
        "delta_accuracy": [0.0, -0.25, 0.05, 0.0, -0.1],
    }
)


def test_delta_figure_has_a_panel_per_method_with_the_variants_deltas() -> None:
    from matplotlib.colors import to_hex

    fig = plot_ablation_deltas(ABLATIONS)
    assert [ax.get_title() for ax in fig.axes] == ["affectvlm (full 50.0%)", "smilevlm (full 40.0%)"]
    bars = [[p for p in ax.patches] for ax in fig.axes]
    assert [p.get_height() for p in bars[0]] == pytest.approx([-25.0, 5.0])  # percentage points, no full
    assert [p.get_height() for p in bars[1]] == pytest.approx([-10.0])
    assert [to_hex(p.get_facecolor()) for p in bars[0]] == [GROUP_COLOURS["loss"], GROUP_COLOURS["views"]]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["no-mc", "front"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [g for g in GROUP_COLOURS if g != "full"]


def test_heatmap_shows_methods_by_variants_with_blanks_for_runs_not_made() -> None:
    fig = plot_ablation_heatmap(ABLATIONS)
    ax = fig.axes[0]
    grid = ax.images[0].get_array()
    expected = np.array([[0.0, -25.0, 5.0, np.nan], [0.0, np.nan, np.nan, -10.0]])
    np.testing.assert_allclose(grid.filled(np.nan), expected)
    assert grid.mask.tolist() == np.isnan(expected).tolist()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["full", "no-mc", "front", "no-bt"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["affectvlm", "smilevlm"]
    assert [t.get_text() for t in ax.texts] == ["+0.0", "-25.0", "+5.0", "+0.0", "-10.0"]
    assert ax.images[0].get_clim() == (-25.0, 25.0)  # symmetric around 0: the largest |Δ|


def test_config_validation_and_profile_variants() -> None:
    assert AblationsConfig().variants_to_run == list(QUICK_VARIANTS)
    assert AblationsConfig(profile="paper").variants_to_run == []
    assert AblationsConfig(variants="all").variants_to_run == []
    with pytest.raises(ValueError, match="methods"):
        AblationsConfig(methods=["zeroshot"])
    with pytest.raises(ValueError, match="variants"):
        AblationsConfig(variants="some")


@pytest.mark.slow
def test_notebook_runs_at_smoke_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, same_figure) -> None:
    monkeypatch.setenv("FERVLM_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    start = time.perf_counter()
    pm.execute_notebook(
        str(NOTEBOOK),
        str(tmp_path / "05.ipynb"),
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
        parameters=dict(
            output_dir=str(out),
            dataset_root=str(tmp_path / "bu3dfe"),
            synthetic_subjects=4,
            image_size=32,
            epochs=1,
            k_folds=2,
            run_folds=[0],
            backbone="fervlm-tiny",
            batch_size=8,
            methods=["affectvlm"],
            variants=["no-mc", "front"],
        ),
    )
    elapsed = time.perf_counter() - start
    results = pd.read_csv(out / "ablations.csv")
    assert list(results["variant"]) == ["full", "no-mc", "front"]
    # One fold: each variant's accuracy is its fold's, its delta the difference to the full model's.
    fold_accuracy = [
        read_metrics(out / "affectvlm" / v / "fold-00" / "metrics.json")["accuracy"]
        for v in results["variant"]
    ]
    assert results["accuracy"].tolist() == pytest.approx(fold_accuracy)
    assert results["delta_accuracy"].tolist() == pytest.approx([a - fold_accuracy[0] for a in fold_accuracy])
    # The saved table and figures are the package's rendering of ablations.csv.
    saved = pd.read_csv(out / "ablation_table.csv", index_col="method", dtype=str)
    assert saved.to_dict() == ablation_table(results).to_dict()
    same_figure(out / "ablation_deltas.png", plot_ablation_deltas(results))
    same_figure(out / "ablation_heatmap.png", plot_ablation_heatmap(results))
    versus = pd.read_csv(out / "versus_pixels.csv")  # every variant against the pixel baseline, same fold
    assert list(versus["run"]) == [f"affectvlm/{v}" for v in results["variant"]]
    pixels = read_metrics(out / "pixels" / "fold-00" / "metrics.json")["accuracy"]
    assert versus["mean_diff"].to_numpy() == pytest.approx(results["accuracy"].to_numpy() - pixels)
    assert elapsed < 300  # ~1 min on an idle 2-core machine; headroom for a loaded test run
