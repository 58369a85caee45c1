"""`fervlm bench data`: does `FERDataModule`'s training loader keep the training step busy?

Three rates over the same batches (samples per second):

* ``loader``: iterating the train loader alone (mixed-view augmentation, normalisation, collation, workers);
* ``step``: the method's training step on one batch already in memory (what the model can consume);
* ``fed``: the training step fed by the loader, as in training.

``stall = 1 − fed / step`` is the fraction of training time spent waiting for data (0 = the loader keeps
up). On a 2-core machine loader workers compete with the step for the same cores, so ``fed`` can fall
below both other rates; with ``num_workers=0`` the loader's time simply adds to the step's.
"""

from __future__ import annotations

import math
import tempfile
import time
import warnings
from typing import Any

import numpy as np
import torch

__all__ = ["bench_data", "format_data_table"]


def bench_data(
    method: str = "affectvlm",
    backbone: str = "fervlm-quick",
    batch_size: int = 32,
    views: int = 3,
    n_subjects: int = 16,
    num_workers: int | None = None,
    batches: int = 6,
    seed: int = 0,
) -> dict[str, Any]:
    """Measure loader throughput against the training step's consumption on a toy prepared table.

    Args:
        method: affectvlm, multiviewvlm or smilevlm (SMILE-VLM's loader yields two augmentations).
        backbone: open_clip architecture; the images are loaded at its input size.
        batch_size: samples per batch.
        views: views per sample (1–3).
        n_subjects: toy subjects (6 samples each, `fervlm.benchmarks.toy.make_toy_table`).
        num_workers: loader workers (None: `fervlm.data.default_num_workers`).
        batches: timed batches per measurement (after one warm-up batch).
        seed: seed of the table, the model and the loader.

    Returns:
        A dict with settings, ``cache_build_s`` (decoding every image once), ``loader_samples_per_s``,
        ``loader_images_per_s``, ``step_samples_per_s``, ``fed_samples_per_s``, ``stall`` and
        ``keeps_up`` (loader rate ≥ step rate).
    """
    from fervlm.benchmarks.toy import make_toy_table
    from fervlm.data import load_table
    from fervlm.method_names import TRAINED_METHODS as TRAINED
    from fervlm.methods.config import load_config
    from fervlm.methods.factory import build_method
    from fervlm.train.datamodule import make_datamodule

    if method not in TRAINED:
        raise ValueError(f"method={method!r}: bench data feeds a trained method, one of {TRAINED}")
    if not 1 <= views <= 3:
        raise ValueError(f"views={views}: the toy table has 1 to 3 views")
    if batch_size < 2 or batch_size * (batches + 1) > 6 * n_subjects:
        raise ValueError(
            f"batch_size={batch_size}, batches={batches}: need batch_size >= 2 and "
            f"(batches + 1) * batch_size <= {6 * n_subjects} toy samples (raise n_subjects)"
        )
    yaws = (-30, 0, 30)[:views]
    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as folder:
        config = load_config(
            profile="quick",
            method=method,
            backbone=backbone,
            batch_size=batch_size,
            views=[str(y) for y in yaws],
            seed=seed,
            num_workers=num_workers,
        )
        # Toy images are small; the cache resizes them to the backbone's input size, as for real views.
        table, root = load_table(make_toy_table(folder, n_subjects=n_subjects, yaws=yaws, size=32, seed=seed))
        model = build_method(config, table)
        rows = np.arange(len(table))
        # The tower's own input size (the toy images are resized to it), whatever the quick profile's size.
        size = model.backbone.image_size
        dm = make_datamodule(config, model, table, root, rows, rows[:1], image_size=size)
        t0 = time.perf_counter()
        dm.setup("fit")  # decodes every image once (the in-memory cache)
        cache_s = time.perf_counter() - t0
    loader = dm.train_dataloader()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model.train()

    def step(batch: dict[str, Any]) -> None:
        opt.zero_grad(set_to_none=True)
        model.training_step(batch, 0).backward()
        opt.step()

    def timed_loader(consume: bool) -> float:
        it = iter(loader)
        batch = next(it)  # warm-up: worker start, first batch
        if consume:
            step(batch)
        t = time.perf_counter()
        for _ in range(batches):
            batch = next(it)
            if consume:
                step(batch)
        return time.perf_counter() - t

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*self.log.*")
        loader_s = timed_loader(consume=False)
        fixed = next(iter(loader))
        step(fixed)  # warm-up
        t = time.perf_counter()
        for _ in range(batches):
            step(fixed)
        step_s = time.perf_counter() - t
        fed_s = timed_loader(consume=True)
    n = batches * batch_size
    per_sample_images = views * (2 if method == "smilevlm" else 1)
    loader_rate, step_rate, fed_rate = n / loader_s, n / step_s, n / fed_s
    return {
        "method": method,
        "backbone": backbone,
        "batch_size": batch_size,
        "views": views,
        "image_size": size,
        "num_workers": dm.num_workers,
        "threads": torch.get_num_threads(),
        "batches": batches,
        "cache_build_s": cache_s,
        "loader_samples_per_s": loader_rate,
        "loader_images_per_s": loader_rate * per_sample_images,
        "step_samples_per_s": step_rate,
        "fed_samples_per_s": fed_rate,
        "stall": max(0.0, 1.0 - fed_rate / step_rate) if math.isfinite(step_rate) else math.nan,
        "keeps_up": loader_rate >= step_rate,
    }


def format_data_table(results: list[dict[str, Any]]) -> str:
    """A fixed-width table of `bench_data` results (one row per configuration)."""
    if not results:
        return "bench data: no results"
    lines = [
        "data-loader benchmark (samples/s; stall = share of training time waiting for data)",
        f"{'method':13s} {'backbone':13s} {'batch':>5s} {'px':>4s} {'workers':>7s} {'loader':>8s} "
        f"{'img/s':>8s} {'step':>8s} {'fed':>8s} {'stall':>6s} keeps up",
    ]
    for r in results:
        lines.append(
            f"{r['method']:13s} {r['backbone']:13s} {r['batch_size']:5d} {r['image_size']:4d} "
            f"{r['num_workers']:7d} {r['loader_samples_per_s']:8.1f} {r['loader_images_per_s']:8.1f} "
            f"{r['step_samples_per_s']:8.1f} {r['fed_samples_per_s']:8.1f} {r['stall']:6.2f} "
            f"{'yes' if r['keeps_up'] else 'no'}"
        )
    return "\n".join(lines)
