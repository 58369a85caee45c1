"""Prompt banks, metadata-augmented prompts, prompt embeddings and class prototypes.

A *prompt bank* gives, for each class `c`, the prompt set `T_c` (docs/methods.md §1, §2, §4). The package has
one submodule per concept; every public name is re-exported here, so ``from fervlm.prompts import X`` works:

- `fervlm.prompts.bank` — `PromptBank` (the bank schema, its validation, filling templates with adjectives and
  a sample's metadata words: AffectVLM's augmented textual prompts), `tidy`.
- `fervlm.prompts.loading` — the shipped banks (`SHIPPED_BANKS`, `prompts_dir`), `load_bank` for YAML, JSON
  and plain-text files, `bank_for_labels`, `describe_bank`.
- `fervlm.prompts.embeddings` — `encode_prompts`, `PromptEmbeddingCache`, `class_prototypes`
  `p_c = normalize(mean_{t in T_c} normalize(f_t(t)))` (docs/methods.md §1), `bank_fingerprint`.
"""

from __future__ import annotations

from fervlm.prompts.bank import (
    METADATA_FIELDS,
    METADATA_KEYS,
    TEMPLATE_FIELDS,
    VOCAB_KEYS,
    ClassPrompts,
    PromptBank,
    PromptBankError,
    tidy,
)
from fervlm.prompts.embeddings import (
    PromptEmbeddingCache,
    bank_fingerprint,
    class_prototypes,
    encode_prompts,
)
from fervlm.prompts.loading import (
    SHIPPED_BANKS,
    bank_for_labels,
    bank_from_dict,
    describe_bank,
    load_bank,
    prompts_dir,
)

__all__ = [
    "METADATA_FIELDS",
    "METADATA_KEYS",
    "SHIPPED_BANKS",
    "TEMPLATE_FIELDS",
    "VOCAB_KEYS",
    "ClassPrompts",
    "PromptBank",
    "PromptBankError",
    "PromptEmbeddingCache",
    "bank_fingerprint",
    "bank_for_labels",
    "bank_from_dict",
    "class_prototypes",
    "describe_bank",
    "encode_prompts",
    "load_bank",
    "prompts_dir",
    "tidy",
]
