"""Notebook 06 (distributed timing) is clean and runs with papermill at smoke size."""

from __future__ import annotations

import json
import os
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


TIMINGS = pd.DataFrame(
    {
        "devices": [1, 2, 1, 2, 4],
        "batch_size": [8, 8, 16, 16, 16],
        "epoch_time_s": [10.0, 6.0, 8.0, 5.0, 4.0],
        "epoch_time_min_s": [9.0, 5.5, 7.0, 5.0, 3.0],
        "epoch_time_max_s": [12.0, 6.0, 8.5, 6.0, 4.5],
        "speedup": [1.0, 10 / 6, 1.0, 1.6, 2.0],
        "status": ["ok", "ok", "ok", "ok", "failed: x"],
    }
)


def test_epoch_time_figure_plots_each_batch_size_against_devices() -> None:
    from fervlm.viz.timing import epoch_time_figure

    ax = epoch_time_figure(TIMINGS, title="t").axes[0]
    assert ax.get_title() == "t" and [t.get_text() for t in ax.get_legend().get_texts()] == [
        "batch 8",
        "batch 16",
    ]
    lines = [c.lines[0] for c in ax.containers]  # one errorbar per batch size; the failed run is left out
    assert [list(line.get_xdata()) for line in lines] == [[1, 2], [1, 2]]
    assert [list(line.get_ydata()) for line in lines] == [[10.0, 6.0], [8.0, 5.0]]
    bars = ax.containers[0].lines[2][0].get_segments()  # min..max of every point
    assert [tuple(seg[:, 1]) for seg in bars] == [(9.0, 12.0), (5.5, 6.0)]


def test_speedup_figure_plots_the_ideal_line_and_each_batch_size() -> None:
    from fervlm.viz.timing import speedup_figure

    ax = speedup_figure(TIMINGS).axes[0]
    ideal, b8, b16 = ax.get_lines()
    assert list(ideal.get_xdata()) == [1, 2] and list(ideal.get_ydata()) == [1, 2]
    assert list(b8.get_ydata()) == pytest.approx([1.0, 10 / 6]) and list(b16.get_ydata()) == [1.0, 1.6]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["ideal (linear)", "batch 8", "batch 16"]


@pytest.mark.slow
def test_notebook_runs_with_papermill(tmp_path, monkeypatch, png_with_colours) -> None:
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
    table = pd.read_csv(out / "timings.csv")
    assert table["status"].tolist() == ["ok"]
    # The table's epoch time is the second (timed) epoch the run recorded; the hardware is this machine's.
    recorded = json.loads((out / "runs" / "d1-b8" / "times.json").read_text())["epoch_times_s"]
    assert len(recorded) == 2 and table["epoch_time_s"].iloc[0] == pytest.approx(recorded[1])
    hardware = json.loads((out / "timings.json").read_text())["hardware"]
    assert hardware["cpu_cores_usable"] == len(os.sched_getaffinity(0))
    # Both figures: one batch-size line in the first colour of the cycle (#1f77b4).
    png_with_colours(out / "epoch_time.png", ["#1f77b4"])
    png_with_colours(out / "speedup.png", ["#1f77b4"])
    executed = json.loads((tmp_path / "06.ipynb").read_text())
    text = "".join("".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", []))
    assert "not the papers' benchmark results" in text
