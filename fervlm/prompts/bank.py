"""`PromptBank`: a validated prompt bank, and how its templates are filled into prompts.

A *prompt bank* gives, for each class `c`, the prompt set `T_c` (docs/methods.md §1, §2, §4). Where banks come
from (YAML/JSON/text files, the shipped banks) is `fervlm.prompts.loading`; their embeddings and class
prototypes are `fervlm.prompts.embeddings`.

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

Prompts of a class (`PromptBank.prompts`): every template × every adjective (a template without `{adj}` once),
then the descriptions; with metadata (AffectVLM's augmented textual prompts, e.g. "an older man looking very
happy"), also every metadata template × adjective filled with the sample's words. A metadata word that is
unknown (empty sex, unmapped age group or ethnicity code, intensity 0) is dropped — sex falls back to the
`""` entry ("person") — and the articles "a"/"an" are fixed after filling.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

TEMPLATE_FIELDS = frozenset({"cls", "adj"})
METADATA_FIELDS = frozenset({"cls", "adj", "person", "age", "ethnicity", "intensity_adv"})
VOCAB_KEYS = ("sex", "age_group", "ethnicity", "intensity")
METADATA_KEYS = ("sex", "age_group", "ethnicity", "intensity")
# Words starting with a vowel letter but a consonant sound, and the reverse ("an hour"); enough for our vocab.
_AN_EXCEPTIONS = ("eu", "uni", "one", "use", "usu")
_AN_SILENT_H = ("hour", "honest", "honou")


class PromptBankError(ValueError):
    """A prompt bank file or specification is invalid; the message names the file and the problem."""


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
