"""Fixtures shared by several test modules."""

from __future__ import annotations

from pathlib import Path

import pytest

#: A 1-epoch SMILE-VLM fold on a tiny toy table: the smallest real trained checkpoint (SMILE-VLM has the
#: most to restore: projector, view-fusion MLP, logit scale).
TINY_SMILE = dict(
    method="smilevlm",
    backbone="fervlm-tiny",
    epochs=1,
    batch_size=8,
    folds=2,
    num_workers=0,
    accelerator="cpu",
)


@pytest.fixture(scope="session")
def tiny_smile_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Train the tiny fold once per test process: (index csv, outputs root, fold folder). Read-only."""
    from fervlm.data import make_toy_table
    from fervlm.train import fit_fold

    root = tmp_path_factory.mktemp("tiny_smile")
    index = make_toy_table(root / "toy", n_subjects=4, size=16)
    fit_fold(TINY_SMILE, index, 0, root / "outputs" / "smile")
    return index, root / "outputs", root / "outputs" / "smile" / "fold-00"
