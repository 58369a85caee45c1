"""`fervlm bench layout`: the image tower's forward and backward in channels-last against the default layout.

`fervlm.backbones.use_channels_last` stores ResNet towers channels-last because oneDNN's convolutions are
faster on CPU in that layout. This benchmark keeps the claim checkable: the *same* weights and images, both
layouts timed in interleaved rounds on one machine (`interleaved_times`), the ratio of medians reported.
"""

from __future__ import annotations

import copy
import statistics
from typing import Any

import torch

__all__ = ["bench_layout", "format_layout_table"]


def bench_layout(
    backbone: str = "fervlm-tiny-rn",
    batch_size: int = 256,
    repeats: int = 5,
    threads: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Median seconds of one image-tower forward + backward per layout, and their ratio.

    Returns:
        backbone, batch_size, image_size, threads, repeats, contiguous_ms, channels_last_ms, speedup
        (contiguous / channels-last; > 1 means channels-last is faster), max_abs_diff (embeddings of the two
        layouts: the same model, so round-off only).
    """
    from fervlm.backbones import create_backbone
    from fervlm.benchmarks.train import interleaved_times

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    bb = create_backbone(backbone)
    bb.train()
    # One copy of the tower per layout, converted once: converting the weights inside the timed call would
    # charge the conversion to both layouts.
    towers = {
        "contiguous": copy.deepcopy(bb.model.visual).to(memory_format=torch.contiguous_format),
        "channels_last": copy.deepcopy(bb.model.visual).to(memory_format=torch.channels_last),
    }
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch_size, 3, bb.image_size, bb.image_size, generator=gen)
    inputs = {"contiguous": x, "channels_last": x.contiguous(memory_format=torch.channels_last)}

    def step(layout: str) -> None:
        towers[layout].zero_grad(set_to_none=True)
        towers[layout](inputs[layout]).square().mean().backward()

    with torch.no_grad():
        a, b = (towers[k](inputs[k]) for k in ("contiguous", "channels_last"))
    fns = {layout: (lambda layout=layout: step(layout)) for layout in towers}
    for fn in fns.values():  # warm-up: oneDNN picks and caches its kernels on the first call
        fn()
    times = interleaved_times(fns, repeats)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "backbone": backbone,
        "batch_size": batch_size,
        "image_size": bb.image_size,
        "threads": torch.get_num_threads(),
        "repeats": repeats,
        "contiguous_ms": 1e3 * med["contiguous"],
        "channels_last_ms": 1e3 * med["channels_last"],
        "speedup": med["contiguous"] / med["channels_last"],
        "max_abs_diff": float((a - b).abs().max()),
    }


def format_layout_table(r: dict[str, Any]) -> str:
    """Two lines: the setting, then both times and the speedup."""
    return (
        f"layout benchmark: {r['backbone']} image tower, forward + backward of {r['batch_size']} images at "
        f"{r['image_size']} px, {r['threads']} threads, median of {r['repeats']} interleaved rounds\n"
        f"contiguous {r['contiguous_ms']:.1f} ms   channels-last {r['channels_last_ms']:.1f} ms   "
        f"speedup {r['speedup']:.2f}×   (max |Δ embedding| {r['max_abs_diff']:.1e})"
    )
