"""Training runs: one fold, k-fold cross-validation, cross-dataset — resumable, CPU / GPU / DDP.

Run folders (docs/design.md "Run folders")::

    out_dir/
      folds.json            the subject-independent folds used (fervlm.folds.save_folds)
      fold-00/
        config.json         the resolved configuration
        last.ckpt           the latest checkpoint (end of every epoch)
        history.csv         per-epoch loss parts and metrics (loss curves)
        predictions.csv     per test sample: label, prediction, class scores
        pixels.npz          the fitted pixel baseline (method "pixels" only; fervlm.methods.pixels)
        metrics.json        written last: its presence marks the fold as finished
        logs/               Lightning's CSVLogger
      folds.csv, summary.json   (run_cv: per-fold scalars, mean ± std)

* A fold whose ``metrics.json`` exists is skipped; a fold with ``last.ckpt`` but no metrics resumes
  from that checkpoint (epoch, optimiser, pseudo-labels, history and global random states included).
  Both only when the fold's ``config.json`` records the same result-changing settings
  (`fervlm.fingerprint`); otherwise the run is refused in one line naming the differing keys, and
  ``force=True`` (``--force``) starts the fold again from scratch. A ``last.ckpt`` that does not load
  is renamed ``last.ckpt.corrupt`` and the fold restarts (`fervlm.checkpoints`).
* Deterministic for a seed on CPU: ``seed_everything(seed, workers=True)``, deterministic
  algorithms, a data order that depends only on the seed and the epoch
  (:class:`fervlm.data.GlobalBatchSampler`), augmentation draws keyed on (seed, epoch, row), and
  prompt draws keyed on (seed, epoch, sample, view). Hence a fold killed after epoch ``k`` and
  resumed writes the same ``history.csv`` and ``predictions.csv``, byte for byte, as one never
  interrupted (tested on CPU).

**Devices.** The trainer follows what is present and configured: CPU, one GPU, or DDP when
``devices > 1`` or ``num_nodes > 1`` — NCCL on GPUs, gloo on CPU processes (``accelerator="cpu",
devices=N``). ``strategy="ddp"`` re-launches the current command once per extra process (use it from
the ``fervlm`` command line); ``strategy="ddp_spawn"`` spawns them (inside a Jupyter kernel on CPU
it forks: the only start method Lightning allows there). A free ``MASTER_PORT`` is chosen
automatically on a single node. ``batch_size`` is the *global* batch: every process gets
``batch_size / world_size`` samples and the losses gather the global batch, so results match a single
process (tested).

**Multi-node.** Start one process per GPU with the cluster's launcher and let Lightning read the
environment; every process runs the same command, e.g. with torchrun on 2 nodes × 4 GPUs::

    torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint HOST:29500 \\
        -m fervlm.cli cv --method affectvlm --index index.csv --out runs/affect \\
        --set devices=4 --set num_nodes=2 --set strategy=ddp

or under SLURM (``#SBATCH --nodes=2 --ntasks-per-node=4 --gpus-per-node=4``)::

    srun fervlm cv --method affectvlm --index index.csv --out runs/affect \\
        --set devices=4 --set num_nodes=2 --set strategy=ddp

(Lightning's SLURM/torchelastic environments supply ranks and the master address; ``MASTER_PORT``
is then left to the launcher.) Only global rank 0 writes files.
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from fervlm.checkpoints import RandomStates, usable_checkpoint
from fervlm.data import FERDataModule, load_table, normalization_of
from fervlm.datasets.registry import data_kind
from fervlm.fingerprint import check_fold_settings
from fervlm.methods.config import TrainConfig
from fervlm.methods.factory import build_method, resolve_classes
from fervlm.outdir import ensure_writable
from fervlm.utils import atomic_write_text

__all__ = ["build_trainer", "cross_dataset", "evaluate_method", "fit_fold", "fold_dir", "run_cv"]


def fold_dir(out_dir: str | Path, fold: int) -> Path:
    """``out_dir/fold-KK``."""
    return Path(out_dir) / f"fold-{int(fold):02d}"


def _as_config(config: TrainConfig | dict[str, Any]) -> TrainConfig:
    return config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)


def _global_rank() -> int:
    for key in ("RANK", "SLURM_PROCID", "GLOBAL_RANK"):
        if key in os.environ:
            return int(os.environ[key])
    from fervlm.distributed import rank

    return rank()


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(payload, indent=2, default=str) + "\n")


# ---------------------------------------------------------------------------------------------
# Trainer


_OUR_PORT: str | None = None  # the MASTER_PORT this process chose, so a later run can replace it


def _choose_master_port(config: TrainConfig) -> None:
    """Pick a free ``MASTER_PORT`` for single-node DDP unless a launcher (torchrun, SLURM) set one.

    Processes that Lightning or a launcher started (``LOCAL_RANK`` set) keep the port they inherited;
    a port this process chose for an earlier run is replaced, since it may be taken by now.
    """
    global _OUR_PORT
    from fervlm.distributed import free_port

    if config.num_nodes != 1 or "LOCAL_RANK" in os.environ:
        return
    if os.environ.get("MASTER_PORT") in (None, _OUR_PORT):
        _OUR_PORT = str(free_port())
        os.environ["MASTER_PORT"] = _OUR_PORT
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")


def _in_notebook() -> bool:
    """Whether we run inside an interactive (Jupyter/IPython) session, where Lightning forbids spawn."""
    from lightning_fabric.utilities.imports import _IS_INTERACTIVE

    return bool(_IS_INTERACTIVE)


def build_trainer(config: TrainConfig, run_dir: Path, callbacks: Sequence[Any] = ()) -> Any:
    """A Lightning ``Trainer`` for the configured devices (see the module docstring).

    Checkpoints go to ``run_dir/last.ckpt`` at the end of every epoch; logs to ``run_dir/logs``
    (CSVLogger only, quiet).
    """
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import ModelCheckpoint
    from pytorch_lightning.loggers import CSVLogger
    from pytorch_lightning.strategies import DDPStrategy

    if not config.progress_bar:
        # Quiet runs (quick profile, CV loops): keep Lightning's banners ("GPU available: ...") out.
        for name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch", "lightning.fabric"):
            logging.getLogger(name).setLevel(logging.WARNING)
    accelerator = config.accelerator
    if accelerator == "auto":
        accelerator = "gpu" if torch.cuda.is_available() else "cpu"
    if accelerator == "cuda":
        accelerator = "gpu"
    devices = config.devices
    if devices == "auto":
        devices = max(1, torch.cuda.device_count()) if accelerator == "gpu" else 1
    world = int(devices) * config.num_nodes
    strategy: Any = "auto"
    if world > 1:
        _choose_master_port(config)
        backend = "nccl" if accelerator == "gpu" else "gloo"
        launcher = "spawn" if config.strategy == "ddp_spawn" else "popen"
        if launcher == "spawn" and accelerator == "cpu" and _in_notebook():
            # Lightning accepts only "fork" inside a Jupyter kernel; forking is safe for gloo CPU processes
            # (never for CUDA, which is why GPU runs keep "spawn"/"popen" and belong in scripts or sweeps).
            launcher = "fork"
        # Ablations switch loss terms (and the parameters only they use, e.g. logit_scale) off.
        strategy = DDPStrategy(
            process_group_backend=backend,
            find_unused_parameters=bool(config.disabled_losses),
            start_method=launcher,
        )
    checkpoint = ModelCheckpoint(
        dirpath=run_dir,
        filename="last",
        save_top_k=1,
        every_n_epochs=1,
        enable_version_counter=False,
        save_on_train_epoch_end=True,
    )
    deterministic: Any = True if accelerator == "cpu" else "warn"
    return pl.Trainer(
        accelerator=accelerator,
        devices=devices,
        num_nodes=config.num_nodes,
        strategy=strategy,
        precision=config.precision,
        max_epochs=config.epochs,
        deterministic=deterministic if config.deterministic else False,
        callbacks=[checkpoint, RandomStates(), *callbacks],
        logger=CSVLogger(str(run_dir), name="logs", version=""),
        enable_progress_bar=config.progress_bar,
        enable_model_summary=False,
        use_distributed_sampler=False,  # fervlm.data.GlobalBatchSampler shards global batches itself
        # BatchNorm (ResNet towers) must normalise over the global batch for DDP to equal one process.
        # PyTorch's SyncBatchNorm runs on GPUs only: CPU (gloo) processes normalise their own shard, so a
        # ResNet tower under CPU DDP matches one process only approximately (ViT towers exactly).
        sync_batchnorm=world > 1 and accelerator == "gpu",
        limit_train_batches=config.limit_train_batches,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
    )


# ---------------------------------------------------------------------------------------------
# Evaluation


@torch.no_grad()
def evaluate_method(method: Any, loader: Any, classes: Sequence[str]) -> tuple[dict[str, Any], pd.DataFrame]:
    """Predict every sample of ``loader`` and compute the metrics of docs/methods.md §5.

    Returns:
        (metrics, predictions): accuracy, macro-F1, per-class F1, confusion matrix, and the
        clustering accuracy / NMI / ARI of a k-means (k = number of classes) on the fused test
        embeddings; predictions has ``index``, ``label``, ``pred`` and one ``score_<class>`` per class.
    """
    from fervlm.evaluate import classification_metrics, clustering_metrics
    from fervlm.pseudo import kmeans_clusters

    method.eval()
    device = next(method.parameters(), torch.empty(0)).device  # the pixel baseline has no parameters
    preds, scores, embeddings, labels, rows = [], [], [], [], []
    for batch in loader:
        batch = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
        out = method.predict_step(batch)
        preds.append(out["pred"].cpu())
        scores.append(out["scores"].float().cpu())
        embeddings.append(out["embeddings"].float().cpu())
        labels.append(batch["label"].cpu())
        rows.append(batch["index"].cpu())
    pred, score, emb = torch.cat(preds).numpy(), torch.cat(scores).numpy(), torch.cat(embeddings)
    y, idx = torch.cat(labels).numpy(), torch.cat(rows).numpy()
    if (y < 0).any():
        raise ValueError("test split: some labels are not among the configured classes")
    metrics = classification_metrics(y, pred, list(classes))
    k = min(len(classes), len(y))
    if k >= 2:
        cluster_ids, _ = kmeans_clusters(emb, k, seed=0, n_init=4)
        metrics.update(clustering_metrics(y, cluster_ids.numpy()))
    table = pd.DataFrame({"index": idx, "label": y, "pred": pred})
    for c, name in enumerate(classes):
        table[f"score_{name}"] = score[:, c]
    return metrics, table


# ---------------------------------------------------------------------------------------------
# One split


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
    if config.method == "pixels":  # no network: grey pixels at the baseline's own size, in [0, 1]
        size, (mean, std) = config.pixels_size, ((0.0,) * 3, (1.0,) * 3)
    else:
        size = config.image_size or method.backbone.image_size
        mean, std = normalization_of(method.backbone.preprocess_val)
    datamodule = FERDataModule(
        table,
        root,
        train_rows,
        test_rows,
        classes,
        views=config.views,
        image_size=size,
        mean=mean,
        std=std,
        batch_size=config.batch_size,
        augment=config.augment,
        two_views=config.method == "smilevlm",
        num_workers=config.num_workers,
        seed=config.seed,
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


def cross_dataset(
    config: TrainConfig | dict[str, Any],
    train_index: str | Path,
    test_index: str | Path,
    out_dir: str | Path,
    classes: Sequence[str] | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Train on one table, test on another, on a restricted class set (docs/methods.md §5).

    E.g. train on BU-4DFE and test on BP4D tasks T1/T8: ``classes=("happiness", "disgust")``. Test
    rows whose label is not in ``classes`` are left out. Training rows depend on the protocol:

    * ``prompt_source="label"``: training rows whose label is not in ``classes`` are left out too
      (the supervised protocol reads the training labels anyway);
    * ``prompt_source="pseudo"`` (label-free): **no training label is read** — every training row is
      used, the pseudo-labels cluster them into the ``classes``, and without ``classes`` the class
      set is the test table's.

    Results go to ``out_dir`` (same files as a fold folder; resumed, skipped, refused or forced as in
    :func:`fit_fold`).
    """
    config = _as_config(config)
    if classes is not None:
        config = config.replace(classes=tuple(classes))
    train_table, train_root = load_table(train_index)
    test_table, test_root = load_table(test_index)
    label_free = config.prompt_source == "pseudo"
    if label_free and not config.classes:
        config = config.replace(classes=tuple(sorted(set(test_table["label"].astype(str)) - {""})))
    wanted = set(config.classes or train_table["label"].astype(str))
    if label_free:
        train_rows = np.arange(len(train_table))
    else:
        train_rows = np.flatnonzero(train_table["label"].astype(str).isin(wanted).to_numpy())
    test_rows = np.flatnonzero(test_table["label"].astype(str).isin(wanted).to_numpy())
    if len(train_rows) == 0 or len(test_rows) == 0:
        raise ValueError(
            f"classes {sorted(wanted)}: {len(train_rows)} training rows in {train_index} and "
            f"{len(test_rows)} test rows in {test_index}; both need at least one"
        )
    info = {"train_index": str(train_index), "test_index": str(test_index)}
    return _fit_split(
        config,
        train_table,
        train_root,
        train_rows,
        test_rows,
        Path(out_dir),
        info,
        test_table=test_table,
        test_root=test_root,
        force=force,
    )
