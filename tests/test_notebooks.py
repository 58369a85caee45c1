"""Every numbered notebook is committed clean and runs top to bottom with papermill at a smoke size.

Smoke sizes keep each run to seconds: few subjects, small images, 2 folds. Outputs and generated data go to
pytest's tmp_path (the kernel inherits FERVLM_CACHE from this process).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import papermill as pm
import pytest

from fervlm.runs import own_parameters, sweep_parameters

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
ALL = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", ALL, ids=[p.stem for p in ALL])
def test_notebook_is_committed_clean_with_a_parameters_cell(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "strip outputs before committing"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    declared = pm.inspect_notebook(str(path))
    assert "output_dir" in declared and "profile" in declared  # the sweep contract (fervlm.runs)
    swept = sweep_parameters(path)  # raises for an own parameter the cell does not declare
    assert set(swept) | set(own_parameters(path)) == set(declared)
    assert all(p["inferred_type_name"] != "None" for p in declared.values()), "type every parameter"
    # papermill reads parameters with a regex: a line it cannot parse (a comment holding ">=" did) is left out
    # of `declared` with only a log warning, and its value could then not be set by a sweep.
    import ast

    names = {n.target.id for n in ast.parse(tagged[0].source).body if isinstance(n, ast.AnnAssign)}
    assert names == set(declared), f"papermill could not parse: {sorted(names - set(declared))}"


def run_notebook(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **params: object) -> Path:
    """Execute notebooks/<name>.ipynb into tmp_path with `params`; return its output_dir."""
    monkeypatch.setenv("FERVLM_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    pm.execute_notebook(
        str(NOTEBOOKS / f"{name}.ipynb"),
        str(tmp_path / f"{name}.ipynb"),
        parameters={"output_dir": str(out), **params},
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    return out


@pytest.mark.slow
def test_00_data_prep_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = run_notebook(
        "00_data_prep",
        tmp_path,
        monkeypatch,
        dataset_root=str(tmp_path / "bu3dfe"),
        sequence_root=str(tmp_path / "bu4dfe"),
        synthetic_subjects=4,
        k_folds=2,
        image_size=48,
        workers=1,
    )
    for name in ("views_per_emotion.png", "dynamic_image.png", "counts.png", "index.csv", "folds.json"):
        assert (out / name).stat().st_size > 0, name
    import pandas as pd

    table = pd.read_csv(out / "index.csv")
    assert len(table) == 4 * 6 * 2  # 4 subjects x 6 emotions x intensities 3-4 (Subset I)
    assert {"view_-30", "view_0", "view_30"} <= set(table.columns)
