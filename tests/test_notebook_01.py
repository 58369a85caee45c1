"""Notebook 01 (prompts) runs top to bottom with papermill at the quick size and writes its figures."""

from __future__ import annotations

import json
import time
from pathlib import Path

import nbformat
import papermill as pm
import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01_prompts.ipynb"


def test_source_notebook_is_clean_and_parameterised() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    typed = ("backbone: str", "weights: str", "bank: str", "n_examples: int", "output_dir: str", "seed: int")
    for name in typed:
        assert name in tagged[0].source


@pytest.mark.slow
def test_notebook_runs_with_papermill(tmp_path) -> None:
    out_dir = tmp_path / "figs"
    start = time.perf_counter()
    pm.execute_notebook(
        str(NOTEBOOK),
        str(tmp_path / "01_prompts.ipynb"),
        parameters={"backbone": "fervlm-tiny", "weights": "none", "output_dir": str(out_dir), "seed": 1},
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    elapsed = time.perf_counter() - start
    expected = ("prototype_similarity.png", "prompt_similarity.png", "prompt_umap.png", "bank_emotions6.csv")
    for name in expected:
        assert (out_dir / name).stat().st_size > 0, name
    executed = json.loads((tmp_path / "01_prompts.ipynb").read_text())
    assert any(
        "fervlm-tiny: embed_dim=64" in "".join(o.get("text", ""))
        for c in executed["cells"]
        for o in c.get("outputs", [])
    )
    assert elapsed < 120  # < 60 s on an idle 2-core machine; headroom for a loaded test run


def test_notebook_rejects_unknown_values(tmp_path) -> None:
    from fervlm.notebook import validate_params
    from fervlm.viz.prompts import PromptsNotebookConfig

    with pytest.raises(ValueError, match="unknown notebook parameter"):
        validate_params(PromptsNotebookConfig, bakbone="fervlm-tiny")
    with pytest.raises(FileNotFoundError, match="emotions7"):
        validate_params(PromptsNotebookConfig, bank="emotions7")
    with pytest.raises(ValueError, match="not a known architecture"):
        validate_params(PromptsNotebookConfig, backbone="ViT-Q-99")
    with pytest.raises(ValueError, match="pretrained tag"):
        validate_params(PromptsNotebookConfig, weights=str(tmp_path / "missing.pt"))
    with pytest.raises(ValueError, match="n_examples"):
        validate_params(PromptsNotebookConfig, n_examples=0)
    assert validate_params(PromptsNotebookConfig, bank="micro5").to_dict()["bank"] == "micro5"
