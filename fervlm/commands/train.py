"""`fervlm train`: train and evaluate one method on one fold of subject-independent k-fold CV."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch-free at import: `fervlm --help` stays fast
    from fervlm.methods.config import TrainConfig

METHOD_CHOICES = ("affectvlm", "multiviewvlm", "smilevlm", "zeroshot", "linearprobe", "pixels", "ceiling")


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by `fervlm train` and `fervlm cv`."""
    p.add_argument("--method", required=True, choices=METHOD_CHOICES, help="method to train")
    p.add_argument("--index", required=True, help="prepared table (index.csv written by `fervlm prepare`)")
    p.add_argument("--out", required=True, help="run folder (fold-KK/ subfolders, folds.json, summary.json)")
    p.add_argument(
        "--config", default=None, help="YAML file of configuration keys (see fervlm.methods.TrainConfig)"
    )
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one configuration key (repeatable), e.g. --set epochs=20 --set views=front",
    )
    p.add_argument(
        "--profile",
        choices=("quick", "paper"),
        default="quick",
        help="base settings: quick (synthetic data, tiny backbone, CPU; default) or paper (ViT-B/16, GPU)",
    )
    p.add_argument("--progress", action="store_true", help="show Lightning's progress bar")
    p.add_argument(
        "--force",
        action="store_true",
        help="discard the fold's previous checkpoint and results and run it from scratch (needed to "
        "re-run a fold with other settings)",
    )


def load_args_config(args: argparse.Namespace) -> TrainConfig:
    """The validated config of the command line (profile, then YAML, then --set, then --method)."""
    from fervlm.methods.config import load_config

    config = load_config(args.config, args.sets, profile=args.profile, method=args.method)
    if args.progress:
        config = config.replace(progress_bar=True)
    return config


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train",
        help="train and evaluate one fold (resumable)",
        description="Train one method on fold K of subject-independent k-fold CV and write "
        "OUT/fold-KK/{metrics.json, history.csv, predictions.csv, config.json, last.ckpt}. A finished "
        "fold is skipped; an interrupted one resumes from last.ckpt (both only with the settings it was run "
        "with; --force runs it again from scratch). Multi-GPU: --set devices=N "
        "(DDP); see fervlm.train for multi-node (torchrun/SLURM).",
    )
    add_common_arguments(p)
    p.add_argument("--fold", type=int, required=True, help="fold number, 0 <= K < folds")
    return p


def run(args: argparse.Namespace) -> int:
    config = load_args_config(args)
    from fervlm.train import fit_fold, fold_dir

    metrics = fit_fold(config, args.index, args.fold, args.out, force=args.force)
    if metrics:
        line = (
            f"{config.method} fold {args.fold}: accuracy {metrics['accuracy']:.3f}, "
            f"macro-F1 {metrics['macro_f1']:.3f}"
        )
        print(f"{line} (prompt_source={config.prompt_source}) -> {fold_dir(args.out, args.fold)}")
    return 0
