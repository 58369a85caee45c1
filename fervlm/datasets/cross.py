"""Cross-dataset evaluation: train on one dataset, test on another, over the classes both share."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


def cross_dataset_pair(
    train_index: pd.DataFrame, test_index: pd.DataFrame, classes: Sequence[str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Restrict a train and a test index to shared classes (e.g. BU-4DFE → BP4D T1 happiness / T8 disgust).

    Args:
        train_index: the training dataset's index.
        test_index: the test dataset's index.
        classes: the classes to keep; every class present in both when None.

    Returns:
        (train, test), each filtered and re-indexed from 0.

    Raises:
        ValueError: a requested class is absent from one side, or the two share no class.
    """
    train_labels, test_labels = set(train_index["label"]), set(test_index["label"])
    if classes is None:
        keep = sorted(train_labels & test_labels)
        if not keep:
            raise ValueError(
                f"train and test share no class: train has {sorted(train_labels)}, "
                f"test has {sorted(test_labels)}"
            )
    else:
        keep = list(classes)
        for side, labels in (("train", train_labels), ("test", test_labels)):
            absent = [c for c in keep if c not in labels]
            if absent:
                raise ValueError(f"classes {absent} not in the {side} index (it has {sorted(labels)})")
    train = train_index[train_index["label"].isin(keep)].reset_index(drop=True)
    test = test_index[test_index["label"].isin(keep)].reset_index(drop=True)
    return train, test
