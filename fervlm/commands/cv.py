"""`fervlm cv`: all folds of one method (resumable), then mean ± std over folds."""

from __future__ import annotations

import argparse

from fervlm.commands.train import add_common_arguments, load_args_config


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "cv",
        help="k-fold subject-independent cross-validation of one method (resumable)",
        description="Run every fold (or --folds) of one method and write OUT/folds.csv and OUT/summary.json "
        "(mean ± std). Finished folds are skipped, interrupted ones resume.",
    )
    add_common_arguments(p)
    p.add_argument("--folds", type=int, nargs="+", default=None, help="only these fold numbers")
    return p


def run(args: argparse.Namespace) -> int:
    config = load_args_config(args)
    from fervlm.evaluate import format_summary, read_metrics
    from fervlm.train import run_cv

    run_cv(config, args.index, args.out, folds=args.folds, force=args.force)
    from pathlib import Path

    summary = read_metrics(Path(args.out) / "summary.json")
    print(f"{config.method} (prompt_source={config.prompt_source}): {format_summary(summary)}")
    return 0
