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
    from fervlm.benchmarks.toy import make_toy_table
    from fervlm.train import fit_fold

    root = tmp_path_factory.mktemp("tiny_smile")
    index = make_toy_table(root / "toy", n_subjects=4, size=16)
    fit_fold(TINY_SMILE, index, 0, root / "outputs" / "smile")
    return index, root / "outputs", root / "outputs" / "smile" / "fold-00"


#: The tiny backbones the tests train; the quick profile's ``weights: facs`` needs a FACS prior of each.
SMOKE_PRIOR_BACKBONES = ("fervlm-tiny", "fervlm-tiny-rn")


@pytest.fixture(scope="session", autouse=True)
def smoke_facs_priors(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Smoke-size FACS priors (`fervlm pretrain --preset smoke`, seconds) for all tests (``$FERVLM_WEIGHTS``).

    The quick profile (and so every notebook's default) starts from ``weights=facs``; the tests must never
    read or write the user's ``data/weights/``. Built once per run: xdist workers share the folder under
    a file lock, so two workers never train the same prior.
    """
    import fcntl
    import os

    from fervlm.pretrain import PRESETS, pretrain, prior_path

    shared = tmp_path_factory.getbasetemp().parent / "facs-smoke-priors"
    shared.mkdir(parents=True, exist_ok=True)
    with open(shared / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for backbone in SMOKE_PRIOR_BACKBONES:
            path = prior_path(backbone, directory=shared)
            if not path.is_file():
                pretrain(PRESETS["smoke"].replace(backbone=backbone), checkpoint=path, progress=False)
    os.environ["FERVLM_WEIGHTS"] = str(shared)
    return shared


@pytest.fixture
def same_figure(tmp_path_factory: pytest.TempPathFactory):
    """Check that a PNG a notebook saved is the figure ``fig`` pixel for pixel, both written by
    `fervlm.notebook.save_figure`: the notebook drew what the package draws from the table it saved."""

    def check(png: Path, fig) -> None:
        import numpy as np
        from PIL import Image

        from fervlm.notebook import save_figure

        reference = save_figure(fig, tmp_path_factory.mktemp("reference"), png.stem)
        with Image.open(png) as saved, Image.open(reference) as drawn:
            assert saved.size == drawn.size, (
                f"{png}: {saved.size} pixels, the figure of its table {drawn.size}"
            )
            assert np.array_equal(np.asarray(saved), np.asarray(drawn)), (
                f"{png} is not the figure of its table"
            )

    return check


@pytest.fixture
def png_with_colours():
    """Check that a PNG decodes and shows each of ``colours`` (hex; a pixel within 2 levels per channel):
    for figures of a trained model, which a test cannot redraw, the colours their legend promises."""

    def check(png: Path, colours: list[str]) -> None:
        import numpy as np
        from matplotlib.colors import to_rgb
        from PIL import Image

        with Image.open(png) as image:
            pixels = np.asarray(image.convert("RGB"), dtype=int).reshape(-1, 3)
        for colour in colours:
            target = np.round(np.array(to_rgb(colour)) * 255).astype(int)
            assert (np.abs(pixels - target).max(axis=1) <= 2).any(), f"{png}: no {colour} pixel"

    return check
