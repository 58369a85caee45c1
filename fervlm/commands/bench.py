"""`fervlm bench`: honest micro-benchmarks (same inputs, same machine, ratios within one run)."""

from __future__ import annotations

import argparse

TARGETS = ("render",)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "bench",
        help="time rendering against a bare open3d ray cast (prints a table)",
        description="Benchmarks. `render`: ms per view of fervlm.render.render_views vs a bare "
        "RaycastingScene.cast_rays of the same rays on the same mesh, and their ratio.",
    )
    p.add_argument("target", choices=TARGETS, nargs="?", default="render")
    p.add_argument("--vertices", type=int, default=35000, help="mesh size (default: 35000, BU-4DFE-like)")
    p.add_argument("--size", type=int, default=224, help="image size in pixels (default: 224)")
    p.add_argument("--views", type=int, default=3, help="number of views (default: 3)")
    p.add_argument("--repeats", type=int, default=5, help="timed repetitions (default: 5)")
    return p


def run(args: argparse.Namespace) -> int:
    from fervlm.benchmarks.render import bench_render, format_table

    result = bench_render(vertices=args.vertices, size=args.size, views=args.views, repeats=args.repeats)
    print(format_table(result))
    return 0
