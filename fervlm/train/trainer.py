"""The Lightning ``Trainer`` of a run: CPU, one GPU or DDP (gloo on CPU processes, NCCL on GPUs).

Devices, start methods and multi-node launches are described in the `fervlm.train` docstring.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from fervlm.checkpoints import RandomStates
from fervlm.methods.config import TrainConfig

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
