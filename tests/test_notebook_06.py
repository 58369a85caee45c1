"""Notebook 06 (distributed timing) is clean and runs with papermill at smoke size."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pandas as pd
import papermill as pm
import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "06_distributed_timing.ipynb"


def test_source_notebook_is_clean_and_parameterised() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    for name in (
        "profile: str",
        "dataset: str",
        "dataset_root: str",
        "method: str",
        "devices_list: list",
        "batch_sizes: list",
        "epochs: int",
        "accelerator: str",
        "output_dir: str",
    ):
        assert name in tagged[0].source


def test_config_rejects_bad_values() -> None:
    from fervlm.viz.timing import TimingNotebookConfig

    with pytest.raises(ValueError, match="epochs"):
        TimingNotebookConfig(epochs=1)
    with pytest.raises(ValueError, match="zeroshot"):
        TimingNotebookConfig(method="zeroshot")
    with pytest.raises(ValueError, match="devices_list"):
        TimingNotebookConfig(devices_list=[0])


@pytest.mark.slow
def test_notebook_runs_with_papermill(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FERVLM_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    pm.execute_notebook(
        str(NOTEBOOK),
        str(tmp_path / "06.ipynb"),
        parameters={
            "devices_list": [1],
            "batch_sizes": [8],
            "epochs": 2,
            "backbone": "fervlm-tiny",
            "synthetic_subjects": 4,
            "image_size": 32,
            "dataset_root": str(tmp_path / "raw"),
            "output_dir": str(out),
        },
        kernel_name="python3",
        cwd=str(Path(__file__).resolve().parents[1]),
        progress_bar=False,
    )
    for name in ("epoch_time.png", "speedup.png", "timings.csv", "timings.json"):
        assert (out / name).stat().st_size > 0, name
    table = pd.read_csv(out / "timings.csv")
    assert table["status"].tolist() == ["ok"] and table["epoch_time_s"].iloc[0] > 0
    assert json.loads((out / "timings.json").read_text())["hardware"]["cpu_cores_usable"] >= 1
    executed = json.loads((tmp_path / "06.ipynb").read_text())
    text = "".join("".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", []))
    assert "not the papers' benchmark results" in text
