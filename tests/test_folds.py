"""Tests for fervlm.folds: subject independence, coverage, balance, stability, round trips, errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fervlm.cli import main as cli_main
from fervlm.folds import (
    cross_dataset_split,
    folds_summary,
    load_folds,
    save_folds,
    subject_kfold,
    validation_split,
)

CLASSES = ["anger", "disgust", "fear", "happiness", "sadness", "surprise"]


def make_index(n_subjects: int = 23, seed: int = 0, uneven: bool = True) -> pd.DataFrame:
    """A BU-3DFE-like table: every subject has the six emotions at 1-3 intensities (uneven sizes)."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_subjects):
        subject = f"{'F' if s % 2 else 'M'}{s:04d}"
        reps = int(rng.integers(1, 4)) if uneven else 2
        for c in CLASSES:
            for r in range(reps):
                rows.append(
                    {"sample_id": f"{subject}_{c}_{r}", "subject": subject, "label": c, "intensity": r + 1}
                )
    return pd.DataFrame(rows)


def test_folds_are_subject_disjoint_and_cover_every_row_once() -> None:
    index = make_index()
    folds = subject_kfold(index, k=10, seed=0)
    assert len(folds) == 10
    subjects = index["subject"].to_numpy()
    tested = np.concatenate([test for _, test in folds])
    # Every row is tested exactly once across folds.
    np.testing.assert_array_equal(np.sort(tested), np.arange(len(index)))
    for train, test in folds:
        assert set(subjects[train]).isdisjoint(subjects[test])
        # Train is the complement of test.
        np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(len(index)))
        assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)
        assert train.dtype == np.int64 and test.dtype == np.int64


def test_folds_balance_subjects_and_samples() -> None:
    index = make_index(n_subjects=23)
    folds = subject_kfold(index, k=10, seed=3)
    subjects = index["subject"].to_numpy()
    n_subj = [len(set(subjects[test])) for _, test in folds]
    assert max(n_subj) - min(n_subj) <= 1
    assert sum(n_subj) == 23
    # Greedy sample balancing: no fold's test part is more than one (largest) subject above another.
    n_test = [len(test) for _, test in folds]
    largest_subject = index.groupby("subject").size().max()
    assert max(n_test) - min(n_test) <= largest_subject


def test_folds_stable_for_seed_and_independent_of_row_order() -> None:
    index = make_index()
    a = subject_kfold(index, k=5, seed=7)
    b = subject_kfold(index, k=5, seed=7)
    for (tr_a, te_a), (tr_b, te_b) in zip(a, b, strict=True):
        np.testing.assert_array_equal(tr_a, tr_b)
        np.testing.assert_array_equal(te_a, te_b)
    # Shuffled rows: the same subjects end up in the same folds.
    perm = np.random.default_rng(1).permutation(len(index))
    shuffled = index.iloc[perm].reset_index(drop=True)
    c = subject_kfold(shuffled, k=5, seed=7)
    groups_a = [frozenset(index["subject"].to_numpy()[te]) for _, te in a]
    groups_c = [frozenset(shuffled["subject"].to_numpy()[te]) for _, te in c]
    assert groups_a == groups_c
    # A different seed gives a different partition.
    d = subject_kfold(index, k=5, seed=8)
    groups_d = [frozenset(index["subject"].to_numpy()[te]) for _, te in d]
    assert set(groups_a) != set(groups_d)


def test_k_equal_to_subjects_is_leave_one_subject_out() -> None:
    index = make_index(n_subjects=4)
    folds = subject_kfold(index, k=4)
    assert sorted(len(set(index["subject"].to_numpy()[te])) for _, te in folds) == [1, 1, 1, 1]


@pytest.mark.parametrize(
    ("table", "k", "match"),
    [
        (make_index(n_subjects=3), 4, r"k=4 folds but the index has only 3 subjects"),
        (make_index(n_subjects=3), 1, r"k=1"),
        (make_index(n_subjects=3).drop(columns="subject"), 2, r"no 'subject' column"),
        (
            make_index(n_subjects=3).assign(subject=lambda d: ["", *d["subject"].iloc[1:]]),
            2,
            r"1 row\(s\) have no subject",
        ),
    ],
)
def test_kfold_errors(table: pd.DataFrame, k: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        subject_kfold(table, k=k)


def test_validation_split_is_subject_disjoint_subset() -> None:
    index = make_index(n_subjects=30)
    subjects = index["subject"].to_numpy()
    train, _ = subject_kfold(index, k=10)[0]
    new_train, val = validation_split(index, train, fraction=0.2, seed=0)
    assert set(subjects[new_train]).isdisjoint(subjects[val])
    np.testing.assert_array_equal(np.sort(np.concatenate([new_train, val])), train)
    n_train_subjects = len(set(subjects[train]))
    assert len(set(subjects[val])) == round(0.2 * n_train_subjects)
    # At least one subject even for a tiny fraction; deterministic for a seed.
    _, val_small = validation_split(index, train, fraction=0.001, seed=1)
    assert len(set(subjects[val_small])) == 1
    np.testing.assert_array_equal(
        validation_split(index, train, 0.2, seed=5)[1], validation_split(index, train, 0.2, seed=5)[1]
    )
    with pytest.raises(ValueError, match="fraction"):
        validation_split(index, train, fraction=1.0)
    one_subject = np.flatnonzero(subjects == subjects[0])
    with pytest.raises(ValueError, match="at least 2"):
        validation_split(index, one_subject)


def test_cross_dataset_split_restricts_to_shared_classes() -> None:
    train = make_index(n_subjects=4)
    test = pd.DataFrame(
        {
            "sample_id": ["a", "b", "c", "d"],
            "subject": ["s1", "s1", "s2", "s2"],
            "label": ["happiness", "disgust", "happiness", "pain"],
            "task": ["T1", "T8", "T1", "T6"],
        }
    )
    tr, te = cross_dataset_split(train, test)
    assert set(tr["label"]) == {"happiness", "disgust"} == set(te["label"])
    assert list(te["sample_id"]) == ["a", "b", "c"]
    assert list(tr.index) == list(range(len(tr)))
    tr2, te2 = cross_dataset_split(train, test, classes=["happiness"])
    assert set(tr2["label"]) == {"happiness"} and len(te2) == 2
    with pytest.raises(ValueError, match=r"\['fear'\] not present in test_index"):
        cross_dataset_split(train, test, classes=["happiness", "fear"])
    with pytest.raises(ValueError, match="share no class"):
        cross_dataset_split(train, test[test["label"] == "pain"])


def test_save_load_round_trip_and_remap(tmp_path) -> None:
    index = make_index(n_subjects=12)
    folds = subject_kfold(index, k=4, seed=2)
    path = save_folds(tmp_path / "sub" / "folds.json", folds, index, meta={"seed": 2})
    payload = json.loads(path.read_text())
    assert payload["k"] == 4 and payload["meta"] == {"seed": 2}
    saved_subjects = sorted(s for f in payload["folds"] for s in f["test_subjects"])
    assert saved_subjects == sorted(index["subject"].unique())
    assert not [p for p in path.parent.iterdir() if p.name != "folds.json"]  # no temp file left
    for (tr, te), (tr2, te2) in zip(folds, load_folds(path), strict=True):
        np.testing.assert_array_equal(tr, tr2)
        np.testing.assert_array_equal(te, te2)
    # Mapped by sample_id onto a reordered table: the same samples are tested.
    reordered = index.iloc[::-1].reset_index(drop=True)
    for (_, te), (_, te_r) in zip(folds, load_folds(path, reordered), strict=True):
        assert set(index["sample_id"].to_numpy()[te]) == set(reordered["sample_id"].to_numpy()[te_r])
    with pytest.raises(ValueError, match="not in the index"):
        load_folds(path, index.iloc[:10])
    (tmp_path / "bad.json").write_text('{"a": 1}')
    with pytest.raises(ValueError, match="not a fervlm folds file"):
        load_folds(tmp_path / "bad.json")


def test_folds_summary_columns() -> None:
    index = make_index(n_subjects=10, uneven=False)
    folds = subject_kfold(index, k=5)
    summary = folds_summary(index, folds)
    assert list(summary.columns[:5]) == ["fold", "n_train", "n_test", "train_subjects", "test_subjects"]
    assert (summary["test_subjects"] == 2).all() and (summary["train_subjects"] == 8).all()
    assert (summary["n_test"] == 2 * 12).all()
    assert (summary[[f"test_{c}" for c in CLASSES]] == 4).all().all()


def test_cli_writes_folds(tmp_path, capsys) -> None:
    index = make_index(n_subjects=6)
    index["subject"] = [f"{int(s[1:]):04d}" for s in index["subject"]]  # numeric-looking ids stay strings
    csv = tmp_path / "index.csv"
    index.to_csv(csv, index=False)
    out = tmp_path / "folds.json"
    assert cli_main(["folds", "--index", str(csv), "--k", "3", "--seed", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "n_test" in printed and "wrote 3 folds" in printed
    loaded = load_folds(out, index)
    np.testing.assert_array_equal(np.sort(np.concatenate([te for _, te in loaded])), np.arange(len(index)))
    saved = json.loads(out.read_text())
    tested_subjects = sorted(s for fold in saved["folds"] for s in fold["test_subjects"])
    assert tested_subjects == [f"{i:04d}" for i in range(6)]
    assert saved["meta"]["k"] == 3 and saved["meta"]["seed"] == 1
    assert cli_main(["folds", "--index", str(csv), "--k", "7", "--out", str(out)]) == 2
    assert "only 6 subjects" in capsys.readouterr().err
