"""Notebook 10 (the FACS prior) runs top to bottom with papermill at smoke size and writes its figures."""

from __future__ import annotations

from pathlib import Path

import papermill as pm
import pytest

from fervlm.notebook import validate_params
from fervlm.viz.prior import PriorNotebookConfig, metrics_table

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "10_facs_prior.ipynb"


def test_parameters_are_the_config_fields_and_profile_names() -> None:
    declared = set(pm.inspect_notebook(str(NOTEBOOK)))
    assert declared <= set(PriorNotebookConfig.__dataclass_fields__)
    # The sweep passes these from the profile (fervlm.runs): the quick prior, evaluated on the quick data.
    assert {
        "profile",
        "dataset",
        "dataset_root",
        "backbone",
        "image_size",
        "views",
        "synthetic_subjects",
        "seed",
        "output_dir",
    } <= declared


def test_config_checks_and_paths(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="prior_preset"):
        PriorNotebookConfig(prior_preset="large")
    cfg = validate_params(PriorNotebookConfig, prior_preset="smoke", output_dir=str(tmp_path))
    assert cfg.prior_path() == tmp_path / "facs-smoke.pt"
    held = cfg.held_out_corpus_config()
    train = cfg.pretrain_config().corpus
    assert held.first_identity == train.first_identity + train.identities  # new people
    assert not cfg.pretrain_config(name_emotions=False).captions.name_emotions
    table = metrics_table({"a": {"accuracy": 0.5, "classes": ["x"]}, "b": {"accuracy": 0.25, "classes": []}})
    assert list(table.columns) == ["accuracy"] and table.loc["b", "accuracy"] == 0.25


@pytest.mark.slow
def test_notebook_runs_at_smoke_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FERVLM_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    pm.execute_notebook(
        str(NOTEBOOK),
        str(tmp_path / "10.ipynb"),
        parameters={
            "output_dir": str(out),
            "prior_preset": "smoke",
            "dataset_root": str(tmp_path / "bu3dfe"),
            "synthetic_subjects": 2,
            "image_size": 32,
            "held_out_identities": 2,
        },
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    for name in (
        "corpus_captions",
        "pretraining_curve",
        "retrieval_examples",
        "zero_shot_confusion",
        "au_detection",
    ):
        assert (out / f"{name}.png").stat().st_size > 0, name
    assert (out / "facs-smoke.pt").is_file() and (out / "facs-smoke-au-only.pt").is_file()
