"""Notebook 09 (results beside the papers): table helpers, and papermill runs on a hand-made and a missing
results.csv."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import papermill as pm
import pytest

from fervlm.viz.results import benchmark_of, benchmark_table, data_label, load_paper_results, our_accuracy

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "09_results.ipynb"
PAPERS = REPO / "data" / "paper_results.csv"


def _hand_made() -> pd.DataFrame:
    rows = [
        ("03_affectvlm", "synthetic_bu3dfe", "affectvlm", "", "0", 0.50),
        ("03_affectvlm", "synthetic_bu3dfe", "affectvlm", "", "1", 0.70),
        ("03_affectvlm", "synthetic_bu3dfe", "affectvlm", "", "summary", None),
        ("04_multiviewvlm", "bu4dfe", "multiviewvlm", "pseudo", "0", 0.90),
    ]
    columns = ["notebook", "dataset", "method", "variant", "fold", "accuracy"]
    return pd.DataFrame(rows, columns=columns).assign(profile="quick", data_kind="")


def test_synthetic_rows_are_labelled_and_sit_beside_the_papers() -> None:
    ours = our_accuracy(_hand_made())
    row = ours[ours["dataset"] == "synthetic_bu3dfe"].iloc[0]
    assert row["accuracy"] == pytest.approx(60.0) and row["std"] == pytest.approx(10.0)
    assert row["n_folds"] == 2
    assert row["benchmark"] == "bu3dfe_I"
    table = benchmark_table(load_paper_results(PAPERS), ours, "bu3dfe_I")
    reported = table[~table["source"].str.startswith("this repo")]
    assert {"AffectVLM (Ours)", "MultiviewVLM (Ours)", "SMILE-VLM (Ours)"} <= set(reported["method"])
    assert 92.63 in set(reported["accuracy"])  # AffectVLM Table II, as printed
    mine = table[table["source"].str.startswith("this repo")]
    assert len(mine) == 1 and "NOT the benchmark" in mine["data"].iloc[0]
    assert "synthetic" in mine["data"].iloc[0]
    real = benchmark_table(load_paper_results(PAPERS), ours, "bu4dfe")
    assert real["data"].iloc[-1].endswith("(the benchmark)") and real["method"].iloc[-1].endswith("(ours)")


def test_dataset_mapping() -> None:
    assert benchmark_of("synthetic_bu3dfe") == "bu3dfe_I"
    assert benchmark_of("synthetic_bu3dfe_II") == "bu3dfe_II"
    assert benchmark_of("synthetic_bp4d", "06_cross_dataset") == "bp4d_cross"
    assert benchmark_of("synthetic_4dme") == "4dme"
    assert benchmark_of("not-a-dataset") is None
    assert "NOT the benchmark" in data_label("synthetic_bosphorus")
    assert our_accuracy(pd.DataFrame()).empty


def _run(tmp_path: Path, results_csv: Path) -> tuple[Path, str]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    out = tmp_path / "out"
    pm.execute_notebook(
        str(NOTEBOOK),
        str(tmp_path / "09.ipynb"),
        parameters={"output_dir": str(out), "results_csv": str(results_csv), "paper_csv": str(PAPERS)},
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    return out, (tmp_path / "09.ipynb").read_text()


@pytest.mark.slow
def test_notebook_on_hand_made_and_missing_results(tmp_path: Path) -> None:
    results = tmp_path / "outputs" / "quick" / "results.csv"
    results.parent.mkdir(parents=True)
    pixels = pd.DataFrame(
        {
            "notebook": "02_affectvlm",
            "dataset": "synthetic_bu3dfe",
            "method": "pixels",
            "variant": "pixels",
            "fold": ["0", "1"],
            "accuracy": [0.80, 0.60],
            "profile": "quick",
            "data_kind": "",
        }
    )
    pd.concat([_hand_made(), pixels]).to_csv(results, index=False)
    out, text = _run(tmp_path / "a", results)
    versus = pd.read_csv(out / "versus_pixels.csv")  # affectvlm paired with the pixels run of notebook 02
    assert len(versus) == 1 and versus.loc[0, "method"] == "affectvlm" and versus.loc[0, "n_folds"] == 2
    assert versus.loc[0, "mean_diff"] == pytest.approx(-0.10) and not versus.loc[0, "beats"]
    assert "synthetic_bu3dfe: no method beats the pixels baseline" in text
    table = pd.read_csv(out / "table_bu3dfe_I.csv")
    assert "NOT the benchmark" in " ".join(table["data"]) and 92.63 in set(table["accuracy"])
    assert "UMAP skipped" in text
    out, text = _run(tmp_path / "b", tmp_path / "nowhere" / "results.csv")
    assert "missing" in text and "papers' numbers alone" in text
    assert len(pd.read_csv(out / "table_bosphorus.csv")) == 16  # the papers' rows only
