"""Run folders and papermill sweeps: the same notebooks at two sizes, every output kept under `outputs/`.

docs/design.md, Conventions "Run folders" and "Same notebooks at two sizes". A *profile*
(`notebooks/params/<name>.yaml`: `quick` = synthetic data, tiny backbone, CPU; `paper` = real data, ViT-B/16,
GPU) fixes the values of the notebooks' parameters; `sweep` executes every notebook under that profile with
papermill, one *item* per notebook × dataset × method, each into its own run folder.

Notebook ↔ sweep contract (every notebook in `notebooks/` follows it):

1. The notebook has exactly one code cell tagged ``parameters`` declaring the parameters it accepts, one per
   line, typed and commented (``epochs: int = 2  # training epochs per fold``). It always declares
   ``output_dir: str`` (where everything it writes goes) and ``profile: str`` (the profile's name, for
   titles and for choosing defaults). A notebook that works on one dataset declares ``dataset: str``; one
   that works on one method declares ``method: str``. It may declare any `Profile` field under the same
   name (``backbone``, ``weights``, ``epochs``, ``run_folds``, ``dataset_roots``, …) and these derived ones:
   ``dataset_root`` (the profile's `dataset_roots[dataset]`) and ``data_kind`` (``"synthetic"`` when the
   dataset name starts with ``synthetic``, else ``"real"``).
2. The sweep reads the declared names with `papermill.inspect_notebook` and expands each notebook into the
   cartesian product of the dimensions it declares: ``dataset`` → the profile's datasets, ``method`` → the
   profile's methods; a notebook declaring neither runs once. It passes ONLY declared parameters; the
   others keep the notebook's defaults. ``--folds`` reaches the notebooks as ``run_folds`` (folds are not a
   sweep dimension: a notebook runs its folds itself, e.g. through `fervlm.train.run_cv`, and resumes them).
3. Item ``(notebook, dataset, method)`` runs into ``<root>/<profile>/<notebook>/<dataset>/<method>/``
   (levels the notebook does not declare are left out), which holds:

   * ``<notebook>.ipynb`` — the executed notebook (executed as ``<notebook>.partial.ipynb``, renamed when the
     run succeeds; a failed run leaves the partial notebook for inspection);
   * ``config.yaml`` — the resolved parameters passed to the notebook;
   * ``command.txt`` — command line, git hash, date, host;
   * ``log.txt`` — the kernel's stdout/stderr (and the traceback when the run fails);
   * whatever the notebook writes through the package: figures, tables, and ``metrics.json`` — one per
     fold under ``fold-KK/metrics.json`` (`fervlm.train`) and/or one for the whole item (`fervlm.evaluate.
     write_metrics`), optionally recording ``"data_kind": "synthetic" | "real"``;
   * ``status.json`` — written last and atomically: ``{"status": "done" | "failed", ...}``. An item whose
     status is ``done`` is skipped on re-run — unless its parameters changed since (``config.yaml``; then it
     is reported as failed, naming them) or it is forced (then it runs again from an emptied folder); any
     other item is run again in the same folder, so a notebook can resume from its checkpoints.
4. The notebook's working directory is the repository root, so relative paths in a profile
   (``dataset_roots``) are relative to it; ``output_dir`` is passed as an absolute path.

`aggregate_results` then walks the metrics files of one profile into ``<root>/<profile>/results.csv``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import itertools
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time
import traceback
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from fervlm.utils import atomic_write, data_kind

REPO_ROOT = Path(__file__).resolve().parents[1]
PARAMS_DIR = REPO_ROOT / "notebooks" / "params"
KNOWN_METHODS = ("affectvlm", "multiviewvlm", "smilevlm", "zeroshot", "linearprobe", "pixels")
STATUS_FILE = "status.json"
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
_FOLD_DIR = re.compile(r"^fold-(\d+)$")


# ---------------------------------------------------------------------------------------------
# Profiles


@dataclass
class Profile:
    """The flat, typed contents of a profile YAML (`notebooks/params/<name>.yaml`).

    Relative paths (`notebooks_dir`, `dataset_roots`) are relative to the repository root, the notebooks'
    working directory.
    """

    name: str
    description: str = ""
    notebooks: list[str] = field(default_factory=list)  # notebook stems; empty = every NN_*.ipynb in order
    notebooks_dir: str = "notebooks"
    datasets: list[str] = field(default_factory=lambda: ["synthetic_bu3dfe"])
    dataset_roots: dict[str, str] = field(
        default_factory=lambda: {"synthetic_bu3dfe": "data/synthetic/bu3dfe"}
    )
    methods: list[str] = field(default_factory=lambda: list(KNOWN_METHODS))
    backbone: str = "fervlm-quick"
    weights: str = "none"
    image_size: int = 96
    views: list[int] = field(default_factory=lambda: [-30, 0, 30])
    epochs: int = 2
    batch_size: int = 16
    lr: float = 1e-4
    k_folds: int = 10
    run_folds: str | list[int] = "all"
    accelerator: str = "auto"
    devices: int | str = "auto"
    num_workers: int = 0
    seed: int = 0
    prompt_sources: list[str] = field(default_factory=lambda: ["label", "pseudo"])
    synthetic_subjects: int = 20

    def to_dict(self) -> dict[str, Any]:
        """The profile as a plain dict (what `config.yaml` files and papermill receive)."""
        return dataclasses.asdict(self)


def _type_ok(value: Any, annotation: Any) -> bool:
    """Whether a YAML value matches a `Profile` field annotation (int is accepted where float is)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, arg) for arg in typing.get_args(annotation))
    if origin is list:
        (item,) = typing.get_args(annotation)
        return isinstance(value, list) and all(_type_ok(v, item) for v in value)
    if origin is dict:
        key, item = typing.get_args(annotation)
        return isinstance(value, dict) and all(
            _type_ok(k, key) and _type_ok(v, item) for k, v in value.items()
        )
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, annotation)


def _type_name(annotation: Any) -> str:
    return str(annotation).replace("typing.", "") if not isinstance(annotation, type) else annotation.__name__


def validate_profile(profile: Profile, source: str = "<profile>") -> Profile:
    """Check field types and cross-field rules; raise `ValueError` naming `source` and the key."""
    hints = typing.get_type_hints(Profile)
    for f in dataclasses.fields(Profile):
        value = getattr(profile, f.name)
        if not _type_ok(value, hints[f.name]):
            raise ValueError(f"{source}: {f.name}={value!r} must be {_type_name(hints[f.name])}")
    if isinstance(profile.run_folds, str) and profile.run_folds != "all":
        raise ValueError(
            f"{source}: run_folds must be 'all' or a list of fold numbers, got {profile.run_folds!r}"
        )
    if isinstance(profile.run_folds, list):
        bad = [k for k in profile.run_folds if not 0 <= k < profile.k_folds]
        if bad:
            raise ValueError(
                f"{source}: run_folds {bad} outside 0..{profile.k_folds - 1} (k_folds={profile.k_folds})"
            )
    bad_methods = [m for m in profile.methods if m not in KNOWN_METHODS]
    if bad_methods:
        raise ValueError(f"{source}: unknown method(s) {bad_methods}; valid: {', '.join(KNOWN_METHODS)}")
    no_root = [d for d in profile.datasets if d not in profile.dataset_roots]
    if no_root:
        raise ValueError(f"{source}: dataset(s) {no_root} have no entry in dataset_roots")
    if profile.k_folds < 2:
        raise ValueError(f"{source}: k_folds must be at least 2, got {profile.k_folds}")
    return profile


def profile_path(name_or_path: str | os.PathLike[str]) -> Path:
    """Resolve a shipped profile name (`quick`, `paper`) or a YAML file path."""
    text = str(name_or_path)
    path = Path(text)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"profile file {path} does not exist")
        return path
    shipped = PARAMS_DIR / f"{text}.yaml"
    if not shipped.is_file():
        names = sorted(p.stem for p in PARAMS_DIR.glob("*.yaml"))
        raise ValueError(f"profile {text!r}: not a file and not a shipped profile ({', '.join(names)})")
    return shipped


def load_profile(name_or_path: str | os.PathLike[str] | Profile) -> Profile:
    """Load and validate a profile: a shipped name (`quick`, `paper`) or the path of a flat YAML file.

    Keys are the `Profile` fields; a missing key takes the field default, an unknown key is an error naming
    the key, the file and the valid keys. `name` defaults to the file's stem.
    """
    if isinstance(name_or_path, Profile):
        return validate_profile(name_or_path)
    path = profile_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a profile is a flat mapping of keys to values, got {type(data).__name__}")
    valid = [f.name for f in dataclasses.fields(Profile)]
    unknown = [k for k in data if k not in valid]
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown}; valid keys: {', '.join(valid)}")
    data.setdefault("name", path.stem)
    return validate_profile(Profile(**data), source=str(path))


# ---------------------------------------------------------------------------------------------
# Run information


def git_hash(repo: str | os.PathLike[str] = REPO_ROOT) -> str:
    """The commit of `repo` (+ ``-dirty`` with uncommitted changes), or ``"unknown"`` without git/a repo."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):  # git missing, not a repo, no commit yet, hung
        return "unknown"
    return f"{head}-dirty" if dirty else head


def write_run_info(
    run_dir: str | os.PathLike[str], params: dict[str, Any], argv: Sequence[str] | None = None
) -> Path:
    """Write `config.yaml` (the resolved parameters) and `command.txt` (command, git hash, date, host).

    Args:
        run_dir: the run folder (created).
        params: the parameters passed to the notebook.
        argv: the command line; defaults to `sys.argv`.

    Returns:
        The run folder.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(run_dir / "config.yaml") as tmp:
        tmp.write_text(yaml.safe_dump(dict(params), sort_keys=False), encoding="utf-8")
    argv = list(sys.argv if argv is None else argv)
    lines = [
        f"command: {shlex.join(argv)}",
        f"cwd: {os.getcwd()}",
        f"git: {git_hash()}",
        f"date: {_dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"host: {platform.node()}",
        f"python: {sys.executable} ({platform.python_version()})",
    ]
    with atomic_write(run_dir / "command.txt") as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return run_dir


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def read_status(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The run folder's `status.json`, or None when absent or unreadable (an interrupted run)."""
    try:
        return json.loads((Path(run_dir) / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def is_finished(run_dir: str | os.PathLike[str]) -> bool:
    """Whether the run folder holds a successful run (`status.json` says ``done``)."""
    status = read_status(run_dir)
    return bool(status) and status.get("status") == "done"


#: Parameters that choose *how much* an item runs, not what its results are: a finished item may be
#: extended (more folds resume the finished ones) without counting as run with other parameters.
_EXTENT_PARAMETERS = ("run_folds", "output_dir", "num_workers")


def changed_parameters(item: RunItem) -> list[tuple[str, Any, Any]]:
    """The parameters whose values differ from those the item's folder was run with (its
    `config.yaml`), as ``(key, old, new)``; empty when the folder holds no run."""
    from fervlm.fingerprint import changed_keys

    path = item.output_dir / "config.yaml"
    if not path.is_file():
        return []
    try:
        saved = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        saved = {"config.yaml": "unreadable"}
    return changed_keys(saved, item.parameters, ignore=_EXTENT_PARAMETERS)


# ---------------------------------------------------------------------------------------------
# Kernel


def _spec_python(argv: Sequence[str]) -> str:
    """The interpreter a kernel spec starts; jupyter_client maps a bare ``python``/``python3`` to ours."""
    exe = argv[0] if argv else ""
    if exe in {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])}:
        return sys.executable
    return exe


def _same_python(exe: str) -> bool:
    try:
        return (
            os.path.samefile(exe, sys.executable) or Path(exe).absolute() == Path(sys.executable).absolute()
        )
    except OSError:
        return False


def resolve_kernel(kernel: str | None = None, install_prefix: str | os.PathLike[str] | None = None) -> str:
    """The Jupyter kernel to execute notebooks with: one whose Python is this interpreter (fervlm installed).

    Order: `kernel` if given (must exist); else ``python3`` when it starts this interpreter (the venv's
    ipykernel ships it with argv ``python``, which jupyter_client replaces by `sys.executable`); else any
    installed spec that starts this interpreter; else a spec ``fervlm-<hash>`` is written for
    `sys.executable` under `install_prefix` (default `sys.prefix`, i.e. inside the virtual environment,
    nothing in the user's home) and used.

    Raises:
        ValueError: `kernel` names no installed kernel spec (the message lists those that exist).
    """
    from jupyter_client.kernelspec import KernelSpecManager

    ksm = KernelSpecManager()
    specs = ksm.find_kernel_specs()
    if kernel is not None:
        if kernel not in specs:
            raise ValueError(
                f"--kernel {kernel!r}: no such Jupyter kernel; installed: {', '.join(sorted(specs))}"
            )
        return kernel
    ordered = ["python3", *sorted(n for n in specs if n != "python3")]
    for name in ordered:
        if name not in specs:
            continue
        spec = ksm.get_kernel_spec(name)
        if spec.language.lower() == "python" and _same_python(_spec_python(spec.argv)):
            return name
    from ipykernel.kernelspec import install

    name = "fervlm-" + hashlib.sha1(sys.executable.encode()).hexdigest()[:8]
    prefix = str(install_prefix if install_prefix is not None else sys.prefix)
    install(kernel_name=name, display_name=f"Python (fervlm, {sys.executable})", prefix=prefix)
    return name


# ---------------------------------------------------------------------------------------------
# Planning


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
    import papermill

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
        declared = list(papermill.inspect_notebook(str(path)))
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


# ---------------------------------------------------------------------------------------------
# Execution


def _error_text(exc: BaseException) -> str:
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename:  # papermill.PapermillExecutionError: the notebook's own exception
        cell = getattr(exc, "exec_count", None)
        return f"{ename}: {evalue} (cell In [{cell}])"
    return f"{type(exc).__name__}: {exc}"


def run_item(
    item: RunItem,
    force: bool = False,
    kernel: str | None = None,
    timeout: float | None = None,
    argv: Sequence[str] | None = None,
) -> ItemResult:
    """Execute one item with papermill into its run folder; never raises for a failing notebook.

    A finished item (status ``done``) is skipped unless `force`, or reported as failed when its parameters
    changed since (`changed_parameters`). `force` empties the item's folder first. Otherwise the old status is
    removed first
    (so an interrupted run never looks finished), the run info is written, the notebook executes as
    `<stem>.partial.ipynb` with the kernel's output going to `log.txt`, and on success it is renamed to
    `<stem>.ipynb`; `status.json` is written last, atomically.

    Args:
        item: from `plan_sweep`.
        force: run from scratch (the folder emptied) even when finished.
        kernel: Jupyter kernel name; default `resolve_kernel()`.
        timeout: per-cell execution timeout in seconds (default: none).
        argv: the command line recorded in `command.txt` (default `sys.argv`).

    Returns:
        An `ItemResult`; a failed run has status ``failed``, the error text and the partial notebook.
    """
    import papermill

    from fervlm.fingerprint import describe_changes
    from fervlm.quiet import quiet_engine

    changes = changed_parameters(item)
    if not force and is_finished(item.output_dir):
        if changes:  # its results are not those of the parameters asked for: say so, touch nothing
            error = (
                f"{item.output_dir}: finished with other parameters ({describe_changes(changes)}); "
                "--force runs it again from scratch, or use a new --output-root"
            )
            return ItemResult(item, "failed", error=error, notebook=item.executed_path)
        return ItemResult(item, "skipped", notebook=item.executed_path)
    out = item.output_dir
    if force and out.is_dir():
        import shutil

        # From scratch: fold checkpoints and metrics left there would be resumed or skipped by the
        # notebook, and refused when their settings differ (fervlm.fingerprint).
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / STATUS_FILE).unlink(missing_ok=True)
    kernel = kernel or resolve_kernel()
    write_run_info(out, item.parameters, argv)
    started = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
    t0 = time.perf_counter()
    error = ""
    with open(item.log_path, "w", encoding="utf-8") as log:
        try:
            papermill.execute_notebook(
                str(item.notebook_path),
                str(item.partial_path),
                parameters=item.parameters,
                kernel_name=kernel,
                cwd=str(REPO_ROOT),
                log_output=False,
                progress_bar=False,
                stdout_file=log,
                stderr_file=log,
                execution_timeout=timeout,
                **quiet_engine(),  # no TCP / Dash warnings (fervlm.quiet)
            )
            os.replace(item.partial_path, item.executed_path)
        except Exception as exc:  # a failing notebook (or kernel) is reported; the sweep goes on
            error = _error_text(exc)
            log.write(f"\n--- run failed: {error}\n")
            log.write("".join(traceback.format_exception(exc)))
    seconds = time.perf_counter() - t0
    status = "failed" if error else "done"
    notebook = item.partial_path if error else item.executed_path
    _write_json_atomic(
        out / STATUS_FILE,
        {
            "status": status,
            "notebook": str(notebook),
            "log": str(item.log_path),
            "error": error,
            "started": started,
            "seconds": round(seconds, 3),
            "kernel": kernel,
        },
    )
    return ItemResult(item, status, seconds, error, notebook)


def ensure_profile_prior(profile: Profile, verbose: bool = True) -> Path | None:
    """Build the FACS prior a profile asks for (``weights: facs``) once, before its notebooks load it.

    The prior (`fervlm pretrain`) is built with its default settings when its file is missing and reused
    otherwise, so `make demo` pays for it on the first run only. Returns its path, or None when the
    profile uses other weights.
    """
    if str(profile.weights).strip().lower() != "facs":
        return None
    from fervlm.pretrain import PRESETS, ensure_prior, prior_path

    path = prior_path(profile.backbone)
    if not path.is_file():
        if verbose:
            print(
                f"profile {profile.name!r} uses weights=facs: building the FACS prior {path} once "
                "(`fervlm pretrain`)",
                flush=True,
            )
        ensure_prior(PRESETS["default"].replace(backbone=profile.backbone), path, progress=verbose)
    return path


def sweep(
    profile: Profile | str,
    notebooks: Sequence[str] | None = None,
    datasets: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    folds: Sequence[int] | None = None,
    root: str | os.PathLike[str] = "outputs",
    force: bool = False,
    kernel: str | None = None,
    timeout: float | None = None,
    argv: Sequence[str] | None = None,
    verbose: bool = True,
) -> pd.DataFrame:
    """Plan and execute a sweep, skipping finished items, going on past failures; aggregate the metrics.

    Returns:
        One row per item: notebook, dataset, method, status (done / skipped / failed), seconds, error,
        output_dir, log, notebook_file. `<root>/<profile>/results.csv` is rewritten when metrics exist.
    """
    from fervlm.outdir import ensure_writable

    profile = load_profile(profile)
    ensure_writable(root)  # before the first notebook runs, not inside it
    items = plan_sweep(profile, notebooks, datasets, methods, folds, root)
    todo = [it for it in items if force or not is_finished(it.output_dir)]
    if todo:
        ensure_profile_prior(profile, verbose=verbose)
    kernel_name = resolve_kernel(kernel) if todo else kernel or ""
    if verbose and todo:
        print(
            f"sweep {profile.name}: {len(items)} items, {len(todo)} to run, kernel {kernel_name!r}",
            flush=True,
        )
    rows = []
    for i, it in enumerate(items, 1):
        res = run_item(it, force=force, kernel=kernel_name or None, timeout=timeout, argv=argv)
        if verbose and res.status != "skipped":
            extra = f" — {res.error}" if res.error else ""
            print(f"[{i}/{len(items)}] {it.label}: {res.status} ({res.seconds:.1f} s){extra}", flush=True)
        rows.append(
            {
                "notebook": it.notebook,
                "dataset": it.dataset or "",
                "method": it.method or "",
                "status": res.status,
                "seconds": round(res.seconds, 2),
                "error": res.error,
                "output_dir": str(it.output_dir),
                "log": str(it.log_path),
                "notebook_file": str(res.notebook or ""),
            }
        )
    table = pd.DataFrame(
        rows,
        columns=[
            "notebook",
            "dataset",
            "method",
            "status",
            "seconds",
            "error",
            "output_dir",
            "log",
            "notebook_file",
        ],
    )
    profile_dir = Path(root).absolute() / profile.name
    if profile_dir.is_dir():
        aggregate_results(profile_dir)
    if verbose:
        print(summarize(table), flush=True)
    return table


def summarize(table: pd.DataFrame) -> str:
    """A short text summary of a sweep table: counts, then each failed item with its log."""
    counts = {s: int((table["status"] == s).sum()) for s in ("done", "skipped", "failed")}
    lines = [", ".join(f"{n} {s}" for s, n in counts.items())]
    for row in table[table["status"] == "failed"].itertuples():
        label = "/".join(p for p in (row.notebook, row.dataset, row.method) if p)
        lines.append(f"  FAILED {label}: {row.error}\n    log: {row.log}\n    notebook: {row.notebook_file}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Aggregation

_META_KEYS = ("profile", "notebook", "dataset", "method", "variant", "fold", "data_kind")
#: Run labels kept as text after the meta keys: the protocol of every number (fervlm.protocols).
_TEXT_KEYS = ("prompt_source",)


def _flatten(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Scalar numbers of a (nested) metrics dict; nested keys joined with '.'; lists and strings dropped."""
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        elif isinstance(value, bool):
            flat[name] = float(value)
        elif isinstance(value, (int, float)):
            flat[name] = value
        elif value is None and not prefix:  # write_metrics stores NaN as null
            flat[name] = float("nan")
    return flat


def _item_dir(metrics_path: Path, profile_dir: Path) -> Path:
    """The run folder a metrics file belongs to: the nearest parent with config.yaml or status.json."""
    for parent in metrics_path.parents:
        if parent == profile_dir:
            break
        if (parent / "config.yaml").is_file() or (parent / STATUS_FILE).is_file():
            return parent
    return metrics_path.parent


def _path_labels(metrics_path: Path, profile_dir: Path) -> dict[str, str]:
    """notebook / dataset / method / fold from the folder names (contract point 3) and the item's config."""
    parts = list(metrics_path.relative_to(profile_dir).parts[:-1])
    labels = {
        "notebook": parts[0] if parts else "",
        "dataset": "",
        "method": "",
        "variant": "",
        "fold": "summary",
    }
    fold_parts = [p for p in parts[1:] if _FOLD_DIR.match(p)]
    if fold_parts:
        labels["fold"] = str(int(_FOLD_DIR.match(fold_parts[-1]).group(1)))
    rest = [p for p in parts[1:] if not _FOLD_DIR.match(p)]
    item_dir = _item_dir(metrics_path, profile_dir)
    if item_dir != metrics_path.parent:
        # A notebook that runs several configurations (prompt sources, ablations) puts each in a
        # sub-folder of its item: that sub-path names the variant.
        inner = metrics_path.parent.relative_to(item_dir).parts
        labels["variant"] = "/".join(p for p in inner if not _FOLD_DIR.match(p))
    config_file = item_dir / "config.yaml"
    config: dict[str, Any] = {}
    if config_file.is_file():
        try:
            config = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            config = {}
    if config.get("dataset") or config.get("method"):
        labels["dataset"] = str(config.get("dataset") or "")
        labels["method"] = str(config.get("method") or "")
    elif len(rest) >= 2:
        labels["dataset"], labels["method"] = rest[0], rest[1]
    elif len(rest) == 1:  # one level: a method when it names one, else a dataset
        labels["method" if rest[0] in KNOWN_METHODS else "dataset"] = rest[0]
    return labels


def aggregate_results(profile_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """Collect every `metrics.json` (and `summary.json`) of one profile's outputs into one table.

    Columns: profile, notebook, dataset, method, fold (the `fold-KK` number, or ``"summary"`` for a file at
    item level), data_kind (``synthetic``/``real`` when the metrics record it, else ""), prompt_source
    (``label``/``pseudo``: the protocol, `fervlm.protocols`; "" when not recorded), then every scalar
    metric (accuracy, macro_f1, nmi, ``*_mean``, ``*_std``, …; nested dicts flattened as ``a.b``). Labels
    recorded inside the metrics file win over those read from the folders. The table is written atomically
    to ``<profile_dir>/results.csv``.

    Args:
        profile_dir: ``<outputs>/<profile>``; its name is the profile column.

    Returns:
        The table, sorted by notebook, dataset, method, fold.
    """
    profile_dir = Path(profile_dir).absolute()
    if not profile_dir.is_dir():
        raise FileNotFoundError(f"outputs folder {profile_dir} does not exist")
    files = sorted(
        p
        for pattern in ("metrics.json", "summary.json")
        for p in profile_dir.rglob(pattern)
        if not any(part.startswith(".") for part in p.relative_to(profile_dir).parts)
    )
    rows = []
    for path in files:
        try:
            metrics = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue  # being written or corrupt: the next aggregation picks it up
        if not isinstance(metrics, dict):
            continue
        row: dict[str, Any] = {
            "profile": profile_dir.name,
            **_path_labels(path, profile_dir),
            "data_kind": "",
            "prompt_source": "",
        }
        for key in ("dataset", "method", "variant", "data_kind", *_TEXT_KEYS):
            if isinstance(metrics.get(key), str) and metrics[key]:
                row[key] = metrics[key]
        if isinstance(metrics.get("fold"), int) and not isinstance(metrics.get("fold"), bool):
            row["fold"] = str(metrics["fold"])
        row.update({k: v for k, v in _flatten(metrics).items() if k not in _META_KEYS})
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        table = pd.DataFrame(columns=[*_META_KEYS, *_TEXT_KEYS])
    metric_cols = sorted(c for c in table.columns if c not in _META_KEYS and c not in _TEXT_KEYS)
    meta = ["profile", "notebook", "dataset", "method", "variant", "fold", "data_kind"]
    table = table[[*meta, *_TEXT_KEYS, *metric_cols]]
    order = table["fold"].map(lambda f: 1 << 30 if f == "summary" else int(f))  # summary after the folds
    table = (
        table.assign(_order=order)
        .sort_values(["notebook", "dataset", "method", "variant", "_order"], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )
    with atomic_write(profile_dir / "results.csv") as tmp:
        table.to_csv(tmp, index=False)
    return table
