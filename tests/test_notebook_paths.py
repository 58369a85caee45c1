"""Notebooks as `make lab` runs them: kernel started in `notebooks/`, defaults from the `quick` profile.

`fervlm.notebook`: relative paths mean the project root wherever the kernel starts, and the literal defaults
of every parameters cell are the quick profile's values, so a hand run computes what `outputs/quick/` holds.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from fervlm.notebook import (
    profile_defaults,
    profile_mismatches,
    start_notebook,
    sync_parameter_defaults,
    use_project_root,
    validate_params,
)
from fervlm.runs import load_profile

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
ALL = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", ALL, ids=[p.stem for p in ALL])
def test_parameter_defaults_are_the_quick_profile(path: Path) -> None:
    assert profile_mismatches(path, "quick") == {}, (
        "the parameters cell disagrees with fervlm/resources/profiles/quick.yaml; "
        "run fervlm.notebook.sync_parameter_defaults on it"
    )


def test_profile_defaults_are_what_the_sweep_passes() -> None:
    quick = load_profile("quick")
    values = profile_defaults(
        ["image_size", "run_folds", "dataset_root", "output_dir", "bank"], "quick", dataset="synthetic_bu3dfe"
    )
    assert values == {
        "image_size": quick.image_size,
        "run_folds": quick.run_folds,
        "dataset_root": quick.dataset_roots["synthetic_bu3dfe"],
    }


def test_sync_rewrites_only_the_stale_literals(tmp_path: Path) -> None:
    path = tmp_path / "02_affectvlm.ipynb"
    shutil.copy(NOTEBOOKS / "02_affectvlm.ipynb", path)
    original = nbformat.read(path, as_version=4)
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source = cell.source.replace("image_size: int = 64", "image_size: int = 96").replace(
        "run_folds: list = [0]", "run_folds: list = [0, 1]"
    )
    nbformat.write(nb, path)
    assert profile_mismatches(path) == {"image_size": (96, 64), "run_folds": ([0, 1], [0])}
    assert sync_parameter_defaults(path) == ["image_size", "run_folds"]
    synced = nbformat.read(path, as_version=4)
    assert [c.id for c in synced.cells] == [c.id for c in original.cells]
    assert [c.source for c in synced.cells] == [c.source for c in original.cells]  # comments kept too
    assert sync_parameter_defaults(path) == []


def test_use_project_root_moves_a_kernel_started_inside_the_project_only(tmp_path, monkeypatch) -> None:
    root = tmp_path / "project"
    (root / "notebooks").mkdir(parents=True)
    monkeypatch.setenv("FERVLM_ROOT", str(root))
    monkeypatch.chdir(root / "notebooks")
    assert use_project_root() == root.resolve() and Path.cwd() == root.resolve()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    monkeypatch.chdir(outside)
    assert use_project_root() == outside.resolve() and Path.cwd() == outside.resolve()


def test_validate_params_resolves_against_the_project_root(tmp_path, monkeypatch) -> None:
    from fervlm.viz.training import TrainingNotebookConfig

    root = tmp_path / "project"
    (root / "notebooks").mkdir(parents=True)
    monkeypatch.setenv("FERVLM_ROOT", str(root))
    monkeypatch.chdir(root / "notebooks")
    validate_params(TrainingNotebookConfig, output_dir="outputs/quick/02_affectvlm")
    assert Path("outputs/quick/02_affectvlm").absolute() == root.resolve() / "outputs/quick/02_affectvlm"


def test_start_notebook_reads_the_declared_parameters_once(tmp_path, monkeypatch) -> None:
    from fervlm.viz.timing import TimingNotebookConfig

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out" / "06"
    namespace = {"Path": Path, "method": "smilevlm", "epochs": 2, "output_dir": str(out), "seed": 3}
    namespace["__annotations__"] = {"method": str, "epochs": int, "output_dir": str, "seed": int}
    namespace["epochs"] = 4  # papermill's injected cell: a plain assignment after the parameters cell
    cfg = start_notebook(TimingNotebookConfig, namespace)
    assert (cfg.method, cfg.epochs, cfg.seed) == ("smilevlm", 4, 3) and out.is_dir()
    namespace["__annotations__"]["epochz"] = int
    namespace["epochz"] = 1
    with pytest.raises(ValueError, match="epochz"):
        start_notebook(TimingNotebookConfig, namespace)
    namespace["__annotations__"] = {"epochs": int}
    namespace["epochs"] = "4"
    with pytest.raises(ValueError, match="epochs='4'"):
        start_notebook(TimingNotebookConfig, namespace)
    with pytest.raises(ValueError, match="parameters"):
        start_notebook(TimingNotebookConfig, {"epochs": 4})


@pytest.mark.parametrize("path", ALL, ids=[p.stem for p in ALL])
def test_parameters_are_validated_before_anything_else(path: Path) -> None:
    """The cell after `parameters` starts with the one call that reads them and moves to the project root
    (`fervlm.notebook.start_notebook`): no path is used before it, and no parameter is listed again."""
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    tagged = next(i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", []))
    before = "\n".join(c.source for c in code[:tagged])
    assert "Path(" not in before and "open(" not in before
    first_call = next(n for n in ast.walk(ast.parse(code[tagged + 1].source)) if isinstance(n, ast.Call))
    name = getattr(first_call.func, "id", None) or getattr(first_call.func, "attr", None)
    assert name == "start_notebook", name
    declared = pm.inspect_notebook(str(path))
    relisted = [n for n in declared if f"{n}={n}" in code[tagged + 1].source]
    assert not relisted, f"parameters listed twice: {relisted}"


@pytest.mark.parametrize("path", ALL, ids=[p.stem for p in ALL])
def test_no_cell_echoes_a_saved_figure_path(path: Path) -> None:
    """`save_figure` returns the path; a cell ending with it would print `PosixPath('outputs/...png')`."""
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        last = ast.parse(cell.source).body[-1]
        echoes = isinstance(last, ast.Expr) and not cell.source.rstrip().endswith(";")
        calls = isinstance(last, ast.Expr) and isinstance(last.value, ast.Call)
        name = getattr(last.value.func, "id", "") if calls else ""
        assert not (echoes and name == "save_figure"), f"{cell.id}: end it with ';'"


@pytest.mark.slow
def test_affectvlm_started_in_notebooks_writes_nothing_there(tmp_path, monkeypatch, same_figure) -> None:
    """02 run as JupyterLab runs it (kernel in `notebooks/`), on a copy of the project with relative paths.

    02 stands for the rest: it generates data, renders views, trains, and writes runs and figures. Every
    notebook reaches the project root through the same call (checked statically above); running all ten
    here would cost minutes for no new line of code exercised.
    """
    root = tmp_path / "project"
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(NOTEBOOKS / "02_affectvlm.ipynb", root / "notebooks")
    monkeypatch.setenv("FERVLM_ROOT", str(root))
    monkeypatch.setenv("FERVLM_CACHE", str(tmp_path / "cache"))
    pm.execute_notebook(
        str(root / "notebooks" / "02_affectvlm.ipynb"),
        str(tmp_path / "executed.ipynb"),
        parameters={
            "synthetic_subjects": 4,
            "image_size": 32,
            "epochs": 1,
            "k_folds": 2,
            "backbone": "fervlm-tiny",
            "batch_size": 8,
        },  # paths keep their relative defaults
        kernel_name="python3",
        cwd=str(root / "notebooks"),
        progress_bar=False,
    )
    assert sorted(os.listdir(root / "notebooks")) == ["02_affectvlm.ipynb"]
    out = root / "outputs" / "quick" / "02_affectvlm"
    assert json.loads((out / "affectvlm" / "fold-00" / "metrics.json").read_text())["n_test"] > 0
    # The figure landed in the project's outputs and is the package's drawing of the fold's history.
    from fervlm.protocols import protocol_name
    from fervlm.viz.training import plot_loss_curves, read_history

    history = read_history(out / "affectvlm" / "fold-00")
    same_figure(
        out / "loss_curves.png", plot_loss_curves(history, f"AffectVLM, {protocol_name('label')}, fold 0")
    )
    assert any((root / "data" / "synthetic" / "bu3dfe").iterdir())
    executed = (tmp_path / "executed.ipynb").read_text()
    assert "PosixPath" not in executed
