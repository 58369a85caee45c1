"""Prompt banks, metadata-augmented prompts, prompt embeddings and class prototypes.

A *prompt bank* gives, for each class `c`, the prompt set `T_c` (docs/methods.md §1, §2, §4). Banks are data:
YAML files in `data/prompts/` (`emotions6`, `bp4d_tasks`, `micro5`), found at `$FERVLM_DATA/prompts`
when the environment variable `FERVLM_DATA` is set, else at `<repo>/data/prompts` next to the package (the
editable install).

Bank schema (YAML or JSON)::

    name: emotions6                      # optional, defaults to the file stem
    default_classes: [anger, ...]        # optional: the bank's classes when loaded (default: all defined)
    classes:                             # required, non-empty
      happiness:
        adjectives: [happy, joyful]      # fill {adj}
        descriptions: [a face with raised cheeks and pulled-up lip corners]   # literal prompts (SMILE-VLM)
        noun: happiness                  # optional: the word for {cls} (default: the class key)
    templates: ["a photo of a {adj} face", "a 3D face scan showing {cls}"]        # placeholders {cls} {adj}
    metadata_templates: ["a {age} {person} looking {intensity_adv} {adj}"]
                                         # + {person} {age} {ethnicity} {intensity_adv}
    vocab:                               # required when metadata_templates are given
      sex: {F: [woman], M: [man], "": [person]}
      age_group: {young: [young], older: [older]}
      ethnicity: {WH: [white], ...}      # BU-3DFE codes; meanings uncertain (docs/datasets.md §1.3)
      intensity: {1: [slightly], 4: [very]}

A plain-text bank (`.txt`, e.g. prompts written by an LLM elsewhere) holds one `class: prompt` line per prompt
(`#` comments and blank lines ignored); its prompts are literal descriptions.

Prompts of a class (`PromptBank.prompts`): every template × every adjective (a template without `{adj}` once),
then the descriptions; with metadata (AffectVLM's augmented textual prompts, e.g. "an older man looking very
happy"), also every metadata template × adjective filled with the sample's words. A metadata word that is
unknown (empty sex, unmapped age group or ethnicity code, intensity 0) is dropped — sex falls back to the
`""` entry ("person") — and the articles "a"/"an" are fixed after filling.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import string
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

TEMPLATE_FIELDS = frozenset({"cls", "adj"})
METADATA_FIELDS = frozenset({"cls", "adj", "person", "age", "ethnicity", "intensity_adv"})
VOCAB_KEYS = ("sex", "age_group", "ethnicity", "intensity")
METADATA_KEYS = ("sex", "age_group", "ethnicity", "intensity")
SHIPPED_BANKS = ("emotions6", "bp4d_tasks", "micro5")  # also the preference order of `bank_for_labels`
_TOP_KEYS = {"name", "description", "default_classes", "classes", "templates", "metadata_templates", "vocab"}
_CLASS_KEYS = {"adjectives", "descriptions", "noun"}
# Words starting with a vowel letter but a consonant sound, and the reverse ("an hour"); enough for our vocab.
_AN_EXCEPTIONS = ("eu", "uni", "one", "use", "usu")
_AN_SILENT_H = ("hour", "honest", "honou")


class PromptBankError(ValueError):
    """A prompt bank file or specification is invalid; the message names the file and the problem."""


def prompts_dir() -> Path:
    """Folder of the banks: `$FERVLM_DATA/prompts` if that is set, else the package's `resources/prompts`."""
    from fervlm.resources import shipped

    root = os.environ.get("FERVLM_DATA")
    return Path(root) / "prompts" if root else shipped("prompts")


def _article(word: str) -> str:
    w = word.lower()
    if w.startswith(_AN_SILENT_H):
        return "an"
    if w[:1] in "aeiou" and not w.startswith(_AN_EXCEPTIONS):
        return "an"
    return "a"


def tidy(text: str) -> str:
    """Collapse whitespace left by dropped words and fix "a"/"an" before the following word."""
    text = " ".join(text.split())

    def fix(match: re.Match[str]) -> str:
        art, word = match.group(1), match.group(2)
        new = _article(word)
        return (new.capitalize() if art[0].isupper() else new) + " " + word

    return re.sub(r"\b([Aa]n?) (\w[\w-]*)", fix, text)


def _placeholders(template: str) -> set[str]:
    try:
        return {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as err:  # unbalanced braces
        raise PromptBankError(f"malformed template {template!r}: {err}") from err


@dataclass(frozen=True)
class ClassPrompts:
    """Prompt material of one class."""

    adjectives: tuple[str, ...] = ()
    descriptions: tuple[str, ...] = ()
    noun: str = ""


@dataclass
class PromptBank:
    """A validated prompt bank (schema in the module docstring).

    Attributes:
        name: bank name.
        classes: the active classes, in order (prototypes and predictions follow this order).
        specs: prompt material for every class the bank defines (a superset of `classes`).
        templates / metadata_templates: format strings.
        vocab: metadata code -> words, per key of `VOCAB_KEYS`.
        source: the file it came from ("" when built in code).
    """

    name: str
    classes: list[str]
    specs: dict[str, ClassPrompts]
    templates: list[str] = field(default_factory=list)
    metadata_templates: list[str] = field(default_factory=list)
    vocab: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        where = f"prompt bank {self.source or self.name!r}"
        if not self.specs:
            raise PromptBankError(f"{where}: no classes defined")
        unknown = [c for c in self.classes if c not in self.specs]
        if unknown:
            raise PromptBankError(
                f"{where}: classes {unknown} are not defined; defined: {sorted(self.specs)}"
            )
        for t in self.templates:
            bad = _placeholders(t) - TEMPLATE_FIELDS
            if bad:
                raise PromptBankError(
                    f"{where}: template {t!r} uses unknown placeholder(s) {sorted(bad)}; "
                    f"allowed: {sorted(TEMPLATE_FIELDS)}"
                )
        for t in self.metadata_templates:
            bad = _placeholders(t) - METADATA_FIELDS
            if bad:
                raise PromptBankError(
                    f"{where}: metadata template {t!r} uses unknown placeholder(s) {sorted(bad)}; "
                    f"allowed: {sorted(METADATA_FIELDS)}"
                )
        if self.metadata_templates and "sex" not in self.vocab:
            raise PromptBankError(
                f"{where}: metadata_templates need a vocab with at least 'sex' (keys {VOCAB_KEYS})"
            )
        self._plain: dict[str, list[str]] = {}
        for cls, spec in self.specs.items():
            for d in spec.descriptions:
                if "{" in d or "}" in d:
                    raise PromptBankError(
                        f"{where}: class {cls!r}: descriptions are literal prompts, but {d!r} has braces; "
                        "put placeholders in templates"
                    )
            plain = self._fill_all(cls, self.templates, {})
            if not plain:
                raise PromptBankError(
                    f"{where}: class {cls!r} has no prompts (no descriptions, and no template it can fill: "
                    "templates with {adj} need adjectives)"
                )
            self._plain[cls] = plain

    # -- building prompts ---------------------------------------------------------------------------------
    def _fill_all(self, cls: str, templates: Sequence[str], words: Mapping[str, str]) -> list[str]:
        spec = self.specs[cls]
        out: list[str] = []
        for t in templates:
            adjs: Iterable[str] = spec.adjectives if "adj" in _placeholders(t) else ("",)
            for adj in adjs:
                out.append(tidy(t.format(cls=spec.noun or cls, adj=adj, **words)))
        if not words:
            out.extend(spec.descriptions)
        return list(dict.fromkeys(out))  # drop duplicates, keep order

    def _check_class(self, cls: str) -> None:
        if cls not in self.specs:
            raise KeyError(
                f"class {cls!r} is not in prompt bank {self.name!r}; defined: {sorted(self.specs)}"
            )

    def metadata_words(self, metadata: Mapping[str, Any] | None) -> list[dict[str, str]] | None:
        """All combinations of words for one sample's metadata, or None when it carries nothing usable.

        Unknown values give "" (the word is dropped); `sex` falls back to the vocab's "" entry.
        """
        if metadata is None or not self.metadata_templates:
            return None
        values = {k: _clean(metadata.get(k) if hasattr(metadata, "get") else None) for k in METADATA_KEYS}
        if all(v == "" for v in values.values()):
            return None
        person = self._words("sex", values["sex"]) or self._words("sex", "") or ["person"]
        age = self._words("age_group", values["age_group"]) or _age_from_number(values["age_group"])
        eth = self._words("ethnicity", values["ethnicity"])
        inten = self._words("intensity", values["intensity"])
        return [
            {"person": p, "age": a, "ethnicity": e, "intensity_adv": i}
            for p in person
            for a in (age or [""])
            for e in (eth or [""])
            for i in (inten or [""])
        ]

    def _words(self, key: str, value: str) -> list[str]:
        table = self.vocab.get(key, {})
        return list(table.get(value, table.get(value.lower(), table.get(value.upper(), []))))

    def prompts(self, cls: str, metadata: Mapping[str, Any] | None = None) -> list[str]:
        """All prompts of class `cls`: templates × adjectives + descriptions, plus metadata-augmented prompts.

        Args:
            cls: a class the bank defines.
            metadata: a dict or DataFrame row with any of `sex`, `age_group`, `ethnicity`, `intensity`
                (AffectVLM augmented textual prompts); None or all-unknown adds nothing.
        """
        self._check_class(cls)
        plain = self._plain[cls]
        combos = self.metadata_words(metadata)
        if not combos:
            return list(plain)
        extra: list[str] = []
        for words in combos:
            extra.extend(self._fill_all(cls, self.metadata_templates, words))
        return list(dict.fromkeys([*plain, *extra]))

    def plain_prompt(self, cls: str) -> str:
        """The class's canonical prompt (first template, first adjective): the non-augmented baseline."""
        self._check_class(cls)
        return self._plain[cls][0]

    def sample(
        self,
        cls: str,
        rng: np.random.Generator,
        metadata: Mapping[str, Any] | None = None,
        augmented: bool = True,
    ) -> str:
        """Draw one prompt of `cls` uniformly from `prompts(cls, metadata)` (plain prompt if not augmented).

        `augmented=False` is the ablation "no augmented textual prompts" (docs/methods.md §6, notebook 05).
        """
        if not augmented:
            return self.plain_prompt(cls)
        options = self.prompts(cls, metadata)
        return options[int(rng.integers(len(options)))]

    def sample_views(
        self, cls: str, n_views: int, rng: np.random.Generator, metadata: Mapping[str, Any] | None = None
    ) -> list[str]:
        """One independently drawn prompt per view (AffectVLM: each view draws its own prompt)."""
        if n_views < 1:
            raise ValueError(f"n_views must be >= 1, got {n_views}")
        return [self.sample(cls, rng, metadata) for _ in range(n_views)]

    def all_prompts(self, classes: Sequence[str] | None = None) -> tuple[list[str], list[str]]:
        """(prompts, class of each prompt) over `classes` (default: the active classes), no metadata."""
        texts: list[str] = []
        owners: list[str] = []
        for c in classes if classes is not None else self.classes:
            ps = self.prompts(c)
            texts.extend(ps)
            owners.extend([c] * len(ps))
        return texts, owners

    def subset(self, labels: Iterable[str]) -> PromptBank:
        """The same bank with `classes` set to `labels` (which may include defined non-default classes)."""
        labels = _ordered_labels(labels)
        missing = [c for c in labels if c not in self.specs]
        if missing:
            raise KeyError(
                f"classes {missing} are not in prompt bank {self.name!r}; defined: {sorted(self.specs)}"
            )
        return PromptBank(
            self.name,
            labels,
            dict(self.specs),
            list(self.templates),
            list(self.metadata_templates),
            self.vocab,
            self.source,
        )


def _clean(value: Any) -> str:
    """Metadata value -> a vocab key: "" for None/NaN/0-intensity, ints for integral floats (4.0 -> "4")."""
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return ""
        if float(value).is_integer():
            value = int(value)
    if isinstance(value, (int, np.integer)):
        return "" if int(value) == 0 else str(int(value))
    text = str(value).strip()
    return "" if text.lower() in {"nan", "none", "0"} else text


def _age_from_number(value: str) -> list[str]:
    """An age group written as a number or range ("25", "18-30"): <30 young, <50 middle-aged, else older."""
    m = re.match(r"\s*(\d+)", value)
    if not m:
        return []
    age = int(m.group(1))
    return ["young"] if age < 30 else ["middle-aged"] if age < 50 else ["older"]


def _ordered_labels(labels: Iterable[str]) -> list[str]:
    # A set has no stable order across processes (string hashing is salted), so sort it.
    items = sorted(labels) if isinstance(labels, (set, frozenset)) else list(labels)
    return list(dict.fromkeys(str(x) for x in items))


# -- loading ---------------------------------------------------------------------------------------------
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


# -- text embeddings -------------------------------------------------------------------------------------
def encode_prompts(backbone: Any, prompts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
    """Embed prompts with the backbone's text tower: (N, D) float32, L2-normalised, no gradient.

    Args:
        backbone: a `fervlm.backbones.Backbone` (anything with `encode_text(list[str], normalize=True)`).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if len(prompts) == 0:
        raise ValueError("encode_prompts: no prompts given")
    chunks = []
    with torch.no_grad():
        for i in range(0, len(prompts), batch_size):
            emb = backbone.encode_text(list(prompts[i : i + batch_size]), normalize=True)
            chunks.append(emb.float())
    return torch.cat(chunks)


class PromptEmbeddingCache:
    """Prompt embeddings computed once per (text-tower fingerprint, prompt), in memory and optionally on disk.

    The text tower is frozen by default (docs/methods.md §1), so a bank's embeddings never change during
    training; keying on `Backbone.text_fingerprint()` keeps the cache right if the tower is trained or
    reloaded anyway. On disk each fingerprint gets one file `<cache_dir>/<fingerprint>.pt`
    ({prompt: (D,) tensor}), written to a temporary name and renamed so a crash never leaves a corrupt cache.
    """

    def __init__(self, cache_dir: str | os.PathLike[str] | None = None, batch_size: int = 256) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.batch_size = batch_size
        self._store: dict[str, dict[str, torch.Tensor]] = {}
        self.n_encoded = 0  # prompts actually sent through the text tower (for tests and logs)

    def _table(self, key: str) -> dict[str, torch.Tensor]:
        if key not in self._store:
            table: dict[str, torch.Tensor] = {}
            if self.cache_dir is not None and (self.cache_dir / f"{key}.pt").is_file():
                table = torch.load(self.cache_dir / f"{key}.pt", weights_only=True)
            self._store[key] = table
        return self._store[key]

    def get(self, backbone: Any, prompts: Sequence[str], key: str | None = None) -> torch.Tensor:
        """(N, D) normalised embeddings of `prompts`, encoding only those not cached yet.

        Args:
            key: cache identity; default `backbone.text_fingerprint()`.
        """
        key = key or backbone.text_fingerprint()
        table = self._table(key)
        missing = list(dict.fromkeys(p for p in prompts if p not in table))
        if missing:
            emb = encode_prompts(backbone, missing, self.batch_size).cpu()
            self.n_encoded += len(missing)
            table.update({p: e.clone() for p, e in zip(missing, emb, strict=True)})
            if self.cache_dir is not None:
                self._save(key, table)
        return torch.stack([table[p] for p in prompts])

    def _save(self, key: str, table: dict[str, torch.Tensor]) -> None:
        assert self.cache_dir is not None
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".tmp", dir=self.cache_dir)
        os.close(fd)
        try:
            torch.save(table, tmp)
            os.replace(tmp, self.cache_dir / f"{key}.pt")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def class_prototypes(
    backbone: Any,
    bank: PromptBank,
    classes: Sequence[str] | None = None,
    cache: PromptEmbeddingCache | None = None,
) -> torch.Tensor:
    """Class prototypes `p_c = normalize(mean_{t in T_c} normalize(f_t(t)))` (docs/methods.md §1): (C, D).

    Uses each class's prompts without metadata, in the order of `classes` (default: `bank.classes`).
    """
    classes = list(classes) if classes is not None else list(bank.classes)
    texts, owners = bank.all_prompts(classes)
    emb = cache.get(backbone, texts) if cache is not None else encode_prompts(backbone, texts)
    owner_idx = torch.tensor([classes.index(o) for o in owners])
    sums = torch.zeros(len(classes), emb.shape[1], dtype=emb.dtype).index_add_(0, owner_idx, emb.cpu())
    counts = torch.bincount(owner_idx, minlength=len(classes)).to(emb.dtype)[:, None]
    return torch.nn.functional.normalize(sums / counts, dim=1)


def bank_fingerprint(bank: PromptBank) -> str:
    """A short hash of a bank's active classes and prompts (for run records)."""
    texts, owners = bank.all_prompts()
    return hashlib.sha1(json.dumps([owners, texts]).encode()).hexdigest()[:12]
