"""Distributed-training time per epoch for N devices × batch sizes (AffectVLM Fig. 4, MultiviewVLM Fig. 5).

Both papers report how long one training epoch takes with 1, 2, 4, … GPUs and global batch sizes 8 … 256
under PyTorch DDP. :func:`measure_timings` repeats that experiment for one method on whatever this
machine has: NCCL over GPUs when they are present, otherwise gloo over CPU *processes* (Lightning's
``ddp_spawn``, one process per "device"). For every configuration it trains ``epochs`` epochs on the
whole prepared table and times epochs ``2 … E`` with :class:`EpochTimer` (the first epoch pays for
process start-up, lazy initialisation and allocator warm-up, so it is excluded). An epoch is timed from
the callback's ``on_train_epoch_start`` to its ``on_train_epoch_end`` — data loading, forward, the
gathered batch-wide losses, backward with DDP's gradient all-reduce and the optimiser step — without the
checkpoint written after it. Every rank records its own times; the epoch time is the slowest rank's.

The speedup of ``W`` devices at batch size ``B`` is ``S(W, B) = T(1, B) / T(W, B)`` and the parallel
efficiency ``S / W``. ``B`` is the *global* batch (`fervlm.data.GlobalBatchSampler`): each process gets
``B / W`` samples per step, so an epoch always has the same number of optimiser steps and computes the
same gradients (`fervlm.distributed`) whatever ``W`` is.

**What the numbers mean depends on the machine, and the table records it** (:func:`hardware_info`):
gloo "devices" are processes sharing the machine's CPU cores; Lightning gives each ``cores / W`` threads.
On a 2-core machine two processes therefore share the same two cores that one process used, so no
speedup is possible; the communication and the smaller per-process batches make it a slowdown. Speedups
like the papers' need one accelerator (or one set of cores) per process.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytorch_lightning as pl

from fervlm.utils import atomic_write

__all__ = [
    "EpochTimer",
    "TimingResult",
    "hardware_info",
    "measure_timings",
    "read_timings",
    "speedup_table",
    "time_configuration",
]

#: Columns of the timing table, in order.
COLUMNS = (
    "method",
    "backbone",
    "image_size",
    "views",
    "accelerator",
    "backend",
    "devices",
    "batch_size",
    "per_device_batch",
    "threads_per_process",
    "n_train",
    "steps_per_epoch",
    "epochs_timed",
    "epoch_time_s",
    "epoch_time_min_s",
    "epoch_time_max_s",
    "samples_per_s",
    "speedup",
    "efficiency",
    "status",
)


class EpochTimer(pl.Callback):
    """Lightning callback: wall time of every training epoch on every rank, written to ``folder``.

    Each rank writes ``epoch_times_rank<r>.json`` (``{"epoch_times_s": [...]}``) atomically at the end of
    every epoch, so the numbers survive ``ddp_spawn`` (whose worker processes return nothing).
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.times: list[float] = []
        self._start = math.nan

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        self.times.append(time.perf_counter() - self._start)
        path = self.folder / f"epoch_times_rank{int(trainer.global_rank)}.json"
        with atomic_write(path) as tmp:
            tmp.write_text(json.dumps({"epoch_times_s": self.times}))


def hardware_info() -> dict[str, Any]:
    """What produced the numbers: CPU model and cores, GPUs, library versions."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {
        "host": platform.node(),
        "cpu": cpu,
        "cpu_cores": os.cpu_count() or 1,
        "cpu_cores_usable": usable,
        "gpus": gpus,
        "gpu_count": len(gpus),
        "torch": torch.__version__,
        "cuda": torch.version.cuda or "",
        "pytorch_lightning": pl.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan,
    }


def _resolve_accelerator(accelerator: str) -> str:
    import torch

    if accelerator == "auto":
        return "gpu" if torch.cuda.is_available() else "cpu"
    if accelerator not in ("cpu", "gpu", "cuda"):
        raise ValueError(f"accelerator={accelerator!r}: must be 'auto', 'cpu', 'gpu' or 'cuda'")
    return "gpu" if accelerator == "cuda" else accelerator


def time_configuration(config: Any, table: pd.DataFrame, root: Path, run_dir: Path) -> list[float]:
    """Train ``config`` on every row of ``table`` and return the per-epoch times (slowest rank per epoch).

    Args:
        config: a `fervlm.methods.config.TrainConfig` (its devices/accelerator/strategy choose DDP).
        table, root: a prepared table and its folder (`fervlm.data.load_table`).
        run_dir: scratch folder for the checkpoint, logs and the per-rank ``epoch_times_rank*.json``.
    """
    import numpy as np

    from fervlm.methods.factory import build_method
    from fervlm.train import build_trainer
    from fervlm.train.datamodule import make_datamodule

    run_dir.mkdir(parents=True, exist_ok=True)
    for old in run_dir.glob("epoch_times_rank*.json"):
        old.unlink()
    pl.seed_everything(config.seed, workers=True, verbose=False)
    method = build_method(config, table)
    rows = np.arange(len(table))
    datamodule = make_datamodule(config, method, table, root, rows, rows[:1])
    datamodule.setup("fit")
    trainer = build_trainer(config, run_dir, [EpochTimer(run_dir)])
    with warnings.catch_warnings():
        for message in (
            ".*does not have many workers.*",
            ".*exists and is not empty.*",
            ".*LeafSpec.*",
            ".*smaller than the logging interval.*",
            ".*sync_dist=True.*",
        ):
            warnings.filterwarnings("ignore", message=message)
        trainer.fit(method, datamodule=datamodule)
    files = sorted(run_dir.glob("epoch_times_rank*.json"))
    per_rank = [json.loads(p.read_text())["epoch_times_s"] for p in files]
    if not per_rank:
        raise RuntimeError(f"{run_dir}: training finished but no rank wrote its epoch times")
    return [max(times) for times in zip(*per_rank, strict=False)]


@dataclass
class TimingResult:
    """The timing table and the hardware that produced it (:func:`measure_timings`)."""

    table: pd.DataFrame
    hardware: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def save(self, folder: str | Path) -> tuple[Path, Path]:
        """Write ``timings.csv`` and ``timings.json`` (hardware, settings, rows) atomically."""
        folder = Path(folder)
        csv_path, json_path = folder / "timings.csv", folder / "timings.json"
        with atomic_write(csv_path) as tmp:
            self.table.to_csv(tmp, index=False)
        payload = {
            "hardware": self.hardware,
            "settings": self.settings,
            "rows": json.loads(self.table.to_json(orient="records")),
        }
        with atomic_write(json_path) as tmp:
            tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n")
        return csv_path, json_path


def read_timings(folder: str | Path) -> TimingResult:
    """Read what :meth:`TimingResult.save` wrote."""
    path = Path(folder) / "timings.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist (run measure_timings first)")
    payload = json.loads(path.read_text())
    table = pd.DataFrame(payload["rows"], columns=list(COLUMNS))
    return TimingResult(table, payload.get("hardware", {}), payload.get("settings", {}))


def speedup_table(table: pd.DataFrame) -> pd.DataFrame:
    """Add ``speedup = T(1, B) / T(W, B)`` and ``efficiency = speedup / W`` (NaN without T(1, B))."""
    table = table.copy()
    ok = table["status"] == "ok"
    single = table[ok & (table["devices"] == 1)].set_index("batch_size")["epoch_time_s"]
    base = table["batch_size"].map(single)
    table["speedup"] = (base / table["epoch_time_s"]).where(ok)
    table["efficiency"] = table["speedup"] / table["devices"]
    return table


def _skip_reason(devices: int, batch: int, n_train: int, accelerator: str) -> str:
    import torch

    if batch > n_train:
        return f"skipped: batch {batch} > {n_train} training samples"
    if batch < 2 * devices:
        return f"skipped: batch {batch} gives fewer than 2 samples per device"
    if accelerator == "gpu" and devices > torch.cuda.device_count():
        return f"skipped: {devices} GPUs requested, {torch.cuda.device_count()} present"
    return ""


def measure_timings(
    index_csv: str | Path,
    out_dir: str | Path,
    method: str = "affectvlm",
    devices_list: Sequence[int] = (1, 2),
    batch_sizes: Sequence[int] = (8, 16, 32),
    epochs: int = 3,
    profile: str | None = "quick",
    accelerator: str = "auto",
    resume: bool = True,
    **overrides: Any,
) -> TimingResult:
    """Time training epochs for every ``devices × batch size`` and save ``timings.csv`` / ``timings.json``.

    AffectVLM Fig. 4 / MultiviewVLM Fig. 5: epoch time against the number of devices for each global batch
    size. Configurations that cannot run here (a batch larger than the data, fewer than 2 samples per
    device, more GPUs than present) get a ``skipped: …`` status; a configuration that fails (e.g. out of
    memory) gets ``failed: …`` and the others still run.

    Args:
        index_csv: a prepared table (`fervlm.experiments.prepare_dataset`); every row is trained on.
        out_dir: where ``timings.csv``/``.json`` and one scratch folder per configuration
            (``runs/d<W>-b<B>/``) go.
        method: a trained method (affectvlm, multiviewvlm, smilevlm).
        devices_list: numbers of devices (GPUs, or gloo CPU processes without GPUs).
        batch_sizes: global batch sizes.
        epochs: epochs per configuration; epochs 2..E are timed (so at least 2).
        profile: `fervlm.methods.config.load_config` profile for the other settings.
        accelerator: ``"auto"`` (GPU when present), ``"cpu"`` or ``"gpu"``.
        resume: reuse the epoch times of a configuration already measured in ``out_dir`` (same settings).
        **overrides: further `TrainConfig` fields (backbone, image_size, views, seed, num_workers, …).

    Returns:
        A :class:`TimingResult`: a row per configuration (columns :data:`COLUMNS`), hardware, settings.
    """
    from fervlm.data import load_table
    from fervlm.methods.config import load_config

    if epochs < 2:
        raise ValueError(f"epochs={epochs}: need at least 2 (the first epoch is warm-up and is not timed)")
    if not devices_list or any(int(d) < 1 for d in devices_list):
        raise ValueError(f"devices_list={list(devices_list)}: give device counts >= 1")
    if not batch_sizes or any(int(b) < 2 for b in batch_sizes):
        raise ValueError(f"batch_sizes={list(batch_sizes)}: give batch sizes >= 2 (batch-wide losses)")
    out_dir = Path(out_dir)
    table, root = load_table(index_csv)
    acc = _resolve_accelerator(accelerator)
    hardware = hardware_info()
    cores = hardware["cpu_cores_usable"]
    rows: list[dict[str, Any]] = []
    for devices in sorted({int(d) for d in devices_list}):
        for batch in sorted({int(b) for b in batch_sizes}):
            config = load_config(
                profile=profile,
                method=method,
                accelerator=acc,
                devices=devices,
                batch_size=batch,
                epochs=epochs,
                strategy="ddp_spawn" if devices > 1 else "auto",
                schedule="constant",
                **overrides,
            )
            n_views = len(config.views)
            row: dict[str, Any] = {
                "method": method,
                "backbone": config.backbone,
                "image_size": config.image_size or 0,
                "views": n_views,
                "accelerator": acc,
                "backend": "none" if devices == 1 else ("nccl" if acc == "gpu" else "gloo"),
                "devices": devices,
                "batch_size": batch,
                "per_device_batch": batch / devices,
                "threads_per_process": max(1, cores // devices) if acc == "cpu" else 0,
                "n_train": len(table),
                "steps_per_epoch": len(table) // batch,
                "epochs_timed": 0,
                "epoch_time_s": math.nan,
                "epoch_time_min_s": math.nan,
                "epoch_time_max_s": math.nan,
                "samples_per_s": math.nan,
                "status": _skip_reason(devices, batch, len(table), acc),
            }
            run_dir = out_dir / "runs" / f"d{devices}-b{batch}"
            if not row["status"]:
                row["status"] = "ok"
                done = run_dir / "times.json"
                key = json.dumps(config.to_dict(), sort_keys=True, default=str)
                cached = json.loads(done.read_text()) if resume and done.is_file() else {}
                if cached.get("config") == key:
                    times = cached["epoch_times_s"]
                else:
                    try:
                        times = time_configuration(config, table, root, run_dir)
                    except Exception as err:  # one configuration failing (e.g. OOM) must not lose the others
                        times = []
                        row["status"] = f"failed: {type(err).__name__}: {str(err).splitlines()[0][:200]}"
                    else:
                        with atomic_write(done) as tmp:
                            tmp.write_text(json.dumps({"config": key, "epoch_times_s": times}))
                        (run_dir / "last.ckpt").unlink(missing_ok=True)  # scratch: keep the folder small
                timed = times[1:]
                if timed:
                    median = float(pd.Series(timed).median())
                    row.update(
                        epochs_timed=len(timed),
                        epoch_time_s=median,
                        epoch_time_min_s=float(min(timed)),
                        epoch_time_max_s=float(max(timed)),
                        samples_per_s=row["steps_per_epoch"] * batch / median,
                    )
            rows.append(row)
    measured = [c for c in COLUMNS if c not in ("speedup", "efficiency")]
    frame = speedup_table(pd.DataFrame(rows, columns=measured))
    frame = frame[list(COLUMNS)]
    settings = {
        "method": method,
        "profile": profile,
        "epochs": epochs,
        "devices_list": list(devices_list),
        "batch_sizes": list(batch_sizes),
        "accelerator": acc,
        "index_csv": str(index_csv),
        **{k: v for k, v in overrides.items()},
    }
    result = TimingResult(frame, hardware, settings)
    result.save(out_dir)
    return result
