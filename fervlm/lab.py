"""JupyterLab as `make lab` starts it: tracked notebooks saved without outputs, no build prompt.

`make lab` runs ``JUPYTER_CONFIG_PATH=.jupyter jupyter lab notebooks/``; Jupyter then also reads the
repository's `.jupyter/` folder (after the user's own settings, which it leaves alone):

* `.jupyter/jupyter_server_config.py` installs `strip_outputs_hook` as the contents manager's pre-save
  hook, so Lab's autosave never writes outputs into the tracked notebooks (they are committed clean,
  executed copies go to `outputs/`; `tests/test_notebooks.py` checks it);
* `.jupyter/labconfig/page_config.json` turns off Lab's build check and disables the
  `@plotly/dash-jupyterlab` source extension (dash comes in through open3d): without it every first start
  greets a student with a "Build Recommended" dialog for an extension no notebook uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Cell metadata Jupyter front-ends write while running a notebook (timings, collapsed/scrolled outputs).
RUN_METADATA = ("execution", "collapsed", "scrolled", "ExecuteTime", "jupyter")


def is_tracked_notebook(os_path: str | Path) -> bool:
    """Whether a file is one of the project's notebooks (``<project root>/notebooks/*.ipynb``)."""
    from fervlm.project import project_root

    path = Path(os_path).resolve()
    return path.suffix == ".ipynb" and path.parent == project_root() / "notebooks"


def strip_outputs(nb: dict[str, Any], saved_metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """Clear outputs, execution counts and run metadata of a notebook (nbformat 4 JSON), in place.

    Args:
        nb: the notebook as Jupyter saves it.
        saved_metadata: the notebook-level metadata of the file on disk; kept instead of what the
            front-end sends (kernel version, widget state), so saving an unchanged notebook changes nothing.

    Returns:
        `nb`.
    """
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        metadata = cell.get("metadata", {})
        for key in RUN_METADATA:
            metadata.pop(key, None)
    if saved_metadata is not None:
        nb["metadata"] = saved_metadata
    else:
        nb.get("metadata", {}).pop("widgets", None)
    return nb


def strip_outputs_hook(model: dict[str, Any], path: str, contents_manager: Any, **_: Any) -> None:
    """`ContentsManager.pre_save_hook`: save the tracked notebooks without outputs (others untouched)."""
    import json

    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return
    os_path = Path(contents_manager.root_dir) / path.lstrip("/")
    if not is_tracked_notebook(os_path):
        return
    saved = None
    if os_path.is_file():
        try:
            saved = json.loads(os_path.read_text(encoding="utf-8")).get("metadata")
        except (OSError, ValueError):
            saved = None  # an unreadable file on disk is simply overwritten
    strip_outputs(model["content"], saved)
