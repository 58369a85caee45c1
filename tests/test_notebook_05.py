"""Notebook 05 (ablations): the plan, the tables, and a papermill run at smoke size."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import papermill as pm
import pytest

from fervlm.ablations import ablation_plan, variant_group
from fervlm.evaluate import read_metrics
from fervlm.methods.config import LOSS_TERMS, load_config
from fervlm.viz.ablations import QUICK_VARIANTS, AblationsConfig, ablation_table

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


def test_config_validation_and_profile_variants() -> None:
    assert AblationsConfig().variants_to_run == list(QUICK_VARIANTS)
    assert AblationsConfig(profile="paper").variants_to_run == []
    assert AblationsConfig(variants="all").variants_to_run == []
    with pytest.raises(ValueError, match="methods"):
        AblationsConfig(methods=["zeroshot"])
    with pytest.raises(ValueError, match="variants"):
        AblationsConfig(variants="some")


@pytest.mark.slow
def test_notebook_runs_at_smoke_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
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
    for name in ("ablation_deltas.png", "ablation_heatmap.png", "ablations.csv", "ablation_table.csv"):
        assert (out / name).stat().st_size > 0, name
    results = pd.read_csv(out / "ablations.csv")
    assert list(results["variant"]) == ["full", "no-mc", "front"]
    for variant in results["variant"]:
        assert (out / "affectvlm" / variant / "fold-00" / "metrics.json").is_file()
    assert results["accuracy"].between(0, 1).all() and results.loc[0, "delta_accuracy"] == 0
    versus = pd.read_csv(out / "versus_pixels.csv")  # every variant against the pixel baseline, same fold
    assert list(versus["run"]) == [f"affectvlm/{v}" for v in results["variant"]]
    pixels = read_metrics(out / "pixels" / "fold-00" / "metrics.json")["accuracy"]
    assert versus["mean_diff"].to_numpy() == pytest.approx(results["accuracy"].to_numpy() - pixels)
    assert elapsed < 300  # ~1 min on an idle 2-core machine; headroom for a loaded test run
