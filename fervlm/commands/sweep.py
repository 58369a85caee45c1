"""`fervlm sweep`: execute the notebooks under a profile with papermill into `outputs/<profile>/`."""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "sweep",
        help="run the notebooks under a profile (quick / paper) with papermill into outputs/",
        description="Execute notebooks/NN_*.ipynb with the values of a profile "
        "(fervlm/resources/profiles/<name>.yaml), "
        "one run per notebook x dataset x method that the notebook declares, each into "
        "outputs/<profile>/<notebook>/[<dataset>/][<method>/]. Finished runs are skipped; failures are "
        "reported and the sweep goes on; metrics are collected into outputs/<profile>/results.csv.",
    )
    p.add_argument("--profile", required=True, help="a shipped profile (quick, paper) or a profile YAML file")
    p.add_argument("--notebooks", nargs="+", default=None, help="only these notebooks (stems or NN prefixes)")
    p.add_argument("--datasets", nargs="+", default=None, help="override the profile's datasets")
    p.add_argument("--methods", nargs="+", default=None, help="override the profile's methods")
    p.add_argument("--folds", nargs="+", type=int, default=None, help="folds to run (passed as run_folds)")
    p.add_argument("--force", action="store_true", help="re-run items from scratch (folders emptied first)")
    p.add_argument("--dry-run", action="store_true", help="print the plan as a table and exit")
    p.add_argument("--kernel", default=None, help="Jupyter kernel (default: one running this Python)")
    p.add_argument("--timeout", type=float, default=None, help="per-cell timeout in seconds (default: none)")
    p.add_argument("--output-root", default="outputs", help="outputs folder (default: outputs)")
    return p


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from fervlm.runs import load_profile, plan_sweep, plan_table, sweep

    profile = load_profile(args.profile)
    if args.dry_run:
        items = plan_sweep(profile, args.notebooks, args.datasets, args.methods, args.folds, args.output_root)
        table = plan_table(items)
        with pd.option_context("display.max_rows", None, "display.max_colwidth", 80, "display.width", 200):
            print(
                table.drop(columns="parameters").to_string(index=False) if len(table) else "(nothing to run)"
            )
        print(f"{len(table)} items, {int((table['state'] != 'done').sum())} to run (profile {profile.name})")
        return 0
    table = sweep(
        profile,
        notebooks=args.notebooks,
        datasets=args.datasets,
        methods=args.methods,
        folds=args.folds,
        root=args.output_root,
        force=args.force,
        kernel=args.kernel,
        timeout=args.timeout,
        argv=sys.argv,
    )
    return 1 if (table["status"] == "failed").any() else 0
