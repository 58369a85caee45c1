"""`fervlm synth`: generate the synthetic FACS dataset in a benchmark's file layout."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "synth",
        help="generate the synthetic FACS 3D/4D dataset in a benchmark layout",
        description="Generate synthetic FACS-driven faces in the layout and file formats of a benchmark "
        "(BU-3DFE VRML tree, BU-4DFE sequences, Bosphorus .bnt, BP4D OBJ task sequences, 4DME clips "
        "+ label sheet).",
    )
    p.add_argument("--layout", required=True, choices=["bu3dfe", "bu4dfe", "bosphorus", "bp4d", "4dme"])
    p.add_argument("--out", required=True, help="dataset root to write (created)")
    p.add_argument(
        "--subjects", type=int, default=None, help="number of subjects (default: 20 for 3D, 10 for 4D)"
    )
    p.add_argument("--seed", type=int, default=0, help="base seed; same arguments give identical files")
    p.add_argument("--frames", type=int, default=None, help="frames per 4D sequence (layout default)")
    p.add_argument("--resolution", type=int, default=None, help="approximate vertices per face (2000-40000)")
    p.add_argument("--noise", type=float, default=0.15, help="vertex noise standard deviation in mm")
    p.add_argument("--texture", action="store_true", help="also write texture images and UVs")
    p.add_argument("--workers", type=int, default=1, help="worker processes")
    return p


def run(args: argparse.Namespace) -> int:
    from fervlm.synth import generate

    s = generate(
        args.layout,
        args.out,
        subjects=args.subjects,
        seed=args.seed,
        frames=args.frames,
        resolution=args.resolution,
        noise=args.noise,
        texture=args.texture,
        workers=args.workers,
        progress=True,
    )
    print(
        f"{s['layout']}: {s['files']} files, {s['subjects']} subjects, {s['samples']} samples, "
        f"{s['bytes'] / 1e6:.1f} MB on disk, {s['seconds']:.1f} s -> {s['root']}"
    )
    return 0
