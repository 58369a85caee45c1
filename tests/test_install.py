"""A regular (non-editable) install works: `pip install .` into a fresh folder, offline, then `fervlm synth`,
`fervlm prepare` and `fervlm train` on a tiny set from a working directory outside the repository.

The package is built from a copy of the repository's `pyproject.toml`, `README.md` and `fervlm/` (so the
build leaves no `build/` or egg-info behind in the checkout), with ``--no-deps --no-build-isolation
--no-index``: nothing is downloaded, the dependencies are this environment's. What it guards: data the
package reads at run time (prompt banks, the BP4D task table, model configs) must be package data, and no
default path may assume the package sits in a checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


@pytest.mark.slow
def test_a_non_editable_install_synthesises_and_trains(tmp_path: Path) -> None:
    src, site, work = tmp_path / "src", tmp_path / "site", tmp_path / "work"
    src.mkdir()
    work.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "fervlm", src / "fervlm", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    _run([*pip, "--no-index", "--target", str(site), str(src)], tmp_path, dict(os.environ))

    # A user's shell: the installed copy first on the path, none of our variables, outside any checkout.
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERVLM_")}
    env["PYTHONPATH"] = str(site)
    probe = (
        "import json, importlib.metadata as md, fervlm, fervlm.notebook as nb, fervlm.prompts as p;"
        "from fervlm.datasets.bp4d import read_task_table;"
        "print(json.dumps({'file': fervlm.__file__, 'version': fervlm.__version__,"
        " 'dist': md.version('fervlm'), 'checkout': str(nb.checkout_root()), 'root': str(nb.project_root()),"
        " 'banks': sorted(x.stem for x in p.prompts_dir().glob('*.yaml')), 'tasks': len(read_task_table())}))"
    )
    info = json.loads(_run([sys.executable, "-c", probe], work, env).strip().splitlines()[-1])
    assert Path(info["file"]).is_relative_to(site)
    assert info["dist"] == info["version"]  # one version source: pyproject reads fervlm.__version__
    assert info["checkout"] == "None" and Path(info["root"]) == work.resolve()
    assert info["banks"] == ["bp4d_tasks", "emotions6", "micro5"] and info["tasks"] == 8

    fervlm = [str(site / "bin" / "fervlm")]
    synth = ["synth", "--layout", "bu3dfe", "--out", "bu3dfe", "--subjects", "4", "--resolution", "2000"]
    _run([*fervlm, *synth], work, env)
    prepare = ["prepare", "--dataset", "bu3dfe", "--root", "bu3dfe", "--out", "views", "--size", "32"]
    _run([*fervlm, *prepare, "--workers", "1", "--no-progress"], work, env)
    sets = ["backbone=fervlm-tiny", "weights=none", "folds=2", "num_workers=0", "epochs=1", "batch_size=16"]
    train = [*fervlm, "train", "--method", "affectvlm", "--index", "views/index.csv", "--out", "run"]
    _run([*train, "--fold", "0", *(a for s in sets for a in ("--set", s))], work, env)
    metrics = json.loads((work / "run" / "fold-00" / "metrics.json").read_text())
    assert 0.0 <= metrics["accuracy"] <= 1.0 and metrics["n_test"] > 0
