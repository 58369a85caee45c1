"""The "random prior" ablation: a method that starts from the FACS prior is compared with random towers."""

from __future__ import annotations

from fervlm.ablations import ablation_plan, variant_group
from fervlm.methods.config import load_config
from fervlm.viz.ablations import GROUP_COLOURS, QUICK_VARIANTS


def test_random_prior_variant_only_when_the_full_model_has_a_prior() -> None:
    with_prior = load_config(method="affectvlm", weights="facs")
    plan = dict(ablation_plan("affectvlm", with_prior))
    assert plan["random-prior"] == {"weights": None}
    assert with_prior.replace(**plan["random-prior"]).weights is None
    without = load_config(method="affectvlm", weights="none")
    assert "random-prior" not in dict(ablation_plan("affectvlm", without))
    assert variant_group("random-prior") == "prior" and "prior" in GROUP_COLOURS
    assert "random-prior" in QUICK_VARIANTS
    # The quick profile starts every method from the prior, so its notebook 05 shows the ablation.
    assert "random-prior" in dict(ablation_plan("smilevlm", load_config(profile="quick", method="smilevlm")))


def test_random_prior_requested_without_a_prior_runs_nothing(tmp_path, monkeypatch) -> None:
    import fervlm.train
    from fervlm.ablations import run_ablations

    ran = []
    monkeypatch.setattr(fervlm.train, "run_cv", lambda config, index, out, folds: ran.append(config.weights))
    bases = {"affectvlm": load_config(method="affectvlm", weights="none")}
    run_ablations(bases, tmp_path / "index.csv", tmp_path, [0], variants=["random-prior"])
    assert ran == [None]  # the full model only
    bases = {"affectvlm": load_config(method="affectvlm", weights="facs")}
    run_ablations(bases, tmp_path / "index.csv", tmp_path, [0], variants=["random-prior"])
    assert ran == [None, "facs", None]
