"""`fervlm pretrain`: build the offline FACS vision-language prior (`fervlm.pretrain`); `weights=facs`."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "pretrain",
        help="train the offline FACS-captioned vision-language prior (weights=facs)",
        description="Render a corpus of synthetic faces (identities disjoint from every evaluation set, "
        "random AU combinations) with captions written from their Action Units, and train both towers of "
        "a tiny open_clip model on it with CLIP's contrastive loss. Writes data/weights/facs-<backbone>.pt "
        "and a JSON card next to it; `--set weights=facs` (or `weights: facs` in a profile) then loads it. "
        "Resumes an interrupted run; a finished prior with the same settings is reused unless --force.",
    )
    p.add_argument("--backbone", default="fervlm-tiny-rn", help="open_clip architecture (fervlm-tiny-rn)")
    p.add_argument(
        "--preset",
        default="default",
        choices=["default", "smoke"],
        help="size: default (minutes on 2 cores) or smoke (seconds, for tests)",
    )
    p.add_argument("--out", default=None, help="checkpoint file (default data/weights/facs-<backbone>.pt)")
    p.add_argument("--identities", type=int, default=None, help="corpus identities (preset's default)")
    p.add_argument("--faces", type=int, default=None, help="faces per identity (preset's default)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (preset's default)")
    p.add_argument("--image-size", type=int, default=None, help="rendered view size in pixels (preset: 64)")
    p.add_argument(
        "--no-emotion-names",
        action="store_true",
        help="captions describe AUs only, never name an emotion (the ablation)",
    )
    p.add_argument("--seed", type=int, default=None, help="seed of corpus and training (default 0)")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="corpus render processes (default: the cores, or 1 on a machine already busier than its cores)",
    )
    p.add_argument("--force", action="store_true", help="retrain even if a matching prior exists")
    return p


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from fervlm.pretrain import PRESETS, ensure_prior, pretrain, prior_path

    changes: dict[str, object] = {"backbone": args.backbone}
    for key, value in (
        ("corpus_identities", args.identities),
        ("corpus_faces_per_identity", args.faces),
        ("epochs", args.epochs),
        ("corpus_size", args.image_size),
    ):
        if value is not None:
            changes[key] = value
    if args.seed is not None:
        changes.update(seed=args.seed, corpus_seed=args.seed)
    if args.no_emotion_names:
        changes["captions_name_emotions"] = False
    config = PRESETS[args.preset].replace(**changes)
    out = Path(args.out) if args.out else prior_path(args.backbone)
    if args.force:
        card = pretrain(config, out, workers=args.workers)
    else:
        card = ensure_prior(config, out, workers=args.workers)
    print(
        f"prior {out}: {card['corpus']['images']} images of {card['corpus']['faces']} faces, "
        f"{card['steps']} steps, CLIP loss {card['loss_first']:.3f} -> {card['loss_last']:.3f}, "
        f"{card['seconds_total']:.0f} s "
        f"(load average {card['load_average_start']} at the start)"
    )
    print("use it with --set weights=facs (fervlm train/cv) or `weights: facs` in a profile")
    return 0
