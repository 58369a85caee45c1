"""`fervlm prepare`: render a dataset's views (3D) or dynamic images (4D) into a cache + prepared table."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "prepare",
        help="render every sample's views / dynamic images and write OUT/index.csv",
        description="Index a dataset (fervlm.datasets.load_index), render each 3D scan's views or each 4D "
        "sequence's dynamic images into OUT/images/, write the prepared table OUT/index.csv and the bad "
        "files to OUT/failures.csv. Resumable: samples whose images exist are skipped (with the same size "
        "and mode only, see OUT/render.json; --force re-renders). Exits 1 when any sample failed.",
    )
    p.add_argument("--dataset", required=True, help="bu3dfe, bu4dfe, bosphorus, bp4d, 4dme, manifest, views")
    p.add_argument("--root", required=True, help="the dataset's root folder")
    p.add_argument("--out", required=True, help="output folder for images/, index.csv, failures.csv")
    p.add_argument("--views", type=float, nargs="+", default=[-30.0, 0.0, 30.0], metavar="YAW",
                   help="yaw angles in degrees (default: -30 0 30 = left front right)")  # fmt: skip
    p.add_argument("--size", type=int, default=224, help="image size in pixels (default: 224)")
    p.add_argument("--mode", default="shaded", choices=["shaded", "depth", "normals", "texture"],
                   help="render mode (default: shaded)")  # fmt: skip
    p.add_argument("--frames", type=int, default=None,
                   help="4D: pool this many uniformly sampled frames (default: all)")  # fmt: skip
    p.add_argument("--method", default="approximate", choices=["approximate", "exact"],
                   help="4D rank pooling (default: approximate, Bilen et al.)")  # fmt: skip
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: CPU count)")
    p.add_argument("--subset", default=None, help="adapter subset, e.g. I / II (BU-3DFE), six (Bosphorus)")
    p.add_argument("--masks", action="store_true", help="also write per-view AU masks where a sidecar exists")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--force", action="store_true",
                   help="re-render every sample, also those already done (to change settings)")  # fmt: skip
    return p


def run(args: argparse.Namespace) -> int:
    from fervlm.datasets import load_index
    from fervlm.prepare import prepare

    options = {"subset": args.subset} if args.subset else {}
    index = load_index(args.dataset, args.root, **options)
    result = prepare(
        index,
        args.out,
        yaws=args.views,
        size=args.size,
        mode=args.mode,
        frames=args.frames,
        workers=args.workers,
        method=args.method,
        masks=args.masks,
        progress=not args.no_progress,
        force=args.force,
    )
    print(result.summary())
    return 1 if result.n_failed else 0
