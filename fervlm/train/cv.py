"""Subject-independent k-fold cross-validation (docs/methods.md §5): one fold, or all of them, resumable."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fervlm.data import load_table
from fervlm.fingerprint import check_fold_settings
from fervlm.methods.config import TrainConfig
from fervlm.outdir import ensure_writable
from fervlm.train.rundir import _global_rank, fold_dir
from fervlm.train.split import _as_config, _fit_split


def _folds_for(
    config: TrainConfig, table: pd.DataFrame, out_dir: Path
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The run's folds: read from ``out_dir/folds.json`` when present (resumed runs), else computed."""
    from fervlm.folds import load_folds, save_folds, subject_kfold

    path = out_dir / "folds.json"
    if path.is_file():
        folds = load_folds(path, table)
        if len(folds) != config.folds:
            raise ValueError(f"{path} holds {len(folds)} folds but config folds={config.folds}")
        return folds
    folds = subject_kfold(table, k=config.folds, seed=config.fold_seed)
    if _global_rank() == 0:
        save_folds(path, folds, table, meta={"k": config.folds, "seed": config.fold_seed})
    return folds


def fit_fold(
    config: TrainConfig | dict[str, Any],
    index_path: str | Path,
    fold: int,
    out_dir: str | Path,
    callbacks: Sequence[Any] = (),
    force: bool = False,
) -> dict[str, Any]:
    """Train and evaluate one fold of subject-independent k-fold CV; return its metrics.

    Writes ``out_dir/fold-KK/{config.json, last.ckpt, history.csv, predictions.csv, metrics.json}``.
    A finished fold (``metrics.json`` present) is not recomputed: its metrics are read back. An
    interrupted fold resumes from ``last.ckpt``. Both only with the settings the fold was run with
    (else ``ValueError`` naming the differing keys); a corrupt ``last.ckpt`` is set aside and the
    fold restarts.

    Args:
        config: a :class:`TrainConfig` or flat dict (validated before any work starts).
        index_path: a prepared table (CSV).
        fold: fold number in ``[0, config.folds)``.
        out_dir: the run folder (holds ``folds.json`` and the fold folders).
        callbacks: extra Lightning callbacks (tests, notebooks).
        force: discard the fold's previous results (checkpoint, metrics) and run it from scratch.

    Returns:
        The metrics dict (also in ``metrics.json``): accuracy, macro_f1, per_class_f1,
        confusion_matrix, cluster_acc, nmi, ari, pseudo-label accuracy per round (pseudo-labelled
        runs), wall_time_s, prompt_source, ...
    """
    config = _as_config(config)
    table, root = load_table(index_path)
    from fervlm.methods.config import check_views_in_table

    check_views_in_table(config, table, where=str(index_path))
    if not 0 <= int(fold) < config.folds:
        raise ValueError(f"fold={fold}: must be in [0, {config.folds}) for folds={config.folds}")
    out_dir = Path(out_dir)
    if _global_rank() == 0:
        ensure_writable(out_dir)  # before any work, not at the first checkpoint
    run_dir = fold_dir(out_dir, fold)
    if _global_rank() == 0 or not force:
        check_fold_settings(run_dir, config, force=force)
    if (run_dir / "metrics.json").is_file() and not force:
        from fervlm.evaluate import read_metrics

        return read_metrics(run_dir / "metrics.json")
    folds = _folds_for(config, table, out_dir)
    train_rows, test_rows = folds[int(fold)]
    info = {"fold": int(fold), "index": str(index_path)}
    return _fit_split(config, table, root, train_rows, test_rows, run_dir, info, callbacks, force=force)


def run_cv(
    config: TrainConfig | dict[str, Any],
    index_path: str | Path,
    out_dir: str | Path,
    folds: Sequence[int] | None = None,
    force: bool = False,
) -> pd.DataFrame:
    """k-fold subject-independent cross-validation of one method (resumable).

    Runs :func:`fit_fold` for every fold (or the given ones), then writes ``out_dir/folds.csv``
    (one row of scalar metrics per fold) and ``out_dir/summary.json`` (mean ± std over folds,
    `fervlm.evaluate.summarize`, plus the config and prompt source).

    ``force`` re-runs every chosen fold from scratch (see :func:`fit_fold`).

    Returns:
        The per-fold table (also ``folds.csv``).
    """
    from fervlm.evaluate import summarize, write_metrics

    config = _as_config(config)
    out_dir = Path(out_dir)
    chosen = list(range(config.folds)) if folds is None else [int(f) for f in folds]
    results = [fit_fold(config, index_path, k, out_dir, force=force) for k in chosen]
    rows = [
        {k: v for k, v in m.items() if isinstance(v, (int, float, str, bool)) or v is None} for m in results
    ]
    frame = pd.DataFrame(rows)
    if _global_rank() == 0 and results:
        frame.to_csv(out_dir / "folds.csv", index=False)
        summary = summarize(results)
        summary.update(
            {
                "method": config.method,
                "prompt_source": config.prompt_source,
                "folds_run": chosen,
                "config": config.to_dict(),
            }
        )
        write_metrics(out_dir / "summary.json", summary)
    return frame
