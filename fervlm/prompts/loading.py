"""Loading prompt banks: the shipped banks, user files (YAML, JSON, plain text) and their validation.

The shipped banks are package data: YAML files in `fervlm/resources/prompts/` (`emotions6`, `bp4d_tasks`,
`micro5`), found by `prompts_dir` — the one place that knows where they live. A plain-text bank (`.txt`,
e.g. prompts written by an LLM elsewhere) holds one `class: prompt` line per prompt (`#` comments and blank
lines ignored); its prompts are literal descriptions.
The schema of a YAML/JSON bank is in `fervlm.prompts.bank`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from fervlm.prompts.bank import (
    VOCAB_KEYS,
    ClassPrompts,
    PromptBank,
    PromptBankError,
    _ordered_labels,
)

SHIPPED_BANKS = ("emotions6", "bp4d_tasks", "micro5")  # also the preference order of `bank_for_labels`
_TOP_KEYS = {"name", "description", "default_classes", "classes", "templates", "metadata_templates", "vocab"}
_CLASS_KEYS = {"adjectives", "descriptions", "noun"}


def prompts_dir() -> Path:
    """Folder of the banks: `$FERVLM_DATA/prompts` if that is set, else the package's `resources/prompts`
    (package data, so a non-editable install carries them)."""
    from fervlm.resources import shipped

    root = os.environ.get("FERVLM_DATA")
    return Path(root) / "prompts" if root else shipped("prompts")


def _str_list(value: Any, what: str, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PromptBankError(f"{where}: {what} must be a list of strings, got {value!r}")
    return [v.strip() for v in value if v.strip()]


def bank_from_dict(data: Mapping[str, Any], source: str = "", default_name: str = "bank") -> PromptBank:
    """Validate a parsed YAML/JSON bank (schema in the module docstring) into a `PromptBank`."""
    where = f"prompt bank {source or default_name!r}"
    if not isinstance(data, Mapping):
        raise PromptBankError(f"{where}: top level must be a mapping, got {type(data).__name__}")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise PromptBankError(
            f"{where}: unknown top-level key(s) {sorted(unknown)}; allowed: {sorted(_TOP_KEYS)}"
        )
    classes = data.get("classes")
    if not isinstance(classes, Mapping) or not classes:
        raise PromptBankError(f"{where}: 'classes' must be a non-empty mapping of class -> prompt material")
    specs: dict[str, ClassPrompts] = {}
    for cls, spec in classes.items():
        spec = spec or {}
        if not isinstance(spec, Mapping):
            raise PromptBankError(f"{where}: class {cls!r} must map to adjectives/descriptions, got {spec!r}")
        bad = set(spec) - _CLASS_KEYS
        if bad:
            raise PromptBankError(
                f"{where}: class {cls!r}: unknown key(s) {sorted(bad)}; allowed: {sorted(_CLASS_KEYS)}"
            )
        specs[str(cls)] = ClassPrompts(
            tuple(_str_list(spec.get("adjectives"), f"class {cls!r} adjectives", where)),
            tuple(_str_list(spec.get("descriptions"), f"class {cls!r} descriptions", where)),
            str(spec.get("noun") or ""),
        )
    vocab_in = data.get("vocab") or {}
    if not isinstance(vocab_in, Mapping):
        raise PromptBankError(f"{where}: 'vocab' must be a mapping")
    bad = set(vocab_in) - set(VOCAB_KEYS)
    if bad:
        raise PromptBankError(f"{where}: unknown vocab key(s) {sorted(bad)}; allowed: {list(VOCAB_KEYS)}")
    vocab: dict[str, dict[str, list[str]]] = {}
    for key, table in vocab_in.items():
        if not isinstance(table, Mapping):
            raise PromptBankError(f"{where}: vocab {key!r} must map codes to word lists")
        vocab[key] = {
            ("" if k is None else str(k)): _str_list(v, f"vocab {key}.{k}", where) for k, v in table.items()
        }
    default = data.get("default_classes")
    active = _str_list(default, "default_classes", where) if default is not None else list(specs)
    return PromptBank(
        name=str(data.get("name") or default_name),
        classes=active,
        specs=specs,
        templates=_str_list(data.get("templates"), "templates", where),
        metadata_templates=_str_list(data.get("metadata_templates"), "metadata_templates", where),
        vocab=vocab,
        source=source,
    )


def _read_txt(path: Path) -> dict[str, Any]:
    classes: dict[str, dict[str, list[str]]] = {}
    for no, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        cls, sep, prompt = line.partition(":")
        if not sep or not cls.strip() or not prompt.strip():
            raise PromptBankError(
                f"prompt bank {str(path)!r} line {no}: expected 'class: prompt', got {raw!r}"
            )
        classes.setdefault(cls.strip().lower(), {"descriptions": []})["descriptions"].append(prompt.strip())
    return {"classes": classes}


def load_bank(name_or_path: str | os.PathLike[str]) -> PromptBank:
    """Load a shipped bank by name (`SHIPPED_BANKS`) or a user's `.yaml`/`.yml`/`.json`/`.txt` file.

    Raises:
        FileNotFoundError: neither a shipped bank nor an existing file (the message names both places).
        PromptBankError: the file is not a valid bank (the message names the file and the problem).
    """
    text = str(name_or_path)
    path = Path(text).expanduser()
    if not path.is_file():
        shipped = prompts_dir() / f"{text}.yaml"
        if text in SHIPPED_BANKS or shipped.is_file():
            path = shipped
    if not path.is_file():
        raise FileNotFoundError(
            f"prompt bank {text!r}: no such file ({str(path.resolve())!r}) and not a shipped bank "
            f"(shipped: {list(SHIPPED_BANKS)} in {str(prompts_dir())!r})"
        )
    suffix = path.suffix.lower()
    try:
        if suffix in (".yaml", ".yml"):
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        elif suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
        elif suffix == ".txt":
            data = _read_txt(path)
        else:
            raise PromptBankError(
                f"prompt bank {str(path)!r}: unsupported extension {suffix!r} (.yaml .yml .json .txt)"
            )
    except (yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise PromptBankError(f"prompt bank {str(path)!r}: cannot parse: {err}") from err
    return bank_from_dict(data, source=str(path), default_name=path.stem)


def bank_for_labels(labels: Iterable[str]) -> PromptBank:
    """The first shipped bank (order of `SHIPPED_BANKS`) defining every label, restricted to those labels.

    The returned bank's `classes` follow `labels` (sorted if a set is given).
    """
    wanted = _ordered_labels(labels)
    if not wanted:
        raise ValueError("bank_for_labels: no labels given")
    for name in SHIPPED_BANKS:
        bank = load_bank(name)
        if all(c in bank.specs for c in wanted):
            return bank.subset(wanted)
    raise ValueError(
        f"no shipped prompt bank defines all labels {wanted}; shipped banks: {list(SHIPPED_BANKS)}"
    )


def describe_bank(bank: PromptBank | str, n_examples: int = 3, metadata: Mapping[str, Any] | None = None):
    """A DataFrame with one row per active class: its prompt count and first `n_examples` prompts."""
    import pandas as pd

    if n_examples < 1:
        raise ValueError(f"n_examples must be >= 1, got {n_examples}")
    bank = load_bank(bank) if isinstance(bank, str) else bank
    rows = []
    for c in bank.classes:
        ps = bank.prompts(c, metadata)
        examples = {f"example {i + 1}": p for i, p in enumerate(ps[:n_examples])}
        rows.append({"class": c, "n_prompts": len(ps), **examples})
    return pd.DataFrame(rows).set_index("class")
