"""Tests of `fervlm.utils`: atomic writes leave either the old file or the complete new one."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fervlm.utils import atomic_save_image, atomic_save_npy, atomic_write, atomic_write_text


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
    from fervlm.datasets.registry import data_kind

    assert data_kind("synthetic_bu3dfe") == "synthetic"
    assert data_kind(["synthetic_bu4dfe", "bp4d"]) == "real"
    assert data_kind("bu3dfe_I") == "real" and data_kind([]) == ""


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_atomic_writes_honour_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        text = atomic_write_text(tmp_path / "a.txt", "x")
        image = atomic_save_image(tmp_path / "a.png", np.zeros((2, 2), dtype=np.uint8))
        (tmp_path / "plain.txt").write_text("x")  # what open() gives: the reference
    finally:
        os.umask(old)
    expected = (tmp_path / "plain.txt").stat().st_mode & 0o777
    assert expected == 0o666 & ~umask
    assert text.stat().st_mode & 0o777 == expected and image.stat().st_mode & 0o777 == expected


def test_a_write_error_without_a_file_name_names_the_destination(tmp_path: Path) -> None:
    target = tmp_path / "a.bin"
    with pytest.raises(OSError) as err, atomic_write(target):
        raise OSError(errno.ENOSPC, "No space left on device")  # as a write into an open file reports it
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(target)
    assert list(tmp_path.iterdir()) == []
