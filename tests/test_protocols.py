"""Every number says its protocol: names in words, results tables, figures (fervlm.protocols)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fervlm.protocols import PROTOCOL_NAMES, protocol_name, run_protocol
from fervlm.runs import aggregate_results
from fervlm.viz.results import benchmark_table, load_paper_results, our_accuracy
from fervlm.viz.training import plot_fold_accuracy, results_table

PAPERS = Path(__file__).resolve().parents[1] / "data" / "paper_results.csv"


def test_protocol_names_say_whether_training_labels_were_used() -> None:
    assert protocol_name("label") == "label prompts (training labels used)"
    assert protocol_name("pseudo") == "label-free (pseudo-label prompts)"
    assert protocol_name("pseudo", "multiviewvlm") == PROTOCOL_NAMES["pseudo"]
    assert protocol_name("label", "zeroshot") == "zero-shot (no training)"
    assert protocol_name("label", "linearprobe") == "linear probe (training labels used)"
    assert protocol_name(None) == "protocol unknown" and protocol_name("other") == "prompt_source=other"


def _write(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload))


def test_results_csv_and_the_tables_keep_label_and_label_free_runs_apart(tmp_path: Path) -> None:
    profile = tmp_path / "quick"
    item = profile / "03_multiviewvlm" / "synthetic_bu3dfe" / "multiviewvlm"
    (item / "config.yaml").parent.mkdir(parents=True)
    (item / "config.yaml").write_text("dataset: synthetic_bu3dfe\nmethod: multiviewvlm\n")
    for source, acc in (("label", 0.6), ("pseudo", 0.2)):
        common = {"dataset": "synthetic_bu3dfe", "method": "multiviewvlm", "prompt_source": source}
        _write(item / source / "fold-00" / "metrics.json", {**common, "fold": 0, "accuracy": acc})
        summary = {**common, "n_folds": 1, "accuracy": {"mean": acc, "std": 0.0}}
        _write(item / source / "summary.json", summary)
        _write(
            item / source / "fold-00" / "config.json",
            {"config": {"method": "multiviewvlm", "prompt_source": source}},
        )
    table = aggregate_results(profile)
    assert "prompt_source" in table.columns
    assert set(table.loc[table["fold"] == "0", "prompt_source"]) == {"label", "pseudo"}
    ours = our_accuracy(table)
    assert sorted(ours["protocol"]) == [PROTOCOL_NAMES["label"], PROTOCOL_NAMES["pseudo"]]
    assert sorted(ours["accuracy"]) == pytest.approx([20.0, 60.0])  # never averaged across protocols
    paper = benchmark_table(load_paper_results(PAPERS), ours, "bu3dfe_I")
    mine = paper[paper["source"].str.startswith("this repo")]
    assert set(mine["supervision"]) == {PROTOCOL_NAMES["label"], PROTOCOL_NAMES["pseudo"]}
    runs = {s: item / s for s in ("label", "pseudo")}
    assert list(results_table(runs)["protocol"]) == [PROTOCOL_NAMES["label"], PROTOCOL_NAMES["pseudo"]]
    assert run_protocol(item / "pseudo" / "fold-00") == "multiviewvlm, label-free (pseudo-label prompts)"
    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        run_protocol(item)


def test_fold_accuracy_legend_names_the_protocol() -> None:
    runs = {
        "label": [{"fold": 0, "accuracy": 0.6, "method": "multiviewvlm", "prompt_source": "label"}],
        "pseudo": [{"fold": 0, "accuracy": 0.2, "method": "multiviewvlm", "prompt_source": "pseudo"}],
    }
    fig = plot_fold_accuracy(runs)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == [
        f"label: {PROTOCOL_NAMES['label']} (mean 0.600)",
        f"pseudo: {PROTOCOL_NAMES['pseudo']} (mean 0.200)",
    ]
