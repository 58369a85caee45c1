"""fervlm.experiments: the one synthetic-vs-real rule, and every label of a number follows it."""

from __future__ import annotations

from fervlm.datasets.registry import data_kind
from fervlm.experiments import DATASETS, is_synthetic
from fervlm.viz.results import data_label


def test_the_registry_decides_what_is_synthetic():
    for name, spec in DATASETS.items():
        assert is_synthetic(name) is (spec.synthetic_layout is not None), name
    # The registry names its generated datasets honestly, so a reader of a results table can trust them.
    assert {n for n in DATASETS if is_synthetic(n)} == {n for n in DATASETS if n.startswith("synthetic_")}
    assert is_synthetic("synthetic_bu3dfe") and not is_synthetic("bu3dfe_I")


def test_a_name_outside_the_registry_is_not_fervlm_generated_data_whatever_its_spelling():
    assert not is_synthetic("toy")
    assert not is_synthetic("synthetic_my_scans")  # a user's own table: the spelling decides nothing


def test_metrics_and_results_tables_label_every_dataset_by_the_same_rule():
    for name in DATASETS:
        synthetic = is_synthetic(name)
        assert data_kind(name) == ("synthetic" if synthetic else "real"), name
        assert ("synthetic, NOT the benchmark" in data_label(name)) is synthetic, name
    assert data_kind(["synthetic_bu4dfe", "bp4d"]) == "real" and data_kind([]) == ""
