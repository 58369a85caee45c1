"""Landmark files: BU-3DFE/BU-4DFE `.bnd` (docs/datasets.md §1.9) and Bosphorus `.lm3` (§4.4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fervlm.io import MeshFormatError, read_bnd, read_lm3, write_bnd, write_lm3

LM3_PLAIN = """# LANDMARKS 3D

3 landmarks:
Outer left eyebrow
-50.25 30.5 10.125
Nose tip
0 0 95.5
Chin middle
1.5 -80 40
"""

LM3_WITH_INFO = """# LANDMARKS 3D
*
Subject bs000, expression E_HAPPY
Landmarked by hand; 2 points occluded

2 landmarks:
Nose tip
0 0 95.5

Left mouth corner
-25 -40 60
"""


def _bnd_text(points: np.ndarray, trailing_blank: bool) -> str:
    rows = [f"{i * 10}\t\t{x}\t{y}\t{z}" for i, (x, y, z) in enumerate(points.tolist())]
    return "\n".join(rows) + ("\n\n" if trailing_blank else "\n")


@pytest.mark.parametrize("trailing_blank", [False, True])
def test_read_bnd_tabs(tmp_path: Path, trailing_blank: bool) -> None:
    points = np.random.default_rng(0).uniform(-90, 90, size=(83, 3)).round(4)
    path = tmp_path / "F0001_AN01WH_F3D.bnd"
    path.write_text(_bnd_text(points, trailing_blank))
    got = read_bnd(path)
    assert got.shape == (83, 3) and got.dtype == np.float32
    np.testing.assert_allclose(got, points, atol=1e-4)
    got2, index = read_bnd(path, with_index=True)
    np.testing.assert_array_equal(got2, got)
    np.testing.assert_array_equal(index, np.arange(83) * 10)


def test_bnd_round_trip(tmp_path: Path) -> None:
    points = np.random.default_rng(1).normal(size=(83, 3)) * 40
    indices = np.random.default_rng(2).integers(0, 8000, size=83)
    path = write_bnd(tmp_path / "a" / "000.bnd", points, indices)
    assert "\t\t" in path.read_text()
    got, got_index = read_bnd(path, with_index=True)
    np.testing.assert_allclose(got, points, atol=1e-5)
    np.testing.assert_array_equal(got_index, indices)
    np.testing.assert_array_equal(read_bnd(write_bnd(tmp_path / "b.bnd", points), True)[1], np.arange(83))


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda lines: lines[:82], "expected 83 landmark rows, found 82"),
        (lambda lines: [*lines, "83 1 2 3"], "found 84"),
        (lambda lines: [lines[0].replace("\t\t", "\tx\t"), *lines[1:]], "row 1 has 5 fields"),
        (lambda lines: [*lines[:5], "5 1.0 abc 2.0", *lines[6:]], "non-numeric"),
        (lambda lines: [*lines[:5], "5 1.0 nan 2.0", *lines[6:]], "NaN"),
        (lambda lines: [], "found 0"),
    ],
)
def test_bad_bnd(tmp_path: Path, mutate, problem: str) -> None:
    lines = _bnd_text(np.ones((83, 3)), False).splitlines()
    path = tmp_path / "broken.bnd"
    path.write_text("\n".join(mutate(lines)))
    with pytest.raises(MeshFormatError, match=problem) as info:
        read_bnd(path)
    assert "broken.bnd" in str(info.value)


def test_bnd_fractional_index(tmp_path: Path) -> None:
    path = tmp_path / "frac.bnd"
    path.write_text("\n".join(f"{i}.5 1 2 3" for i in range(83)))
    read_bnd(path)  # points alone do not need the index
    with pytest.raises(MeshFormatError, match="not an integer"):
        read_bnd(path, with_index=True)


def test_read_lm3_plain(tmp_path: Path) -> None:
    path = tmp_path / "bs000_E_HAPPY_0.lm3"
    path.write_text(LM3_PLAIN)
    got = read_lm3(path)
    assert list(got) == ["Outer left eyebrow", "Nose tip", "Chin middle"]
    np.testing.assert_allclose(got["Outer left eyebrow"], [-50.25, 30.5, 10.125])
    assert got["Nose tip"].dtype == np.float32 and got["Nose tip"].shape == (3,)


def test_read_lm3_with_info_block(tmp_path: Path) -> None:
    path = tmp_path / "info.lm3"
    path.write_text(LM3_WITH_INFO)
    got = read_lm3(path)
    assert set(got) == {"Nose tip", "Left mouth corner"}
    np.testing.assert_allclose(got["Left mouth corner"], [-25, -40, 60])


def test_lm3_round_trip(tmp_path: Path) -> None:
    marks = {
        "Nose tip": np.array([0.5, 1.25, 99.0]),
        "Chin middle": [1.0, -80.0, 40.0],
        "Left nose peak": (1, 2, 3),
    }
    got = read_lm3(write_lm3(tmp_path / "rt.lm3", marks))
    assert list(got) == list(marks)
    for label, xyz in marks.items():
        np.testing.assert_allclose(got[label], xyz, atol=1e-6)
    assert read_lm3(write_lm3(tmp_path / "empty.lm3", {})) == {}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (LM3_PLAIN.replace("Chin middle\n1.5 -80 40\n", ""), "truncated: 3 announced, 2 pairs"),
        (LM3_PLAIN.replace("0 0 95.5", "0 zero 95.5"), "non-numeric"),
        (LM3_PLAIN.replace("0 0 95.5", "0 95.5"), "expected 'x y z'"),
        (LM3_PLAIN.replace("3 landmarks:", "landmarks: three"), "count line"),
        (LM3_PLAIN.replace("Chin middle", "Nose tip"), "duplicate"),
        ("# only a header\n", "count line"),
        ("", "count line"),
    ],
)
def test_bad_lm3(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "broken.lm3"
    path.write_text(text)
    with pytest.raises(MeshFormatError, match=problem) as info:
        read_lm3(path)
    assert "broken.lm3" in str(info.value)


def test_missing_files(tmp_path: Path) -> None:
    with pytest.raises(MeshFormatError, match=r"nope\.bnd"):
        read_bnd(tmp_path / "nope.bnd")
    with pytest.raises(MeshFormatError, match=r"nope\.lm3"):
        read_lm3(tmp_path / "nope.lm3")


def test_writers_reject_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\(83, 3\)"):
        write_bnd(tmp_path / "x.bnd", np.zeros((82, 3)))
    with pytest.raises(ValueError, match="83 entries"):
        write_bnd(tmp_path / "x.bnd", np.zeros((83, 3)), indices=np.arange(5))
    with pytest.raises(ValueError, match="one non-empty line"):
        write_lm3(tmp_path / "x.lm3", {"two\nlines": [0, 0, 0]})
