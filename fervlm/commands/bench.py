"""`fervlm bench`: honest micro-benchmarks (same inputs, same machine, ratios within one run)."""

from __future__ import annotations

import argparse

TARGETS = ("render", "train", "data", "layout")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "bench",
        help="benchmarks: render, train and data throughput against bare baselines (prints a table)",
        description="Benchmarks (same inputs, same machine, ratios within one run). `render`: ms per view of "
        "fervlm.render.render_views vs a bare RaycastingScene.cast_rays of the same rays on the same mesh. "
        "`train`: training-step time and images/s of each method vs a bare open_clip image-tower "
        "forward/backward of the same images. `data`: loader throughput vs what the training step consumes. "
        "`layout`: the image tower's forward/backward channels-last vs the default layout, same weights and "
        "a batch of 256 images (the prior's).",
    )
    p.add_argument("target", choices=TARGETS, nargs="?", default="render")
    p.add_argument("--vertices", type=int, default=35000, help="mesh size (default: 35000, BU-4DFE-like)")
    p.add_argument("--size", type=int, default=224, help="image size in pixels (default: 224)")
    p.add_argument("--views", type=int, default=3, help="number of views (default: 3)")
    p.add_argument("--repeats", type=int, default=5, help="timed repetitions (default: 5)")
    p.add_argument("--methods", default="affectvlm,multiviewvlm,smilevlm", help="train/data: comma-separated")
    p.add_argument(
        "--backbone",
        default=None,
        help="open_clip architecture (train/data: fervlm-quick; layout: fervlm-tiny-rn)",
    )
    p.add_argument("--batch-size", type=int, default=32, help="train/data: samples per step (default: 32)")
    p.add_argument("--threads", type=int, default=0, help="train/data: torch threads; 0 leaves the default")
    p.add_argument("--workers", type=int, default=-1, help="data: loader workers; -1 means the default")
    return p


def run(args: argparse.Namespace) -> int:
    if args.backbone is None:
        args.backbone = "fervlm-tiny-rn" if args.target == "layout" else "fervlm-quick"
    if args.target == "train":
        from fervlm.benchmarks.train import main_train

        return main_train(args)
    if args.target == "data":
        from fervlm.benchmarks.train import main_data

        return main_data(args)
    if args.target == "layout":
        from fervlm.benchmarks.layout import bench_layout, format_layout_table

        print(
            format_layout_table(
                bench_layout(args.backbone, repeats=args.repeats, threads=args.threads or None)
            )
        )
        return 0
    from fervlm.benchmarks.render import bench_render, format_table

    result = bench_render(vertices=args.vertices, size=args.size, views=args.views, repeats=args.repeats)
    print(format_table(result))
    return 0
