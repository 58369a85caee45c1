"""Run folders and papermill sweeps: the same notebooks at two sizes, every output kept under `outputs/`.

docs/design.md, Conventions "Run folders" and "Same notebooks at two sizes". A *profile*
(`fervlm/resources/profiles/<name>.yaml`: `quick` = synthetic data, tiny backbone, CPU; `paper` = real
data, ViT-B/16, GPU) fixes the values of the notebooks' parameters; `sweep` executes every notebook under that
profile with papermill, one *item* per notebook × dataset × method, each into its own run folder.

Notebook ↔ sweep contract (every notebook in `notebooks/` follows it):

1. The notebook has exactly one code cell tagged ``parameters`` declaring the parameters it accepts, one per
   line, typed and commented (``epochs: int = 2  # training epochs per fold``). It always declares
   ``output_dir: str`` (where everything it writes goes) and ``profile: str`` (the profile's name, for
   titles and for choosing defaults). A notebook that works on one dataset declares ``dataset: str``; one
   that works on one method declares ``method: str``. It may declare any `Profile` field under the same
   name (``backbone``, ``weights``, ``epochs``, ``run_folds``, ``dataset_roots``, …) and these derived ones:
   ``dataset_root`` (the profile's `dataset_roots[dataset]`) and ``data_kind`` (``"synthetic"`` when the
   dataset name starts with ``synthetic``, else ``"real"``). A parameter whose name is a profile key but
   whose meaning is the notebook's own (notebook 06 times one ``method``; notebook 08 runs on its own
   ``dataset``) keeps its natural name and is listed in the notebook's metadata,
   ``{"fervlm": {"own_parameters": ["method"]}}``: the sweep never sets it (`own_parameters`).
2. The sweep reads the declared names with `papermill.inspect_notebook`, less the own parameters
   (`sweep_parameters`), and expands each notebook into the cartesian product of the dimensions it declares:
   ``dataset`` → the profile's datasets, ``method`` → the profile's methods; a notebook declaring neither
   runs once. It passes ONLY those parameters; the others keep the notebook's defaults. ``--folds`` reaches
   the notebooks as ``run_folds`` (folds are not a sweep dimension: a notebook runs its folds itself, e.g.
   through `fervlm.train.run_cv`, and resumes them).
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

from fervlm.profiles import (
    KNOWN_METHODS,
    PARAMS_DIR,
    REPO_ROOT,
    Profile,
    load_profile,
    profile_path,
    quick_default,
    shipped_profiles,
    validate_profile,
)
from fervlm.runs.aggregate import aggregate_results
from fervlm.runs.execute import ensure_profile_prior, run_item, summarize, sweep
from fervlm.runs.kernel import resolve_kernel
from fervlm.runs.plan import (
    NOTEBOOK_GLOB,
    ItemResult,
    RunItem,
    list_notebooks,
    own_parameters,
    plan_sweep,
    plan_table,
    sweep_parameters,
)
from fervlm.runs.provenance import (
    STATUS_FILE,
    changed_parameters,
    git_hash,
    is_finished,
    read_status,
    write_run_info,
)

__all__ = [
    "KNOWN_METHODS",
    "NOTEBOOK_GLOB",
    "PARAMS_DIR",
    "REPO_ROOT",
    "STATUS_FILE",
    "ItemResult",
    "Profile",
    "RunItem",
    "aggregate_results",
    "changed_parameters",
    "ensure_profile_prior",
    "git_hash",
    "is_finished",
    "list_notebooks",
    "load_profile",
    "own_parameters",
    "plan_sweep",
    "plan_table",
    "profile_path",
    "quick_default",
    "read_status",
    "resolve_kernel",
    "run_item",
    "shipped_profiles",
    "summarize",
    "sweep",
    "sweep_parameters",
    "validate_profile",
    "write_run_info",
]
