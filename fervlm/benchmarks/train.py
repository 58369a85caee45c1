"""`fervlm bench train`: a method's training step against a bare open_clip image-tower step, same images.

The bare step is the floor any CLIP fine-tuning pays: the image tower's forward and backward over the same
``B × V`` images (``2 × B × V`` for SMILE-VLM, which encodes two augmentations), a CLIP-style cross-entropy
against *precomputed* text embeddings (the text tower is frozen, so neither side runs it), and an AdamW step.
The method's step adds its losses (gathers, pairwise terms, prompt draws, the fusion head) and its
bookkeeping (`FERMethod._step`: accuracy, per-epoch sums). Both run on one machine in interleaved rounds so
that load from other processes hits them alike; the ratio of medians is what to read (target ≤ 1.15×).
"""

from __future__ import annotations

import copy
import math
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from fervlm.method_names import TRAINED_METHODS

__all__ = [
    "add_arguments",
    "bench_train",
    "format_train_table",
    "interleaved_times",
    "main_data",
    "main_train",
    "make_batch",
]

#: The methods a step benchmark can time (`fervlm.method_names`, the one list).
TRAINED = TRAINED_METHODS


def interleaved_times(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Seconds of every call, the functions interleaved in each of ``repeats`` rounds."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def make_batch(method: Any, batch_size: int, views: int, size: int, seed: int = 0) -> dict[str, Any]:
    """A random training batch in the layout `fervlm.data.MultiviewDataset` yields (after collation)."""
    g = torch.Generator().manual_seed(seed)
    n_classes = len(method.classes)
    batch: dict[str, Any] = {
        "label": torch.arange(batch_size) % n_classes,
        "index": torch.arange(batch_size),
        "sex": ["F", "M"] * (batch_size // 2) + ["F"] * (batch_size % 2),
        "age_group": [""] * batch_size,
        "ethnicity": [""] * batch_size,
    }
    keys = ("images_a", "images_b") if method.config.method == "smilevlm" else ("images",)
    for key in keys:
        batch[key] = torch.randn(batch_size, views, 3, size, size, generator=g)
    return batch


def _method_for(
    method: str, backbone: str, batch_size: int, views: int, folder: str, **overrides: Any
) -> Any:
    from fervlm.benchmarks.toy import make_toy_table
    from fervlm.data import load_table
    from fervlm.methods.config import load_config
    from fervlm.methods.factory import build_method

    yaws = (-30, 0, 30, -15, 15, -45, 45)[:views]
    index = make_toy_table(folder, n_subjects=max(1, math.ceil(batch_size / 6)), yaws=yaws, size=16)
    table, _ = load_table(index)
    config = load_config(
        profile="quick",
        method=method,
        backbone=backbone,
        batch_size=batch_size,
        views=[str(y) for y in yaws],
        **overrides,
    )
    return build_method(config, table)


def bench_train(
    method: str = "affectvlm",
    backbone: str = "fervlm-quick",
    batch_size: int = 32,
    views: int = 3,
    repeats: int = 10,
    steps: int = 2,
    seed: int = 0,
    threads: int | None = None,
) -> dict[str, Any]:
    """Time one training step of ``method`` and of a bare image-tower step on the same images.

    Args:
        method: affectvlm, multiviewvlm or smilevlm.
        backbone: open_clip architecture (ours: fervlm-tiny, fervlm-quick; random weights).
        batch_size: samples per step (``× views`` images; ``× 2`` more for SMILE-VLM).
        views: views per sample.
        repeats: interleaved rounds; medians and minima are reported.
        steps: training steps per timed call (smooths timer resolution on fast steps).
        seed: seed of the random images and the model.
        threads: torch intra-op threads (None: leave as is).

    Returns:
        A dict: settings, ``images_per_step``, ``method_ms`` / ``bare_ms`` (median per step), their minima,
        ``method_images_per_s`` / ``bare_images_per_s``, ``ratio`` (median/median) and ``ratio_best``.
    """
    if method not in TRAINED:
        raise ValueError(f"method={method!r}: bench train times a trained method, one of {TRAINED}")
    if threads:
        torch.set_num_threads(int(threads))
    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as folder:
        model = _method_for(method, backbone, batch_size, views, folder, seed=seed)
    model.train()
    size = model.backbone.image_size
    batch = make_batch(model, batch_size, views, size, seed)
    opt_method = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    # The bare reference: its own copy of the image tower (same weights), text embeddings precomputed.
    bare = copy.deepcopy(model.backbone)
    bare.train()
    opt_bare = torch.optim.AdamW([p for p in bare.parameters() if p.requires_grad], lr=1e-4)
    image_keys = [k for k in ("images", "images_a", "images_b") if k in batch]
    images = torch.cat([batch[k].flatten(0, 1) for k in image_keys])  # every image the method encodes
    labels = batch["label"].repeat_interleave(views).repeat(len(image_keys))
    text = model.prototypes.detach().clone()

    def method_step() -> None:
        for _ in range(steps):
            opt_method.zero_grad(set_to_none=True)
            loss = model.training_step(batch, 0)
            loss.backward()
            opt_method.step()

    def bare_step() -> None:
        for _ in range(steps):
            opt_bare.zero_grad(set_to_none=True)
            z = F.normalize(bare.encode_image(images, normalize=False), dim=-1)
            loss = F.cross_entropy(bare.logit_scale.exp() * z @ text.T, labels)
            loss.backward()
            opt_bare.step()

    with warnings.catch_warnings():
        # FERMethod._step logs through Lightning; without a Trainer `log` warns and returns.
        warnings.filterwarnings("ignore", message=".*self.log.*")
        warnings.filterwarnings("ignore", message=".*trainer.*reference.*")
        method_step()  # warm-up: allocator, lazy initialisation
        bare_step()
        times = interleaved_times({"method": method_step, "bare": bare_step}, repeats)
    n_images = int(images.shape[0])
    med = {k: statistics.median(v) / steps for k, v in times.items()}
    best = {k: min(v) / steps for k, v in times.items()}
    return {
        "method": method,
        "backbone": backbone,
        "batch_size": batch_size,
        "views": views,
        "image_size": size,
        "images_per_step": n_images,
        "threads": torch.get_num_threads(),
        "repeats": repeats,
        "method_ms": med["method"] * 1000.0,
        "bare_ms": med["bare"] * 1000.0,
        "method_best_ms": best["method"] * 1000.0,
        "bare_best_ms": best["bare"] * 1000.0,
        "method_images_per_s": n_images / med["method"],
        "bare_images_per_s": n_images / med["bare"],
        "method_samples_per_s": batch_size / med["method"],
        "ratio": med["method"] / med["bare"],
        "ratio_best": best["method"] / best["bare"],
    }


def format_train_table(results: list[dict[str, Any]], target: float = 1.15) -> str:
    """A fixed-width table of `bench_train` results (one row per method)."""
    if not results:
        return "bench train: no results"
    r0 = results[0]
    lines = [
        f"train-step benchmark: {r0['backbone']}, batch {r0['batch_size']} × {r0['views']} views at "
        f"{r0['image_size']} px, {r0['threads']} threads, median of {r0['repeats']} interleaved rounds",
        f"{'method':14s} {'images':>6s} {'ms/step':>9s} {'bare ms':>9s} {'img/s':>8s} {'bare img/s':>10s} "
        f"{'× bare':>7s} {'best ×':>7s}",
    ]
    for r in results:
        flag = "" if r["ratio"] <= target else f"  > {target:.2f}×"
        lines.append(
            f"{r['method']:14s} {r['images_per_step']:6d} {r['method_ms']:9.1f} {r['bare_ms']:9.1f} "
            f"{r['method_images_per_s']:8.1f} {r['bare_images_per_s']:10.1f} {r['ratio']:7.2f} "
            f"{r['ratio_best']:7.2f}{flag}"
        )
    return "\n".join(lines)


def add_arguments(parser: Any) -> None:
    """Options of `fervlm bench train` / `bench data` beyond the shared ``--views`` and ``--repeats``."""
    parser.add_argument(
        "--methods",
        default="affectvlm,multiviewvlm,smilevlm",
        help="comma-separated trained methods (default: all three)",
    )
    parser.add_argument("--backbone", default="fervlm-quick", help="open_clip architecture (fervlm-quick)")
    parser.add_argument("--batch-size", type=int, default=32, help="samples per step (default: 32)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads; 0 leaves the default")
    parser.add_argument(
        "--workers",
        type=int,
        default=-1,
        help="bench data: loader workers; -1 means fervlm.data.default_num_workers",
    )


def _methods(args: Any) -> list[str]:
    names = [m.strip() for m in str(args.methods).split(",") if m.strip()]
    bad = [m for m in names if m not in TRAINED]
    if not names or bad:
        raise SystemExit(f"--methods {args.methods!r}: choose among {list(TRAINED)}")
    return names


def main_train(args: Any) -> int:
    """`fervlm bench train`: print the train-step table (one row per method)."""
    results = [
        bench_train(
            m,
            backbone=args.backbone,
            batch_size=args.batch_size,
            views=args.views,
            repeats=args.repeats,
            threads=args.threads or None,
        )
        for m in _methods(args)
    ]
    print(format_train_table(results))
    return 0


def main_data(args: Any) -> int:
    """`fervlm bench data`: print the loader-vs-step table (one row per method)."""
    from fervlm.benchmarks.data import bench_data, format_data_table

    if args.threads:
        torch.set_num_threads(args.threads)
    workers = None if args.workers < 0 else args.workers
    subjects = max(4, math.ceil(args.batch_size * (args.repeats + 1) / 6))
    results = [
        bench_data(
            m,
            backbone=args.backbone,
            batch_size=args.batch_size,
            views=min(args.views, 3),
            n_subjects=subjects,
            num_workers=workers,
            batches=args.repeats,
        )
        for m in _methods(args)
    ]
    print(format_data_table(results))
    return 0
