"""Tests of `fervlm.utils`: atomic writes leave either the old file or the complete new one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fervlm.utils import atomic_save_image, atomic_save_npy, atomic_write


def test_atomic_write_replaces_on_success(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "a.txt"
    with atomic_write(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        tmp.write_text("new")
        assert not target.exists()  # nothing visible under the final name until the block ends
    assert target.read_text() == "new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.txt"]


def test_atomic_write_keeps_the_old_file_and_no_temp_on_error(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_atomic_save_image_round_trip(tmp_path: Path) -> None:
    image = np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    path = atomic_save_image(tmp_path / "x.png", image)
    with Image.open(path) as im:
        np.testing.assert_array_equal(np.asarray(im), image)
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]
    with pytest.raises(ValueError, match="uint8"):
        atomic_save_image(tmp_path / "y.png", image.astype(np.float32))
    with pytest.raises(ValueError, match="extension"):
        atomic_save_image(tmp_path / "y.nope", image)
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]


def test_atomic_save_npy_round_trip(tmp_path: Path) -> None:
    array = np.arange(12, dtype=np.uint16).reshape(3, 4)
    np.testing.assert_array_equal(np.load(atomic_save_npy(tmp_path / "m.npy", array)), array)


def test_data_kind_labels_generated_datasets() -> None:
    from fervlm.utils import data_kind

    assert data_kind("synthetic_bu3dfe") == "synthetic"
    assert data_kind(["synthetic_bu4dfe", "bp4d"]) == "real"
    assert data_kind("bu3dfe_I") == "real" and data_kind([]) == ""
