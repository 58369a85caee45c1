"""Small helpers every notebook uses: validate the `parameters` cell, set seeds, save figures.

docs/design.md, "Notebooks teach": one setup cell, a typed `parameters` cell (papermill overrides it), then a
cell whose first line, ``cfg = start_notebook(Config, globals())``, validates the declared values into a
config dataclass — unknown names and wrongly typed values are errors raised there, before any work starts, not
halfway through a run — seeds everything and creates the output folder.

Two promises hold however a notebook is started (`make lab`, papermill, `fervlm sweep`):

* relative paths mean the project root: validating the parameters makes the root the working directory
  when the kernel started inside the project (JupyterLab starts it in `notebooks/`), see
  `use_project_root`;
* a notebook run by hand computes what `fervlm sweep --profile quick` computes: the literal defaults of
  every parameters cell are the `quick` profile's values (`fervlm/resources/profiles/quick.yaml` is the one
  source; `profile_mismatches` finds a stale default, `sync_parameter_defaults` rewrites it, and
  `tests/test_notebook_paths.py` fails until they agree).
"""

from __future__ import annotations

import ast
import dataclasses
import json
import logging
import os
import random
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from fervlm.project import ROOT_ENV, checkout_root, project_root  # noqa: F401  (re-exported)
from fervlm.typecheck import matches, type_name
from fervlm.viz.figures import save_figure as save_figure  # re-exported: every notebook imports it here

C = TypeVar("C")

#: Parameters that differ per sweep item (or name the item's dimension), so no profile value is their default.
ITEM_PARAMETERS = ("output_dir", "dataset", "method", "dataset_root", "data_kind")


def use_project_root() -> Path:
    """Make the project root the working directory when the kernel was started inside the project.

    JupyterLab starts a kernel in the notebook's folder (`notebooks/`), but the profiles' relative paths
    (``data/synthetic/bu3dfe``, ``outputs/quick/...``) and the render cache mean the project root (contract
    point 4 of `fervlm.runs`); without this a hand-run notebook would generate a second dataset and its
    outputs inside `notebooks/`. A kernel started outside the project (papermill's ``cwd`` in the tests, a
    student's own folder) keeps its folder: whoever chose it meant it.

    Returns:
        The working directory after the call.
    """
    root = project_root()
    cwd = Path.cwd().resolve()
    if cwd != root and cwd.is_relative_to(root):
        os.chdir(root)
        print(f"working directory: {root} (relative paths in the parameters mean the project root)")
        return root
    return cwd


def validate_params(config_cls: type[C], **params: Any) -> C:
    """Build `config_cls` (a dataclass) from a notebook's parameters, checking names and types.

    Args:
        config_cls: the notebook's config dataclass; its fields are the parameters the notebook accepts.
        **params: the values from the `parameters` cell (after papermill's overrides).

    Relative paths among the values mean the project root: the call first makes it the working directory
    when the kernel started inside the project (`use_project_root`).

    Returns:
        The config instance (its `__post_init__`, if any, checks values further).

    Raises:
        ValueError: an unknown parameter name (the known ones are listed), or a value of the wrong type.
    """
    use_project_root()
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(params) - set(fields))
    if unknown:
        raise ValueError(f"unknown notebook parameter(s) {unknown}; known: {sorted(fields)}")
    hints = typing.get_type_hints(config_cls)
    for name, value in params.items():
        if not matches(value, hints.get(name, Any)):
            raise ValueError(f"parameter {name}={value!r}: expected {type_name(hints[name])}")
    return config_cls(**params)


def start_notebook(config_cls: type[C], namespace: Mapping[str, Any]) -> C:
    """Everything a notebook does between its ``parameters`` cell and its first step, in one call.

    ``cfg = start_notebook(TrainingNotebookConfig, globals())`` reads the names the ``parameters`` cell
    declares (its annotated assignments, ``namespace["__annotations__"]``: papermill's injected cell assigns
    without annotations, so it changes the values but not the list) with their current values, validates
    them into `config_cls` (`validate_params`: unknown names and wrong types are errors), seeds everything
    (`setup`) and creates ``cfg.output_dir``. The parameters are thus listed once, in the parameters cell.

    Args:
        config_cls: the notebook's config dataclass (with ``seed`` and ``output_dir`` fields).
        namespace: the notebook's global namespace, ``globals()``.

    Returns:
        The config instance.

    Raises:
        ValueError: no parameters were declared in `namespace`, or `validate_params` refuses them.
    """
    declared = namespace.get("__annotations__") or {}
    if not declared:
        raise ValueError(
            "start_notebook: no typed parameters in this namespace; run the cell tagged 'parameters' "
            "(``name: type = value`` lines) first and pass globals()"
        )
    cfg = validate_params(config_cls, **{name: namespace[name] for name in declared if name in namespace})
    setup(int(getattr(cfg, "seed", 0)))
    Path(cfg.output_dir).mkdir(parents=True, exist_ok=True)  # type: ignore[attr-defined]
    return cfg


def setup(seed: int = 0, quiet: bool = True) -> None:
    """Seed python, numpy and torch; keep library logs quiet; make figures notebook-sized."""
    import matplotlib
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    matplotlib.rcParams["figure.dpi"] = 90
    if quiet:
        logging.getLogger().setLevel(logging.ERROR)
        for name in ("lightning", "pytorch_lightning", "lightning.pytorch", "open_clip"):
            logging.getLogger(name).setLevel(logging.ERROR)


# ---------------------------------------------------------------------------------------------
# The profile is the one source of the parameters cells' defaults


def _parameters_cell(nb: Any, path: Path) -> Any:
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"{path}: expected one code cell tagged 'parameters', found {len(cells)}")
    return cells[0]


def _assignments(source: str) -> dict[str, tuple[int, int, int, Any]]:
    """``name -> (line, start, end, value)`` for each ``name: type = literal`` line (UTF-8 byte offsets)."""
    found: dict[str, tuple[int, int, int, Any]] = {}
    for number, line in enumerate(source.splitlines()):
        try:
            tree = ast.parse(line)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
                try:
                    value = ast.literal_eval(node.value)
                except ValueError:
                    continue  # not a literal: nothing a profile could fill in
                found[node.target.id] = (number, node.value.col_offset, node.value.end_col_offset, value)
    return found


def _literal(value: Any) -> str:
    """A value written as the parameters cells write it (double-quoted strings, ``[a, b]`` lists)."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return repr(value)


def profile_defaults(
    declared: typing.Iterable[str], profile: str = "quick", dataset: str | None = None
) -> dict[str, Any]:
    """The values `fervlm sweep --profile <profile>` passes for the `declared` parameter names.

    Per-item values (`ITEM_PARAMETERS`: the output folder, the dataset/method dimension) are left out, except
    ``dataset_root``, given when `dataset` is named and the profile has a root for it.
    """
    from fervlm.profiles import load_profile
    from fervlm.runs.plan import _item_parameters

    prof = load_profile(profile)
    declared = list(declared)
    offered = _item_parameters(prof, declared, None, None, Path("."), prof.run_folds)
    values = {k: v for k, v in offered.items() if k not in ITEM_PARAMETERS}
    if dataset is not None and "dataset_root" in declared and dataset in prof.dataset_roots:
        values["dataset_root"] = prof.dataset_roots[dataset]
    return values


def profile_mismatches(path: str | Path, profile: str = "quick") -> dict[str, tuple[Any, Any]]:
    """Parameters whose notebook default is not the profile's: ``name -> (cell value, profile value)``.

    The notebook's own parameters (`fervlm.runs.own_parameters`) are left out: the sweep never sets them.
    """
    import nbformat

    from fervlm.runs.plan import own_parameters

    path = Path(path)
    cell = _parameters_cell(nbformat.read(path, as_version=4), path)
    own = own_parameters(path)
    found = {name: spot for name, spot in _assignments(cell.source).items() if name not in own}
    dataset = found.get("dataset", (0, 0, 0, None))[3]
    wanted = profile_defaults(found, profile, dataset=dataset if isinstance(dataset, str) else None)
    return {name: (found[name][3], value) for name, value in wanted.items() if found[name][3] != value}


def sync_parameter_defaults(path: str | Path, profile: str = "quick") -> list[str]:
    """Rewrite the stale defaults of a notebook's parameters cell to the profile's values, in place.

    Only the literal of each stale ``name: type = literal  # comment`` line changes (cell ids, comments and
    the other cells stay as they are). Returns the names rewritten.
    """
    import nbformat

    path = Path(path)
    stale = profile_mismatches(path, profile)
    if not stale:
        return []
    nb = nbformat.read(path, as_version=4)
    cell = _parameters_cell(nb, path)
    lines = cell.source.splitlines()
    for name, (number, start, end, _) in _assignments(cell.source).items():
        if name in stale:
            line = lines[number].encode()  # ast's column offsets count UTF-8 bytes
            lines[number] = (line[:start] + _literal(stale[name][1]).encode() + line[end:]).decode()
    cell.source = "\n".join(lines)
    nbformat.write(nb, path)
    return sorted(stale)
