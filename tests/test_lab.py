"""`make lab`'s shipped Jupyter settings (fervlm/lab.py, .jupyter/): clean saves, no build prompt."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
from traitlets.config.loader import PyFileConfigLoader

from fervlm.lab import is_tracked_notebook, strip_outputs

REPO = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO / ".jupyter"


def _executed(path: Path) -> dict:
    """The notebook as Lab would save it after a run: outputs, counts, run metadata, kernel details."""
    nb = json.loads(path.read_text())
    for n, cell in enumerate(c for c in nb["cells"] if c["cell_type"] == "code"):
        cell["execution_count"] = n + 1
        cell["outputs"] = [
            {
                "output_type": "execute_result",
                "execution_count": n + 1,
                "metadata": {},
                "data": {"text/plain": "PosixPath('outputs/x.png')"},
            }
        ]
        cell["metadata"]["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00Z"}
        cell["metadata"]["scrolled"] = True
    nb["metadata"]["language_info"] = {"name": "python", "version": "3.11.2", "mimetype": "text/x-python"}
    nb["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    return nb


@pytest.fixture
def contents_manager(tmp_path, monkeypatch):
    """A Jupyter file contents manager configured by the shipped .jupyter/jupyter_server_config.py, serving
    a copy of the project (FERVLM_ROOT) from its root, as `make lab` serves the real one."""
    from jupyter_server.services.contents.filemanager import FileContentsManager

    root = tmp_path / "project"
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(REPO / "notebooks" / "02_affectvlm.ipynb", root / "notebooks")
    monkeypatch.setenv("FERVLM_ROOT", str(root))
    config = PyFileConfigLoader("jupyter_server_config.py", str(CONFIG_DIR)).load_config()
    return FileContentsManager(root_dir=str(root), config=config)


def test_saving_a_run_notebook_writes_it_back_unchanged(contents_manager) -> None:
    path = Path(contents_manager.root_dir) / "notebooks" / "02_affectvlm.ipynb"
    committed = path.read_bytes()
    contents_manager.save(
        {"type": "notebook", "format": "json", "content": _executed(path)}, "notebooks/02_affectvlm.ipynb"
    )
    assert path.read_bytes() == committed  # `git status` stays clean after a run and an autosave


def test_a_copy_saved_into_notebooks_mine_keeps_its_outputs(contents_manager) -> None:
    """README: "Save Notebook As… into notebooks/mine/ (git-ignored)" keeps a run's outputs."""
    source = Path(contents_manager.root_dir) / "notebooks" / "02_affectvlm.ipynb"
    (source.parent / "mine").mkdir()
    contents_manager.save(
        {"type": "notebook", "format": "json", "content": _executed(source)}, "notebooks/mine/02_copy.ipynb"
    )
    saved = nbformat.read(source.parent / "mine" / "02_copy.ipynb", as_version=4)
    assert all(c.outputs for c in saved.cells if c.cell_type == "code")


def test_strip_outputs_drops_widget_state_of_a_new_notebook(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FERVLM_ROOT", str(tmp_path))
    nb = strip_outputs(_executed(REPO / "notebooks" / "02_affectvlm.ipynb"))
    assert "widgets" not in nb["metadata"]
    assert all(
        not c.get("outputs") and c.get("execution_count") is None
        for c in nb["cells"]
        if c["cell_type"] == "code"
    )
    assert is_tracked_notebook(tmp_path / "notebooks" / "a.ipynb")
    assert not is_tracked_notebook(tmp_path / "notebooks" / "params" / "a.ipynb")
    assert not is_tracked_notebook(tmp_path / "notebooks" / "a.py")


def test_lab_page_config_turns_off_the_build_prompt(monkeypatch) -> None:
    from jupyterlab_server.config import get_static_page_config

    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(CONFIG_DIR))
    page = get_static_page_config(level="all")
    assert page["buildCheck"] is False and page["buildAvailable"] is False
    assert page["disabledExtensions"]["@plotly/dash-jupyterlab"] is True


def test_make_lab_uses_the_shipped_settings() -> None:
    dry = subprocess.run(["make", "-n", "lab"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    line = next(x for x in dry.splitlines() if "jupyter lab" in x)
    assert f'JUPYTER_CONFIG_PATH="{REPO}/.jupyter' in line and "jupyter lab notebooks/" in line
