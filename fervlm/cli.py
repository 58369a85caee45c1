"""The `fervlm` command. Each subcommand lives in `fervlm/commands/<name>.py` and defines
`add_parser(subparsers) -> argparse.ArgumentParser` and `run(args) -> int`. Heavy imports (torch,
open3d) happen inside `run`, so `fervlm --help` stays fast."""

from __future__ import annotations

import argparse
import importlib
import sys

# Order here is the order shown by `fervlm --help`.
COMMANDS = ["synth", "index", "prepare", "folds", "pretrain", "train", "cv", "sweep", "bench", "demo", "app"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fervlm",
        description="3D/4D facial expression recognition with CLIP-style vision-language models.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"fervlm.commands.{name}")
        except ModuleNotFoundError:
            continue  # a subcommand whose module is not part of this build
        p = module.add_parser(sub)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("fervlm: interrupted", file=sys.stderr)
        return 130
    except (FileNotFoundError, ValueError) as exc:  # bad input: one line, non-zero exit
        print(f"fervlm {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a read-only folder, a full disk, ...: the path and what the system said
        from fervlm.outdir import describe_oserror

        print(f"fervlm {args.command}: error: {describe_oserror(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
