"""Planning a sweep: profile × notebooks → run items, each with its folder and its parameters
(contract points 1–3 of `fervlm.runs`)."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from fervlm.datasets.registry import data_kind
from fervlm.profiles import KNOWN_METHODS, REPO_ROOT, Profile, load_profile
from fervlm.runs.provenance import changed_parameters, read_status

__all__ = [
    "NOTEBOOK_GLOB",
    "ItemResult",
    "RunItem",
    "list_notebooks",
    "own_parameters",
    "plan_sweep",
    "plan_table",
    "sweep_parameters",
]

NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
#: Parameters every notebook declares and the sweep always sets (contract point 1).
REQUIRED_PARAMETERS = ("output_dir", "profile")


def own_parameters(path: str | os.PathLike[str]) -> list[str]:
    """The parameters a notebook keeps for itself: the sweep never sets them, nor expands over them.

    A notebook lists them in its metadata, ``{"fervlm": {"own_parameters": ["method"]}}``, when one of its
    parameters has the name of a profile key (or of a sweep dimension) but another meaning there:
    notebook 06 times one ``method`` whatever the profile's ``methods``; notebook 08 runs on its own
    micro-expression ``dataset``. Absent: none (every declared parameter the profile offers is set).

    Raises:
        ValueError: the metadata is not a list of names (the message names the file).
    """
    path = Path(path)
    meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("fervlm", {})
    own = meta.get("own_parameters", []) if isinstance(meta, dict) else None
    if not isinstance(own, list) or not all(isinstance(n, str) for n in own):
        raise ValueError(
            f"{path}: metadata fervlm.own_parameters must be a list of parameter names, got {own!r}"
        )
    return list(own)


def sweep_parameters(path: str | os.PathLike[str]) -> list[str]:
    """The parameters the sweep may set in a notebook: those its ``parameters`` cell declares
    (`papermill.inspect_notebook`), less its `own_parameters`.

    Raises:
        ValueError: an own parameter that the cell does not declare, or one the sweep must set
            (`REQUIRED_PARAMETERS`).
    """
    import papermill

    declared = list(papermill.inspect_notebook(str(path)))
    own = own_parameters(path)
    undeclared = [n for n in own if n not in declared]
    if undeclared:
        raise ValueError(f"{path}: own_parameters {undeclared} are not declared in its parameters cell")
    required = [n for n in own if n in REQUIRED_PARAMETERS]
    if required:
        raise ValueError(f"{path}: own_parameters {required}: the sweep always sets these")
    return [n for n in declared if n not in own]


@dataclass
class RunItem:
    """One notebook execution of a sweep: a notebook under a profile, for one dataset and/or method."""

    profile: str
    notebook: str  # stem, e.g. "03_affectvlm"
    notebook_path: Path
    output_dir: Path
    parameters: dict[str, Any]
    dataset: str | None = None
    method: str | None = None

    @property
    def executed_path(self) -> Path:
        return self.output_dir / f"{self.notebook}.ipynb"

    @property
    def partial_path(self) -> Path:
        return self.output_dir / f"{self.notebook}.partial.ipynb"

    @property
    def log_path(self) -> Path:
        return self.output_dir / "log.txt"

    @property
    def label(self) -> str:
        return "/".join(p for p in (self.notebook, self.dataset, self.method) if p)


@dataclass
class ItemResult:
    """What `run_item` did: status is ``done``, ``skipped`` or ``failed``."""

    item: RunItem
    status: str
    seconds: float = 0.0
    error: str = ""
    notebook: Path | None = None  # the executed (or partially executed) notebook


def list_notebooks(notebooks_dir: str | os.PathLike[str]) -> list[Path]:
    """The numbered notebooks (`NN_name.ipynb`) of a folder, in order."""
    folder = Path(notebooks_dir)
    if not folder.is_absolute():
        folder = REPO_ROOT / folder
    if not folder.is_dir():
        raise FileNotFoundError(f"notebooks_dir {folder} does not exist")
    return sorted(folder.glob(NOTEBOOK_GLOB))


def _select_notebooks(available: list[Path], wanted: Iterable[str] | None, source: str) -> list[Path]:
    """Pick notebooks by stem (`03_affectvlm`) or number prefix (`03`), keeping the folder's order."""
    if not wanted:
        return available
    by_stem = {p.stem: p for p in available}
    chosen: list[Path] = []
    for w in wanted:
        w = Path(str(w)).stem
        hits = [by_stem[w]] if w in by_stem else [p for p in available if p.stem.split("_", 1)[0] == w]
        if not hits:
            raise ValueError(f"{source}: no notebook {w!r}; available: {', '.join(by_stem) or '(none)'}")
        chosen += [h for h in hits if h not in chosen]
    return sorted(chosen, key=available.index)


def _item_parameters(
    profile: Profile,
    declared: Iterable[str],
    dataset: str | None,
    method: str | None,
    output_dir: Path,
    run_folds: str | list[int],
) -> dict[str, Any]:
    """The values the sweep offers, restricted to the names the notebook declares (contract point 2)."""
    offered = profile.to_dict()
    offered.pop("name")
    offered.update(profile=profile.name, output_dir=str(output_dir), run_folds=run_folds)
    if dataset is not None:
        offered.update(
            dataset=dataset,
            dataset_root=profile.dataset_roots[dataset],
            data_kind=data_kind(dataset),
        )
    if method is not None:
        offered["method"] = method
    return {name: offered[name] for name in declared if name in offered}


def plan_sweep(
    profile: Profile | str,
    notebooks: Sequence[str] | None = None,
    datasets: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    folds: Sequence[int] | None = None,
    root: str | os.PathLike[str] = "outputs",
) -> list[RunItem]:
    """Expand profile × notebooks into run items (contract points 2–3 of the module docstring).

    Args:
        profile: a `Profile` or a name/path for `load_profile`.
        notebooks: restrict to these notebooks (stems or `NN` prefixes); default the profile's list, else all.
        datasets: override the profile's datasets (each needs an entry in `dataset_roots`).
        methods: override the profile's methods.
        folds: override the profile's `run_folds`.
        root: the outputs folder; items go to `<root>/<profile>/...` (made absolute).

    Returns:
        The items in notebook order, then dataset, then method.

    Raises:
        ValueError: an unknown notebook, dataset or method, or a notebook without `output_dir` parameter.
    """
    profile = load_profile(profile)
    datasets = list(datasets) if datasets else list(profile.datasets)
    methods = list(methods) if methods else list(profile.methods)
    missing = [d for d in datasets if d not in profile.dataset_roots]
    if missing:
        raise ValueError(
            f"datasets {missing} have no root in profile {profile.name!r}; "
            f"known: {', '.join(profile.dataset_roots)}"
        )
    bad = [m for m in methods if m not in KNOWN_METHODS]
    if bad:
        raise ValueError(f"unknown method(s) {bad}; valid: {', '.join(KNOWN_METHODS)}")
    run_folds: str | list[int] = profile.run_folds
    if folds:
        run_folds = [int(k) for k in folds]
        out_of_range = [k for k in run_folds if not 0 <= k < profile.k_folds]
        if out_of_range:
            raise ValueError(
                f"folds {out_of_range} outside 0..{profile.k_folds - 1} (k_folds={profile.k_folds})"
            )

    available = list_notebooks(profile.notebooks_dir)
    selected = _select_notebooks(available, profile.notebooks, f"profile {profile.name!r} notebooks")
    if notebooks:
        selected = _select_notebooks(selected, notebooks, "--notebooks")
    base = Path(root).absolute() / profile.name

    items: list[RunItem] = []
    for path in selected:
        declared = sweep_parameters(path)
        if "output_dir" not in declared:
            raise ValueError(f"{path}: the parameters cell declares no output_dir (declared: {declared})")
        ds_axis: list[str | None] = list(datasets) if "dataset" in declared else [None]
        m_axis: list[str | None] = list(methods) if "method" in declared else [None]
        for ds, m in itertools.product(ds_axis, m_axis):
            out = base.joinpath(path.stem, *(p for p in (ds, m) if p is not None))
            params = _item_parameters(profile, declared, ds, m, out, run_folds)
            items.append(RunItem(profile.name, path.stem, path, out, params, dataset=ds, method=m))
    return items


def plan_table(items: Sequence[RunItem]) -> pd.DataFrame:
    """The plan as a table: one row per item, with its state on disk (done / failed / pending, or
    "done, other parameters" for a finished item whose parameters changed since)."""
    rows = []
    for it in items:
        status = read_status(it.output_dir)
        state = status.get("status", "pending") if status else "pending"
        if state == "done" and changed_parameters(it):
            state = "done, other parameters"  # refused without --force
        rows.append(
            {
                "notebook": it.notebook,
                "dataset": it.dataset or "",
                "method": it.method or "",
                "state": state,
                "parameters": ", ".join(it.parameters),
                "output_dir": str(it.output_dir),
            }
        )
    return pd.DataFrame(rows, columns=["notebook", "dataset", "method", "state", "parameters", "output_dir"])
