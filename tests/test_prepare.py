"""Tests of `fervlm.prepare` and `fervlm prepare`: outputs, resume, bad files, atomicity, parallel runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fervlm.benchmarks.render import face_like_mesh
from fervlm.cli import main
from fervlm.io import Mesh, write_obj, write_wrl
from fervlm.prepare import prepare, sample_frames, view_column

SIZE = 40
COLUMNS = ["dataset", "sample_id", "subject", "label", "intensity", "path", "kind", "sex", "age_group",
           "ethnicity", "task", "au_path"]  # fmt: skip


def _row(sample_id: str, path: Path, kind: str, au_path: str = "") -> dict[str, object]:
    return {
        "dataset": "toy", "sample_id": sample_id, "subject": sample_id[:2], "label": "happiness",
        "intensity": 0, "path": str(path), "kind": kind, "sex": "", "age_group": "", "ethnicity": "",
        "task": "", "au_path": au_path,
    }  # fmt: skip


@pytest.fixture()
def toy_index(tmp_path: Path) -> pd.DataFrame:
    """Three 3D scans (one with an AU sidecar), one 4D sequence of 5 frames, and one corrupt `.wrl`."""
    root = tmp_path / "raw"
    root.mkdir()
    base = face_like_mesh(600)
    rows = []
    for k in range(3):
        v = base.vertices.copy()
        v[:, 2] *= 1.0 + 0.2 * k
        path = write_wrl(root / f"s{k}.wrl", Mesh(vertices=v, faces=base.faces))
        au = ""
        if k == 0:
            labels = (v[:, 0] < 0).astype(np.int64) | ((v[:, 1] > 20).astype(np.int64) << 9)
            np.save(root / "s0.au.npy", labels)
            au = str(root / "s0.au.npy")
        rows.append(_row(f"s{k}", path, "3d", au))
    seq = root / "seq"
    seq.mkdir()
    for t in range(5):
        v = base.vertices.copy()
        v[:, 2] += 3.0 * t * np.exp(-(v[:, 0] ** 2 + (v[:, 1] + 40) ** 2) / 300.0)
        write_obj(seq / f"{t:03d}.obj", Mesh(vertices=v, faces=base.faces))
    np.save(seq / "au.npy", (base.vertices[:, 1] < -20).astype(np.int64) << 3)
    rows.append(_row("q0", seq, "4d", str(seq / "au.npy")))
    bad = root / "bad.wrl"
    bad.write_bytes(b"#VRML V2.0 utf8\nShape { geometry IndexedFaceSet { coord Coordinate { point [ 1 2 ")
    rows.append(_row("bad", bad, "3d"))
    return pd.DataFrame(rows, columns=COLUMNS)


def _snapshot(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_prepare_writes_views_table_and_reports_bad_files(toy_index: pd.DataFrame, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = prepare(toy_index, out, size=SIZE, workers=1, masks=True, progress=False)
    assert (result.n_done, result.n_skipped, result.n_failed) == (4, 0, 1)
    assert "failed 1" in result.summary() and "samples/s" in result.summary()
    failures = pd.read_csv(out / "failures.csv")
    assert list(failures.columns) == ["file", "error"]
    assert failures["file"].tolist() == [str(toy_index["path"].iloc[-1])]
    assert "bad.wrl" in failures["error"].iloc[0] or "Error" in failures["error"].iloc[0]

    table = pd.read_csv(out / "index.csv", keep_default_na=False)
    assert table["sample_id"].tolist() == ["s0", "s1", "s2", "q0"]
    assert table.columns.tolist()[: len(COLUMNS)] == COLUMNS
    cols = [view_column(y) for y in (-30, 0, 30)]
    assert cols == ["view_-30", "view_0", "view_30"] and set(cols) <= set(table.columns)
    assert table.loc[0, "view_-30"] == "images/toy/s0/left.png"
    for rel in table[cols].to_numpy().ravel():
        assert not Path(rel).is_absolute()
        with Image.open(out / rel) as im:
            image = np.asarray(im)
        assert image.shape == (SIZE, SIZE, 3) and image.max() > 0
    # A 4D sample is a dynamic image: the official 8-bit mapping spans 0..255.
    front4d = np.asarray(Image.open(out / table.loc[3, "view_0"]))
    assert front4d.min() == 0 and front4d.max() == 255
    # AU masks: bit 0 = the face's −x half (image left in the front view), bit 9 = upper face.
    assert table.loc[0, "mask_0"] == "images/toy/s0/front_au.npy" and table.loc[1, "mask_0"] == ""
    mask = np.load(out / table.loc[0, "mask_0"])
    assert mask.dtype == np.uint16 and mask.shape == (SIZE, SIZE)
    front = np.asarray(Image.open(out / table.loc[0, "view_0"])).max(axis=-1) > 0
    assert not (mask.astype(bool) & ~front).any()
    assert np.flatnonzero((mask & 1).any(axis=0)).max() <= SIZE // 2
    assert (mask >> 9 & 1).any()
    assert np.load(out / table.loc[3, "mask_0"]).any()
    assert not list(out.rglob("*.tmp"))


def test_rerun_skips_everything_and_writes_nothing(toy_index: pd.DataFrame, tmp_path: Path) -> None:
    out = tmp_path / "out"
    prepare(toy_index, out, size=SIZE, workers=1, progress=False)
    before = _snapshot(out)
    again = prepare(toy_index, out, size=SIZE, workers=1, progress=False)
    assert (again.n_done, again.n_skipped, again.n_failed) == (0, 4, 1)
    assert _snapshot(out) == before
    # Losing one image redoes only that sample.
    (out / "images/toy/s1/right.png").unlink()
    third = prepare(toy_index, out, size=SIZE, workers=1, progress=False)
    assert (third.n_done, third.n_skipped) == (1, 3)
    after = _snapshot(out)
    assert after["images/toy/s0/front.png"] == before["images/toy/s0/front.png"]
    assert set(after) == set(before)


def test_interrupted_run_leaves_no_partial_files(
    toy_index: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    real_save = Image.Image.save
    calls = {"n": 0}

    def dying_save(self: Image.Image, fp: object, *args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 5:  # the second view of the second sample: write some bytes, then die
            Path(str(fp)).write_bytes(b"\x89PNG half")
            raise KeyboardInterrupt
        real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        prepare(toy_index, out, size=SIZE, workers=1, progress=False)
    monkeypatch.setattr(Image.Image, "save", real_save)
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    complete = [f"images/toy/s0/{v}.png" for v in ("front", "left", "right")]
    tables = ["failures.csv", "index.csv", "render.json"]  # written for what is complete, even now
    images = [f for f in files if f not in tables]
    assert images == [*complete, "images/toy/s1/left.png"] and set(files) - set(images) == set(tables)
    assert pd.read_csv(out / "index.csv")["sample_id"].tolist() == ["s0"]
    for f in images:  # every image that exists is complete
        with Image.open(out / f) as im:
            im.load()
    resumed = prepare(toy_index, out, size=SIZE, workers=1, progress=False)
    assert (resumed.n_done, resumed.n_skipped, resumed.n_failed) == (3, 1, 1)
    assert not list(out.rglob("*.tmp"))


def test_parallel_run_matches_serial(toy_index: pd.DataFrame, tmp_path: Path) -> None:
    serial = prepare(toy_index, tmp_path / "a", size=SIZE, workers=1, progress=False)
    parallel = prepare(toy_index, tmp_path / "b", size=SIZE, workers=2, progress=False)
    assert (parallel.n_done, parallel.n_failed) == (serial.n_done, serial.n_failed)
    pd.testing.assert_frame_equal(serial.table, parallel.table)
    for rel in serial.table[["view_-30", "view_0", "view_30"]].to_numpy().ravel():
        a = np.asarray(Image.open(tmp_path / "a" / rel))
        b = np.asarray(Image.open(tmp_path / "b" / rel))
        np.testing.assert_array_equal(a, b)


def test_frames_are_sampled_uniformly() -> None:
    frames = [Path(f"{i:03d}.wrl") for i in range(10)]
    assert sample_frames(frames, None) == frames
    assert sample_frames(frames, 20) == frames
    assert [int(p.stem) for p in sample_frames(frames, 4)] == [0, 3, 6, 9]
    assert [int(p.stem) for p in sample_frames(frames, 2)] == [0, 9]


def test_bad_arguments_are_reported(toy_index: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="missing column"):
        prepare(toy_index.drop(columns=["kind"]), tmp_path / "o", progress=False)
    with pytest.raises(ValueError, match="duplicate"):
        prepare(pd.concat([toy_index, toy_index.iloc[:1]]), tmp_path / "o", progress=False)
    with pytest.raises(ValueError, match="mode="):
        prepare(toy_index, tmp_path / "o", mode="cartoon", progress=False)
    with pytest.raises(ValueError, match="yaws="):
        prepare(toy_index, tmp_path / "o", yaws=(0, 0), progress=False)


def test_cli_prepares_a_synthetic_bu3dfe_tree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fervlm.datasets import load_index
    from fervlm.synth import generate

    root, out = tmp_path / "bu3dfe", tmp_path / "prepared"
    generate("bu3dfe", root, subjects=1, seed=0, resolution=2000)
    n = len(load_index("bu3dfe", root, subset="I"))
    args = ["prepare", "--dataset", "bu3dfe", "--root", str(root), "--out", str(out), "--subset", "I",
            "--size", str(SIZE), "--workers", "1", "--no-progress", "--masks"]  # fmt: skip
    assert main(args) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"prepared {n} samples, skipped 0") and "failed 0" in line
    table = pd.read_csv(out / "index.csv", keep_default_na=False)
    assert len(table) == n and (table["mask_0"] != "").all()
    # A corrupt scan that matches the layout's naming: reported, the run goes on, the exit code says so.
    bad = Path(table["path"].iloc[-1])
    bad.write_bytes(b"not a VRML file at all")
    (out / table["view_0"].iloc[-1]).unlink()
    assert main(args) == 1
    line = capsys.readouterr().out.strip()
    assert f"skipped {n - 1}" in line and "failed 1" in line
    failures = pd.read_csv(out / "failures.csv")
    assert failures["file"].tolist() == [str(bad)]
