"""Executing a sweep: each item with papermill into its run folder, past failures, then the summary."""

from __future__ import annotations

import datetime as _dt
import json
import os
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from fervlm.profiles import REPO_ROOT, Profile, load_profile
from fervlm.runs.aggregate import aggregate_results
from fervlm.runs.kernel import resolve_kernel
from fervlm.runs.plan import ItemResult, RunItem, plan_sweep
from fervlm.runs.provenance import STATUS_FILE, changed_parameters, is_finished, write_run_info
from fervlm.utils import atomic_write

__all__ = ["ensure_profile_prior", "run_item", "summarize", "sweep"]


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


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
