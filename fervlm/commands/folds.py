"""`fervlm folds`: subject-independent k-fold splits of an index table, saved as JSON."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "folds",
        help="write subject-independent k-fold splits of an index table (prints a summary)",
        description="Split an index CSV (one row per sample, with `subject` and `sample_id` columns) into "
        "k subject-independent folds (no subject in both train and test of a fold) and save them as JSON "
        "with the subjects and sample ids of every fold.",
    )
    p.add_argument("--index", required=True, metavar="FILE.csv", help="index table (CSV)")
    p.add_argument("--k", type=int, default=10, help="number of folds (default: 10)")
    p.add_argument("--seed", type=int, default=0, help="seed of the subject shuffle (default: 0)")
    p.add_argument("--out", required=True, metavar="FOLDS.json", help="output JSON file")
    return p


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from fervlm.folds import folds_summary, save_folds, subject_kfold
    from fervlm.outdir import ensure_writable
    from fervlm.tables import read_index

    ensure_writable(Path(args.out).parent)
    index_path = Path(args.index)
    if not index_path.is_file():
        raise FileNotFoundError(f"--index {index_path}: no such file")
    index = read_index(index_path)  # identifiers stay as written ("F001", "0001"), "" for unknown
    try:
        folds = subject_kfold(index, k=args.k, seed=args.seed)
    except ValueError as exc:
        raise ValueError(f"--index {index_path}: {exc}") from exc
    out = save_folds(args.out, folds, index, meta={"index": str(index_path), "k": args.k, "seed": args.seed})
    print(folds_summary(index, folds).to_string(index=False))
    print(f"wrote {len(folds)} folds of {len(index)} rows to {out}")
    return 0
