"""Ablation plans and runs: each method's full model against one component removed at a time.

The three papers justify their components by ablation (AffectVLM Table IV, MultiviewVLM Table V,
SMILE-VLM Table IV): drop one loss term, the augmented prompts, the mixed-view augmentation or all
views but one, and compare accuracy with the full model. `ablation_plan` lists those variants for a
method as `TrainConfig` overrides; `run_ablations` trains each one as a subject-independent CV run
(`fervlm.train.run_cv`) into ``out_dir/<method>/<variant>/`` and `read_ablations` collects the
summaries into one table (accuracy difference to the full model included).

Variant names (the same across methods, so a methods × variants heatmap lines up):

* ``full`` — the method as configured;
* ``no-<term>`` — loss term ``<term>`` switched off (``disabled_losses``; names in
  `fervlm.methods.config.LOSS_TERMS`);
* ``pseudo-prompts`` / ``label-prompts`` — the other prompt source (docs/methods.md §1; not AffectVLM,
  which is supervised);
* ``same-aug`` / ``no-aug`` — mixed-view augmentation replaced by one augmentation shared by all
  views / none (AffectVLM "mixed-view augmentation");
* ``no-metadata`` — plain class prompts instead of metadata-augmented ones (AffectVLM "augmented
  textual prompts"; only where the method uses them);
* ``fixed-margin`` / ``learnable-margin`` — AffectVLM's margin α frozen at ``margin_init`` or learned
  (``margin_mode``); ``sample-targets`` / ``label-targets`` — MultiviewVLM's InfoNCE with only a
  sample's own prompt as positive, or every prompt of its (pseudo-)class (``con_targets``);
  ``class-align`` / ``pair-align`` — SMILE-VLM's alignment with class-level or one-to-one positives
  (``align_targets``). Each is the other value of the method's key (`OBJECTIVE_VARIANTS`);
* ``<view>`` (``front``, ``left``, ``right``) — a single view instead of the multiview input;
* ``random-prior`` — random towers instead of the pretrained prior (``weights=none``; only when the full
  model starts from a prior, e.g. the quick profile's FACS prior, `fervlm pretrain`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from fervlm.methods.config import LOSS_TERMS, TRAINED_METHODS, TrainConfig
from fervlm.viewpoints import view_name

__all__ = [
    "OBJECTIVE_VARIANTS",
    "TERM_WEIGHTS",
    "VARIANT_GROUPS",
    "ablation_plan",
    "read_ablations",
    "run_ablations",
    "variant_group",
]

#: The weight field(s) scaling each loss term; a term whose weights are all 0 is already off, so
#: removing it would repeat the full run (e.g. AffectVLM's triplet term in the quick profile).
TERM_WEIGHTS: dict[str, dict[str, tuple[str, ...]]] = {
    "affectvlm": {"align": ("lambda_align",), "mc": ("lambda_mc",), "mt": ("lambda_mt",)},
    "multiviewvlm": {"con": (), "mv": ("lambda_mv",), "pos": ("lambda_pn",), "neg": ("lambda_pn",)},
    "smilevlm": {"bt": ("alpha",), "align": ("beta",), "red": ("gamma",)},
}

#: The form of each method's objective that the paper fixes and this package makes a key: method →
#: (TrainConfig key, {value: name of the variant that switches to the other value}), the loss terms
#: the key acts on. The paper's values are the defaults (margin learnable, label targets, pair alignment).
OBJECTIVE_VARIANTS: dict[str, tuple[str, dict[str, str], tuple[str, ...]]] = {
    "affectvlm": ("margin_mode", {"learnable": "fixed-margin", "fixed": "learnable-margin"}, ("mc", "mt")),
    "multiviewvlm": ("con_targets", {"label": "sample-targets", "sample": "label-targets"}, ("con",)),
    "smilevlm": ("align_targets", {"pair": "class-align", "class": "pair-align"}, ("align",)),
}
_OBJECTIVE_NAMES = {name for _, names, _ in OBJECTIVE_VARIANTS.values() for name in names.values()}

#: Variant kind → the component family it removes (figure colours, table grouping).
VARIANT_GROUPS = ("full", "loss", "objective", "prompts", "augmentation", "views", "prior")


def variant_group(variant: str) -> str:
    """The family of a variant name: ``full``, ``loss``, ``objective``, ``prompts``, ``augmentation``,
    ``views`` or ``prior``."""
    if variant == "full":
        return "full"
    if variant == "random-prior":
        return "prior"
    if variant in _OBJECTIVE_NAMES:
        return "objective"
    if variant in ("pseudo-prompts", "label-prompts", "no-metadata"):
        return "prompts"
    if variant in ("same-aug", "no-aug"):
        return "augmentation"
    if variant.startswith("no-"):
        return "loss"
    return "views"


def _weighted(base: TrainConfig, method: str, term: str) -> bool:
    """Whether a loss term has a non-zero weight (a term without weight fields always has one)."""
    weights = TERM_WEIGHTS[method][term]
    return not weights or any(float(getattr(base, w)) != 0.0 for w in weights)


def ablation_plan(method: str, base: TrainConfig | None = None) -> list[tuple[str, dict[str, Any]]]:
    """The ablation variants of one method as ``(name, TrainConfig overrides)``, ``full`` first.

    Args:
        method: a trained method (``affectvlm``, ``multiviewvlm``, ``smilevlm``).
        base: the full model's configuration. Variants that would equal it are left out: a loss term
            whose weight is already 0 (and an objective variant whose terms are all off), the metadata
            prompts when they are off, augmentation variants
            when ``augment`` is not ``"mixed"``, single views when there is only one. None means the
            `TrainConfig` defaults for `method`.

    Returns:
        A list of (variant name, overrides); ``base.replace(**overrides)`` is the variant's config.

    Raises:
        ValueError: `method` is not a trained method, or `base` is for another method.
    """
    if method not in TRAINED_METHODS:
        raise ValueError(f"method={method!r}: ablations need a trained method: {list(TRAINED_METHODS)}")
    base = TrainConfig(method=method) if base is None else base
    if base.method != method:
        raise ValueError(f"base config is for method {base.method!r}, not {method!r}")
    plan: list[tuple[str, dict[str, Any]]] = [("full", {})]
    for term in LOSS_TERMS[method]:
        if term in base.disabled_losses:
            continue
        weights = TERM_WEIGHTS[method][term]
        if weights and all(float(getattr(base, w)) == 0.0 for w in weights):
            continue
        plan.append((f"no-{term}", {"disabled_losses": (*base.disabled_losses, term)}))
    key, names, terms = OBJECTIVE_VARIANTS[method]
    if any(t not in base.disabled_losses and _weighted(base, method, t) for t in terms):
        current = getattr(base, key)
        other = next(v for v in names if v != current)
        plan.append((names[current], {key: other}))
    if method != "affectvlm":  # AffectVLM is supervised: its prompts always come from the labels
        other = "pseudo" if base.prompt_source == "label" else "label"
        plan.append((f"{other}-prompts", {"prompt_source": other}))
    if base.uses_metadata_prompts:
        plan.append(("no-metadata", {"prompt_metadata": False}))
    if base.augment == "mixed":
        plan += [("same-aug", {"augment": "same"}), ("no-aug", {"augment": "none"})]
    if len(base.views) > 1:
        plan += [(view_name(v), {"views": (v,)}) for v in base.views]
    from fervlm.backbones import resolve_weights_is_set

    if resolve_weights_is_set(base.weights):
        plan.append(("random-prior", {"weights": None}))
    return plan


def run_ablations(
    bases: Mapping[str, TrainConfig],
    index_csv: str | Path,
    out_dir: str | Path,
    folds: Sequence[int],
    variants: Sequence[str] = (),
) -> pd.DataFrame:
    """Train every planned variant of every method (resumable) and return `read_ablations`' table.

    Args:
        bases: method → its full-model configuration.
        index_csv: the prepared table.
        out_dir: each variant runs into ``out_dir/<method>/<variant>/`` (`fervlm.train.run_cv`).
        folds: the folds each variant trains.
        variants: restrict to these variant names (``full`` is always run: the reference); empty = all.

    Raises:
        ValueError: a requested variant name exists in no method's plan.
    """
    from fervlm.train import run_cv

    plans = {m: ablation_plan(m, base) for m, base in bases.items()}
    known = {name for plan in plans.values() for name, _ in plan}
    # "random-prior" exists only when the full model starts from a prior; asked for elsewhere (the quick
    # profile's list with weights=none) it has nothing to ablate and runs nothing.
    unknown = sorted(set(variants) - known - {"random-prior"})
    if unknown:
        raise ValueError(f"variants {unknown}: not in any plan; known: {sorted(known)}")
    out_dir = Path(out_dir)
    for method, plan in plans.items():
        for name, overrides in plan:
            if variants and name != "full" and name not in variants:
                continue
            run_cv(bases[method].replace(**overrides), index_csv, out_dir / method / name, folds=list(folds))
    return read_ablations(out_dir, list(bases))


def read_ablations(out_dir: str | Path, methods: Sequence[str]) -> pd.DataFrame:
    """One row per finished ``out_dir/<method>/<variant>/summary.json``, in plan order.

    Columns: method, variant, group, accuracy, accuracy_std, macro_f1, macro_f1_std, delta_accuracy
    (variant − full, NaN when the full run is missing), n_folds, wall_time_s (summed over folds).
    """
    from fervlm.evaluate import read_metrics

    rows = []
    for method in methods:
        method_dir = Path(out_dir) / method
        order = [name for name, _ in ablation_plan(method)]
        found = sorted(
            (p.parent.name for p in method_dir.glob("*/summary.json")),
            key=lambda n: (order.index(n) if n in order else len(order), n),
        )
        for name in found:
            summary = read_metrics(method_dir / name / "summary.json")
            wall = summary.get("wall_time_s", {}).get("values", [])
            rows.append(
                {
                    "method": method,
                    "variant": name,
                    "group": variant_group(name),
                    "accuracy": summary["accuracy"]["mean"],
                    "accuracy_std": summary["accuracy"]["std"],
                    "macro_f1": summary["macro_f1"]["mean"],
                    "macro_f1_std": summary["macro_f1"]["std"],
                    "n_folds": summary["n_folds"],
                    "wall_time_s": float(sum(wall)),
                }
            )
    table = pd.DataFrame(
        rows,
        columns=[
            "method",
            "variant",
            "group",
            "accuracy",
            "accuracy_std",
            "macro_f1",
            "macro_f1_std",
            "n_folds",
            "wall_time_s",
        ],
    )
    full = table[table["variant"] == "full"].set_index("method")["accuracy"]
    table.insert(7, "delta_accuracy", table["accuracy"] - table["method"].map(full))
    return table
