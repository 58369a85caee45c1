"""``build_method(config, table)``: backbone, prompt bank, prompt table, prototypes → a method module."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from fervlm.methods.affectvlm import AffectVLM
from fervlm.methods.base import FERMethod
from fervlm.methods.baselines import LinearProbe, ZeroShot
from fervlm.methods.ceiling import CrossEntropyCeiling
from fervlm.methods.config import TrainConfig, check_views_in_table
from fervlm.methods.multiviewvlm import MultiviewVLM
from fervlm.methods.pixels import PixelsBaseline
from fervlm.methods.prompting import PromptTable
from fervlm.methods.smilevlm import SmileVLM

__all__ = ["METHODS", "build_method", "resolve_classes"]

METHODS: dict[str, type[FERMethod]] = {
    "affectvlm": AffectVLM,
    "multiviewvlm": MultiviewVLM,
    "smilevlm": SmileVLM,
    "zeroshot": ZeroShot,
    "linearprobe": LinearProbe,
    "ceiling": CrossEntropyCeiling,
}


def resolve_classes(config: TrainConfig, table: pd.DataFrame) -> tuple[list[str], Any]:
    """The class list (label-id order) and the prompt bank restricted to it.

    ``config.classes`` fixes the list (cross-dataset runs); otherwise the table's labels in the bank's
    order. Raises ``ValueError`` when the bank does not define a class.
    """
    from fervlm.prompts import bank_for_labels, load_bank

    labels = sorted({str(x) for x in table["label"]} - {""})
    wanted = list(config.classes) if config.classes else labels
    if not wanted:
        raise ValueError("index: no labels; cannot choose classes")
    if config.prompt_bank:
        bank = load_bank(config.prompt_bank)
        missing = [c for c in wanted if c not in bank.specs]
        if missing:
            raise ValueError(f"config prompt_bank={config.prompt_bank!r} does not define classes {missing}")
        bank = bank.subset(wanted)
    else:
        bank = bank_for_labels(wanted)
    return list(bank.classes), bank


def build_method(
    config: TrainConfig | Mapping[str, Any],
    table: pd.DataFrame,
    classes: Sequence[str] | None = None,
    device: str = "cpu",
    prompt_cache: Any = None,
) -> FERMethod | PixelsBaseline:
    """Build the configured method for an index table.

    Creates the backbone (`fervlm.backbones.create_backbone`, text tower frozen), the prompt bank
    and class prototypes (`fervlm.prompts`), and precomputes every admissible prompt embedding once
    (:class:`~fervlm.methods.prompting.PromptTable`, keyed on the table's rows and metadata).

    Args:
        config: a :class:`TrainConfig` or a flat dict (validated; unknown keys are errors).
        table: the prepared index table the run trains on (row positions are sample ids).
        classes: override the class list (default: :func:`resolve_classes`).
        device: where the backbone is created.
        prompt_cache: an optional `fervlm.prompts.PromptEmbeddingCache` shared across folds.

    ``method="pixels"`` builds the classical baseline (`fervlm.methods.pixels`): no backbone, no prompts.
    """
    from fervlm.backbones import create_backbone
    from fervlm.prompts import class_prototypes

    config = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    check_views_in_table(config, table)
    names, bank = resolve_classes(config, table)
    if classes is not None:
        names, bank = list(classes), bank.subset(list(classes))
    if config.method == "pixels":
        return PixelsBaseline(config, names)
    backbone = create_backbone(
        config.backbone,
        weights=config.weights,
        device=device,
        freeze_text=True,
        unlocked_visual_groups=config.unlocked_visual_groups,
    )
    prototypes = class_prototypes(backbone, bank, names, cache=prompt_cache)
    prompt_table = PromptTable.build(
        backbone,
        bank,
        names,
        table,
        use_metadata=config.uses_metadata_prompts,
        seed=config.seed,
        cache=prompt_cache,
    )
    return METHODS[config.method](config, backbone, names, prompt_table, prototypes, len(table))
