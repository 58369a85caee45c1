"""`fervlm demo` (= `make demo`): the whole quick profile on the built-in synthetic data, then a summary."""

from __future__ import annotations

import argparse
import time

import pandas as pd


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "demo",
        help="run every notebook of the quick profile on synthetic data and print an accuracy table",
        description="Runs `fervlm sweep --profile quick` (every notebook, synthetic data, tiny backbone, "
        "CPU; finished items are skipped, so a second run is instant) and prints the accuracy table and "
        "where the "
        "outputs are.",
    )
    p.add_argument("--profile", default="quick", help="profile to run (default: quick)")
    p.add_argument("--output-root", default="outputs", help="outputs folder (default: outputs)")
    p.add_argument("--force", action="store_true", help="re-run items from scratch (folders emptied first)")
    return p


def accuracy_table(results: pd.DataFrame) -> pd.DataFrame:
    """The demo's summary: one row per notebook/dataset/method with mean ± std accuracy over folds."""
    if results.empty or "accuracy" not in results.columns:
        return pd.DataFrame()
    folds = results[results["fold"].astype(str) != "summary"].dropna(subset=["accuracy"])
    if folds.empty:
        return pd.DataFrame()
    keys = [k for k in ("notebook", "dataset", "method", "variant") if k in folds.columns]
    table = folds.groupby(keys, dropna=False)["accuracy"].agg(["mean", "std", "count"]).reset_index()
    return table.rename(columns={"mean": "accuracy", "std": "std", "count": "folds"})


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from fervlm.runs import aggregate_results, sweep

    start = time.perf_counter()
    items = sweep(args.profile, root=args.output_root, force=args.force, argv=["fervlm", "demo"])
    profile_dir = Path(args.output_root) / args.profile
    results = aggregate_results(profile_dir) if profile_dir.is_dir() else None
    print()
    print(f"demo ({args.profile} profile) finished in {time.perf_counter() - start:.0f} s")
    counts = items["status"].value_counts().to_dict()
    print("items: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    if results is not None:
        table = accuracy_table(results)
        if not table.empty:
            print("\naccuracy on the SYNTHETIC data (not a benchmark result), mean ± std over the folds run:")
            print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
        print(f"\nall results: {profile_dir / 'results.csv'}")
    print(f"executed notebooks, figures, metrics: {profile_dir}/<notebook>/...")
    failed = items[items["status"] == "failed"]
    for _, row in failed.iterrows():
        print(f"FAILED {row['notebook']} {row['dataset']} {row['method']}: see {row['log']}")
    return 1 if len(failed) else 0
