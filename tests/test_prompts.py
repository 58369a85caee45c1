"""Tests for fervlm.prompts: bank loading/validation, metadata prompts, sampling, prototypes, the cache."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fervlm.backbones import create_backbone
from fervlm.prompts import (
    SHIPPED_BANKS,
    PromptBank,
    PromptBankError,
    PromptEmbeddingCache,
    bank_for_labels,
    bank_from_dict,
    class_prototypes,
    describe_bank,
    encode_prompts,
    load_bank,
    prompts_dir,
    tidy,
)

EXPECTED = {
    "emotions6": ["anger", "disgust", "fear", "happiness", "sadness", "surprise"],
    "bp4d_tasks": ["happiness", "sadness", "surprise", "embarrassment", "fear", "pain", "anger", "disgust"],
    "micro5": ["positive", "negative", "surprise", "repression", "others"],
}
META_FULL = {"sex": "F", "age_group": "middle_aged", "ethnicity": "AM", "intensity": 2}


@pytest.fixture(scope="module")
def tiny():
    return create_backbone("fervlm-tiny")


@pytest.fixture(scope="module")
def e6() -> PromptBank:
    return load_bank("emotions6")


@pytest.mark.parametrize("name", SHIPPED_BANKS)
def test_shipped_banks_load_with_expected_classes(name: str) -> None:
    bank = load_bank(name)
    assert bank.name == name
    assert bank.classes == EXPECTED[name]
    for cls in bank.specs:  # every defined class (incl. emotions6's neutral) has prompts, metadata or not
        plain = bank.prompts(cls)
        assert len(plain) >= 3 and len(set(plain)) == len(plain)
        assert all("{" not in p and "  " not in p for p in plain)
        meta = bank.prompts(cls, META_FULL)
        assert meta[: len(plain)] == plain and len(meta) > len(plain)


def test_neutral_is_available_via_subset(e6: PromptBank) -> None:
    assert "neutral" not in e6.classes
    sub = e6.subset(["neutral", "happiness"])
    assert sub.classes == ["neutral", "happiness"]
    assert any("neutral" in p for p in sub.prompts("neutral"))


def test_prompts_are_templates_times_adjectives_plus_descriptions(e6: PromptBank) -> None:
    spec = e6.specs["happiness"]
    expected = []
    for t in e6.templates:
        adjs = spec.adjectives if "{adj}" in t else ("",)
        expected += [tidy(t.format(cls="happiness", adj=a)) for a in adjs]
    expected += list(spec.descriptions)
    assert e6.prompts("happiness") == list(dict.fromkeys(expected))
    assert "a photo of a happy face" in expected
    assert "a 3D face scan showing happiness" in expected
    assert "a face with raised cheeks and pulled-up lip corners" in expected


def test_metadata_prompt_affectvlm_example(e6: PromptBank) -> None:
    ps = e6.prompts("happiness", {"sex": "M", "age_group": "older", "ethnicity": "", "intensity": 4})
    assert "an older man looking very happy" in ps
    assert "an older male looking very joyful" in ps
    ps = e6.prompts("happiness", {"sex": "F", "age_group": "middle_aged", "ethnicity": "BL", "intensity": 4})
    assert "a middle-aged Black woman looking very happy" in ps


def test_metadata_missing_fields_fall_back(e6: PromptBank) -> None:
    # Only the intensity known: sex falls back to "person", unknown words are dropped, articles stay right.
    ps = e6.prompts("sadness", {"sex": "", "age_group": float("nan"), "ethnicity": "ZZ", "intensity": 1.0})
    assert "a person looking slightly sad" in ps
    assert all("  " not in p and " a a" not in p for p in ps)
    # Nothing known (or no metadata at all): exactly the plain prompts.
    empty = {"sex": "", "age_group": "", "ethnicity": "", "intensity": 0}
    assert e6.prompts("sadness", empty) == e6.prompts("sadness")
    assert e6.prompts("sadness", {}) == e6.prompts("sadness")
    # A pandas row works as metadata, and a numeric age falls back to the age rule.
    import pandas as pd

    row = pd.Series({"sex": "M", "age_group": "62", "ethnicity": "WH", "intensity": np.int64(4)})
    assert "an older white man looking very sad" in e6.prompts("sadness", row)


def test_tidy_fixes_articles_and_spaces() -> None:
    assert tidy("a  older man") == "an older man"
    assert tidy("an young  person") == "a young person"
    assert tidy("A East Asian woman") == "An East Asian woman"
    assert tidy("a European man") == "a European man"


def test_sampling_is_seeded_and_draws_from_the_bank(e6: PromptBank) -> None:
    meta = {"sex": "M", "age_group": "older", "intensity": 4}
    a = [e6.sample("fear", np.random.default_rng(7), meta) for _ in range(3)]
    b = [e6.sample("fear", np.random.default_rng(7), meta) for _ in range(3)]
    assert a == b
    views = e6.sample_views("fear", 3, np.random.default_rng(1), meta)
    assert views == e6.sample_views("fear", 3, np.random.default_rng(1), meta)
    assert len(views) == 3 and set(views) <= set(e6.prompts("fear", meta))
    # Over many draws every prompt of the class appears (uniform sampling over the whole list).
    rng = np.random.default_rng(0)
    drawn = {e6.sample("fear", rng) for _ in range(2000)}
    assert drawn == set(e6.prompts("fear"))
    assert e6.sample("fear", rng, augmented=False) == e6.plain_prompt("fear") == "a photo of a fearful face"
    with pytest.raises(ValueError, match="n_views"):
        e6.sample_views("fear", 0, rng)
    with pytest.raises(KeyError, match="contempt"):
        e6.sample("contempt", rng)


def test_user_files_load(tmp_path) -> None:
    txt = tmp_path / "llm.txt"
    txt.write_text(
        "# written by an LLM\nhappiness: a grinning face\n\n"
        "Happiness: a beaming person\nfear: a terrified face\n"
    )
    bank = load_bank(txt)
    assert bank.name == "llm" and bank.classes == ["happiness", "fear"]
    assert bank.prompts("happiness") == ["a grinning face", "a beaming person"]

    spec = {"name": "mine", "classes": {"joy": {"adjectives": ["joyful"]}}, "templates": ["a {adj} face"]}
    js = tmp_path / "mine.json"
    js.write_text(json.dumps(spec))
    assert load_bank(str(js)).prompts("joy") == ["a joyful face"]


def test_fervlm_data_env_override(tmp_path, monkeypatch) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "emotions6.yaml").write_text("classes: {calm: {descriptions: [a calm face]}}\n")
    monkeypatch.setenv("FERVLM_DATA", str(tmp_path))
    assert prompts_dir() == tmp_path / "prompts"
    assert load_bank("emotions6").classes == ["calm"]


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("classes: {joy: {adjectives: [glad]}}\ntemplates: ['a {adjective}']", r"placeholder.*adjective"),
        (
            "classes: {joy: {adjectives: [glad]}}\nmetadata_templates: ['a {age} {persn}']\n"
            "vocab: {sex: {M: [man]}}",
            r"unknown placeholder.*persn",
        ),
        (
            "classes: {joy: {adjectives: [glad]}}\ntemplates: ['a face showing {cls}']\n"
            "metadata_templates: ['a {person}']",
            "need a vocab",
        ),
        ("classes: {joy: {adjectives: [glad]}, calm: {}}\ntemplates: ['a {adj}']", "'calm' has no prompts"),
        ("classes: {}", "non-empty mapping"),
        ("classes: {joy: {adjektives: [glad]}}", "unknown key"),
        ("klasses: {joy: {}}", "unknown top-level key"),
        ("classes: {joy: {descriptions: ['a {adj} face']}}", "literal"),
        ("classes: {joy: {descriptions: a single string}}", "list of strings"),
        ("classes: [joy", "cannot parse"),
    ],
)
def test_bad_files_give_clear_errors(tmp_path, content: str, match: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(PromptBankError, match=match) as info:
        load_bank(path)
    assert "bad.yaml" in str(info.value)


def test_bad_txt_and_missing_file(tmp_path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("happiness: ok\nno colon here\n")
    with pytest.raises(PromptBankError, match=r"bad.txt.*line 2"):
        load_bank(path)
    with pytest.raises(FileNotFoundError, match=r"nowhere.yaml.*shipped"):
        load_bank(tmp_path / "nowhere.yaml")
    with pytest.raises(FileNotFoundError, match="emotions7"):
        load_bank("emotions7")


def test_bank_for_labels() -> None:
    assert bank_for_labels(["happiness", "disgust"]).name == "emotions6"
    by_set = bank_for_labels({"surprise", "happiness", "neutral"})
    assert by_set.classes == ["happiness", "neutral", "surprise"]
    pain = bank_for_labels(["pain", "happiness"])
    assert pain.name == "bp4d_tasks" and pain.classes == ["pain", "happiness"]
    assert bank_for_labels(["repression", "others"]).name == "micro5"
    with pytest.raises(ValueError, match="contempt"):
        bank_for_labels(["contempt"])


def test_describe_bank(e6: PromptBank) -> None:
    table = describe_bank("emotions6", n_examples=2)
    assert list(table.index) == e6.classes
    assert list(table.columns) == ["n_prompts", "example 1", "example 2"]
    assert table.loc["happiness", "example 1"] == "a photo of a happy face"


def test_every_prompt_fits_the_context_length(tiny) -> None:
    # Our configs use context_length 32: the EOT token must survive for every prompt of every bank.
    from fervlm.backbones import our_model_names

    metas = [None, META_FULL, {"sex": "M", "age_group": "young_adult", "ethnicity": "AE", "intensity": 3}]
    banks = [load_bank(n) for n in SHIPPED_BANKS]
    texts = [p for b in banks for c in b.specs for m in metas for p in b.prompts(c, m)]
    for name in our_model_names():
        bb = tiny if name == "fervlm-tiny" else create_backbone(name)
        tokens = bb.tokenize(texts)
        lengths = (tokens != 0).sum(dim=1)
        assert int(lengths.max()) < bb.context_length, name
        assert (tokens.gather(1, (lengths - 1)[:, None]) == 49407).all()  # the last real token is EOT


def test_encode_prompts_and_prototypes(tiny, e6: PromptBank) -> None:
    texts, _ = e6.all_prompts()
    emb = encode_prompts(tiny, texts, batch_size=7)  # odd batch size: chunking must not change the result
    assert emb.shape == (len(texts), tiny.embed_dim) and not emb.requires_grad
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(len(texts)))
    torch.testing.assert_close(emb, encode_prompts(tiny, texts), atol=1e-5, rtol=1e-5)

    protos = class_prototypes(tiny, e6)
    assert protos.shape == (6, tiny.embed_dim)
    torch.testing.assert_close(protos.norm(dim=1), torch.ones(6))
    for i, c in enumerate(e6.classes):  # reference: normalise(mean of normalised f_t(t)) per class
        with torch.no_grad():
            f = tiny.model.encode_text(tiny.tokenizer(e6.prompts(c)))
        ref = torch.nn.functional.normalize(torch.nn.functional.normalize(f, dim=1).mean(0), dim=0)
        torch.testing.assert_close(protos[i], ref, atol=1e-5, rtol=1e-5)
    sub = class_prototypes(tiny, e6, classes=["surprise", "anger"])
    torch.testing.assert_close(sub, protos[[5, 0]], atol=1e-6, rtol=1e-6)


class _CountingBackbone:
    """Wraps a backbone and counts the prompts its text tower sees."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.seen: list[str] = []

    def encode_text(self, texts, normalize=True):
        self.seen.extend(texts)
        return self.inner.encode_text(texts, normalize=normalize)

    def text_fingerprint(self) -> str:
        return self.inner.text_fingerprint()


def test_cache_encodes_each_prompt_once(tiny, e6: PromptBank, tmp_path) -> None:
    counting = _CountingBackbone(tiny)
    cache = PromptEmbeddingCache(cache_dir=tmp_path / "cache")
    p1 = class_prototypes(counting, e6, cache=cache)
    n = len(counting.seen)
    assert n == len(set(counting.seen)) == len(e6.all_prompts()[0]) == cache.n_encoded
    p2 = class_prototypes(counting, e6, cache=cache)
    extra = cache.get(counting, ["a photo of a happy face", "a brand new prompt", "a brand new prompt"])
    assert counting.seen[n:] == ["a brand new prompt"]
    torch.testing.assert_close(p1, p2)
    ref = encode_prompts(tiny, ["a photo of a happy face"])[0]
    torch.testing.assert_close(extra[0], ref, atol=1e-6, rtol=0)
    # A fresh cache on the same folder reads the disk copy and encodes nothing.
    counting.seen.clear()
    again = PromptEmbeddingCache(cache_dir=tmp_path / "cache")
    torch.testing.assert_close(class_prototypes(counting, e6, cache=again), p1)
    assert counting.seen == [] and again.n_encoded == 0
    assert not list((tmp_path / "cache").glob("*.tmp"))
    # Changing the text tower changes the fingerprint, so stale embeddings are not reused.
    other = create_backbone("fervlm-tiny")
    assert other.text_fingerprint() != tiny.text_fingerprint()
    assert tiny.text_fingerprint() == tiny.text_fingerprint()


def test_bank_from_dict_defaults() -> None:
    bank = bank_from_dict({"classes": {"a": {"descriptions": ["x"]}, "b": {"descriptions": ["y"]}}})
    assert bank.name == "bank" and bank.classes == ["a", "b"]
    with pytest.raises(PromptBankError, match="not defined"):
        bank_from_dict({"classes": {"a": {"descriptions": ["x"]}}, "default_classes": ["z"]})
