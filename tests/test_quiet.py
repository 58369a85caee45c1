"""Tests of `fervlm.quiet`: a notebook run the way `fervlm sweep` / `make demo` runs it prints none of the
warnings a plain papermill run prints (plain-TCP kernel, unhandled Dash comm)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
import yaml

from fervlm.runs import sweep

WARNINGS = ("without encryption", "No handler found for comm target", "No pretrained weights loaded")

# open3d imports its plotly/Dash viewer, and Dash opens a comm to the front end: the 'dash' warning's cause.
BODY = """
import json, pathlib, sys
import open3d
from fervlm.backbones import create_backbone
create_backbone("fervlm-tiny", weights=None)
print("dash imported:", "dash" in sys.modules)
out = pathlib.Path(output_dir)
out.mkdir(parents=True, exist_ok=True)
(out / "metrics.json").write_text(json.dumps({"accuracy": 1.0}))
"""


@pytest.fixture(params=["ipc", "curve"])
def transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Both kernel transports of the engine: IPC sockets, and the Curve-encrypted TCP fallback."""
    from fervlm import quiet

    monkeypatch.setattr(quiet, "_ipc_path_fits", lambda: request.param == "ipc")
    quiet._engine.cache_clear()
    manager = quiet._engine().client.class_traits()["kernel_manager_class"].default_value()
    expected = ("ipc", "disabled") if request.param == "ipc" else ("tcp", "auto")
    assert (manager.transport, manager.transport_encryption) == expected
    yield request.param
    quiet._engine.cache_clear()


@pytest.mark.slow
def test_a_swept_notebook_runs_without_warnings(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, transport: str
) -> None:
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell('output_dir: str = "out"', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(BODY),
    ]
    nbformat.write(nb, nbs / "01_quiet.ipynb")
    profile = tmp_path / "mini.yaml"
    profile.write_text(yaml.safe_dump({"name": "mini", "notebooks_dir": str(nbs), "weights": "none"}))
    caplog.set_level(logging.INFO)

    table = sweep(profile, root=tmp_path / "outputs", verbose=False)

    assert table["status"].tolist() == ["done"], table["error"].tolist()
    run = tmp_path / "outputs" / "mini" / "01_quiet"
    log = (run / "log.txt").read_text()
    assert "dash imported: True" in log  # the cause of the comm warning was really there
    assert json.loads((run / "metrics.json").read_text()) == {"accuracy": 1.0}
    captured = capfd.readouterr()
    seen = "\n".join([captured.out, captured.err, log, caplog.text])
    assert [w for w in WARNINGS if w in seen] == [], transport
