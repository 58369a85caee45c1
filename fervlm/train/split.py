"""One train/test split, end to end: the step every protocol (k-fold CV, cross-dataset) shares.

:func:`_fit_split` refuses a run folder holding results of other settings (`fervlm.fingerprint`), returns a
finished run's metrics, else builds the method and data, fits (resuming from ``last.ckpt``; a corrupt one is
set aside, `fervlm.checkpoints`) or fits the non-trained baselines, evaluates, and writes
``predictions.csv`` then ``metrics.json`` (last: its presence marks the run as finished).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from fervlm.checkpoints import usable_checkpoint
from fervlm.datasets.registry import data_kind
from fervlm.fingerprint import check_fold_settings
from fervlm.methods.config import TrainConfig
from fervlm.methods.factory import build_method, resolve_classes
from fervlm.train.datamodule import make_datamodule
from fervlm.train.evaluation import evaluate_method
from fervlm.train.rundir import _global_rank, _write_json
from fervlm.train.trainer import build_trainer


def _as_config(config: TrainConfig | dict[str, Any]) -> TrainConfig:
    """A :class:`TrainConfig` as given, or validated from a flat dict."""
    return config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)


def _fit_split(
    config: TrainConfig,
    table: pd.DataFrame,
    root: Path,
    train_rows: np.ndarray,
    test_rows: np.ndarray,
    run_dir: Path,
    info: dict[str, Any],
    callbacks: Sequence[Any] = (),
    test_table: pd.DataFrame | None = None,
    test_root: Path | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Fit ``config``'s method on ``train_rows`` of ``table``, test it, write the run folder ``run_dir``.

    Args:
        config: the validated configuration.
        table, root: the training table and the folder its view paths are relative to.
        train_rows, test_rows: row positions; test rows index ``test_table`` when one is given.
        run_dir: the fold (or cross-dataset) folder.
        info: recorded in ``config.json`` and ``metrics.json`` (fold number, index paths).
        callbacks: extra Lightning callbacks.
        test_table, test_root: a separate test table (cross-dataset), else ``table`` is tested.
        force: discard the folder's previous results first.

    Returns:
        The metrics (also ``metrics.json``); a finished run's are read back without work.
    """
    import pytorch_lightning as pl

    from fervlm.evaluate import write_metrics
    from fervlm.folds import validation_split

    is_zero = _global_rank() == 0
    if is_zero or not force:  # forced: rank 0 alone removes the old results, the others go on
        check_fold_settings(run_dir, config, force=force)
    metrics_path = run_dir / "metrics.json"
    if metrics_path.is_file() and not force:
        from fervlm.evaluate import read_metrics

        return read_metrics(metrics_path)
    if is_zero:
        run_dir.mkdir(parents=True, exist_ok=True)
        _write_json(run_dir / "config.json", {"config": config.to_dict(), **info})
    start = time.perf_counter()
    pl.seed_everything(config.seed, workers=True, verbose=False)
    method = build_method(config, table)
    classes = method.classes
    if test_table is not None:
        classes_test, _ = resolve_classes(config, test_table)
        unknown = sorted(set(classes_test) - set(classes))
        if unknown:
            raise ValueError(f"test table: classes {unknown} are not among the training classes {classes}")
    val_rows = None
    if config.val_fraction > 0:
        train_rows, val_rows = validation_split(table, train_rows, config.val_fraction, seed=config.seed)
    datamodule = make_datamodule(
        config,
        method,
        table,
        root,
        train_rows,
        test_rows,
        classes,
        val_rows=val_rows,
        test_table=test_table,
        test_root=test_root,
    )
    datamodule.setup("fit")
    fit_info: dict[str, Any] = {}
    if method.trainable:
        trainer = build_trainer(config, run_dir, callbacks)
        method.run_dir = run_dir
        ckpt = run_dir / "last.ckpt"
        what = f"fold {info['fold']}" if "fold" in info else "this run"
        resume = usable_checkpoint(ckpt, what=what, move=is_zero)
        if resume is None and is_zero:
            (run_dir / "history.csv").unlink(missing_ok=True)  # a corrupt run's curves are not this run's
        with warnings.catch_warnings():
            # Expected situations Lightning warns about: few workers on a 2-core machine, a resumed
            # fold's non-empty folder, no validation split, a deprecation inside Lightning itself.
            for message in (
                ".*does not have many workers.*",
                ".*exists and is not empty.*",
                ".*across ranks is zero.*",
                ".*LeafSpec.*",
                ".*smaller than the logging interval.*",
                # Logged values are already global: losses see the gathered batch, accuracy is gathered.
                ".*sync_dist=True.*",
            ):
                warnings.filterwarnings("ignore", message=message)
            trainer.fit(method, datamodule=datamodule, ckpt_path=str(resume) if resume else None)
        # Reload the final state from the checkpoint: identical for in-process DDP and ddp_spawn.
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        method.load_state_dict(state["state_dict"])
        method.on_load_checkpoint(state)
        method.to("cpu")
    elif config.method == "linearprobe":
        fit_info["probe"] = method.fit_probe(datamodule.plain_dataloader("train"))
    elif config.method == "pixels":  # saves the fitted pipeline as fold-KK/pixels.npz
        fit_info["pixels"] = method.fit(datamodule.plain_dataloader("train"), run_dir if is_zero else None)
    metrics, predictions = evaluate_method(method, datamodule.test_dataloader(), classes)
    source = table if test_table is None else test_table
    if "sample_id" in source.columns:
        predictions.insert(1, "sample_id", source["sample_id"].to_numpy()[predictions["index"].to_numpy()])
    datasets = sorted(set(source["dataset"].astype(str))) if "dataset" in source.columns else []
    metrics.update(
        {
            **info,
            # The tested data, so results tables can always say what a number was measured on.
            "dataset": datasets[0] if len(datasets) == 1 else "+".join(datasets),
            "data_kind": data_kind(datasets),
            "method": config.method,
            "prompt_source": config.prompt_source,
            "views": list(config.views),
            "classes": classes,
            "n_train": len(train_rows),
            "n_test": len(test_rows),
            "epochs": config.epochs if method.trainable else 0,
            "wall_time_s": time.perf_counter() - start,
            **fit_info,
        }
    )
    if method.pseudo_rounds:
        metrics["pseudo_rounds"] = method.pseudo_rounds
        metrics["pseudo_label_accuracy"] = [r["accuracy"] for r in method.pseudo_rounds]
    if is_zero:
        predictions.to_csv(run_dir / "predictions.csv", index=False)
        write_metrics(metrics_path, metrics)  # last: marks the fold as finished
    return metrics
