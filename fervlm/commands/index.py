"""`fervlm index`: index a dataset folder into a CSV table (one row per sample)."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "index",
        help="index a dataset folder into a CSV (one row per sample)",
        description="Scan a dataset root with its layout adapter and write the index table as CSV.",
    )
    p.add_argument(
        "--dataset",
        required=True,
        choices=["bu3dfe", "bu4dfe", "bosphorus", "bp4d", "4dme", "manifest", "views"],
    )
    p.add_argument("--root", required=True, help="dataset root (manifest: the CSV or its folder)")
    p.add_argument("--out", required=True, help="index CSV to write")
    p.add_argument("--subset", default=None, help="protocol subset: BU-3DFE I or II, Bosphorus six")
    p.add_argument("--tasks", nargs="+", default=None, help="BP4D tasks to keep, e.g. T1 T8")
    p.add_argument("--tasks-csv", default=None, help="BP4D task -> emotion table (default: the shipped one)")
    p.add_argument("--labels", default=None, help="4DME label sheet (default <root>/4DME_labels.csv)")
    return p


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from fervlm.datasets import load_index
    from fervlm.outdir import ensure_writable
    from fervlm.utils import atomic_write_text

    ensure_writable(Path(args.out).parent)

    options: dict[str, object] = {}
    if args.subset is not None:
        if args.dataset not in ("bu3dfe", "bosphorus"):
            raise ValueError(f"--subset applies to bu3dfe and bosphorus, not {args.dataset}")
        options["subset"] = args.subset
    for name, value, where in (
        ("tasks", args.tasks, "bp4d"),
        ("tasks_csv", args.tasks_csv, "bp4d"),
        ("labels", args.labels, "4dme"),
    ):
        if value is not None:
            if args.dataset != where:
                raise ValueError(f"--{name.replace('_', '-')} applies to {where} only")
            options[name] = value
    index = load_index(args.dataset, args.root, **options)
    atomic_write_text(Path(args.out), index.to_csv(index=False))
    print(f"{args.dataset}: {len(index)} samples, {index['subject'].nunique()} subjects -> {args.out}")
    counts = index.groupby("label").agg(samples=("sample_id", "size"), subjects=("subject", "nunique"))
    print(counts.to_string())
    return 0
