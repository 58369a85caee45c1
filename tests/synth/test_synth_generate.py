"""`generate`: layouts on disk, determinism, parallel safety, label alignment after a read-back, summary."""

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fervlm.io import load_mesh, read_bnd, read_lm3
from fervlm.synth import DEFAULTS, decode_mask, generate

SMALL = {"subjects": 2, "resolution": 1500}


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_bytes_different_seed_differs(tmp_path):
    generate("bu3dfe", tmp_path / "a", seed=3, **SMALL)
    generate("bu3dfe", tmp_path / "b", seed=3, **SMALL)
    generate("bu3dfe", tmp_path / "c", seed=4, **SMALL)
    a, b, c = (_digest(tmp_path / x) for x in "abc")
    assert a == b
    common = set(a) & set(c)
    assert any(a[k] != c[k] for k in common)


def test_parallel_workers_give_identical_files(tmp_path):
    generate("bp4d", tmp_path / "serial", frames=5, **SMALL)
    generate("bp4d", tmp_path / "parallel", frames=5, workers=2, **SMALL)
    assert _digest(tmp_path / "serial") == _digest(tmp_path / "parallel")


def test_adding_subjects_keeps_earlier_ones(tmp_path):
    generate("bosphorus", tmp_path / "two", subjects=2, resolution=1500)
    generate("bosphorus", tmp_path / "three", subjects=3, resolution=1500)
    two, three = _digest(tmp_path / "two"), _digest(tmp_path / "three")
    assert all(three[k] == v for k, v in two.items() if k.startswith("bs00"))


def test_default_bu3dfe_summary_matches_disk(tmp_path):
    # Default subject count (20) at a low resolution to keep the test fast.
    s = generate("bu3dfe", tmp_path, resolution=1200)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert s["subjects"] == DEFAULTS["bu3dfe"]["subjects"] == 20
    assert s["samples"] == 20 * 25
    assert s["files"] == len(files) == 20 * 25 * 3 + 1  # wrl + bnd + au.npy per sample, subjects.csv
    assert s["bytes"] == sum(p.stat().st_size for p in files)
    meta = pd.read_csv(tmp_path / "subjects.csv")
    assert sorted(meta["subject"]) == sorted(p.name for p in tmp_path.iterdir() if p.is_dir())


def test_bu3dfe_files_read_back_aligned(tmp_path):
    generate("bu3dfe", tmp_path, subjects=1, resolution=1500, texture=True)
    wrl = next(tmp_path.glob("*/*_HA04*_F3D.wrl"))
    mesh = load_mesh(wrl)
    labels = np.load(wrl.with_name(wrl.stem + ".au.npy"))
    assert labels.shape == (len(mesh.vertices),) and labels.dtype == np.int64
    assert {"AU6", "AU12"} <= set(decode_mask(labels))
    assert mesh.uv is not None and wrl.with_suffix(".bmp").is_file()
    points, idx = read_bnd(wrl.with_suffix(".bnd"), with_index=True)
    assert points.shape == (83, 3)
    np.testing.assert_allclose(
        points, mesh.vertices[idx], atol=1e-2
    )  # .bnd indices point at the mesh vertices
    neutral = next(tmp_path.glob("*/*_NE00*_F3D.au.npy"))
    assert not np.load(neutral).any()


def test_bosphorus_bnt_labels_align_after_holes(tmp_path):
    generate("bosphorus", tmp_path, subjects=2, resolution=1500)
    for bnt in sorted(tmp_path.glob("*/*.bnt")):
        mesh = load_mesh(bnt)
        assert len(np.load(bnt.with_suffix(".au.npy"))) == len(mesh.vertices), bnt.name
    lm = read_lm3(tmp_path / "bs000" / "bs000_E_HAPPY_0.lm3")
    assert "Nose tip" in lm and len(lm) >= 18
    # Subject 1 misses one emotion (so the 'six' subset is not everyone).
    assert len(list((tmp_path / "bs001").glob("*_E_*.bnt"))) == 5
    assert len(list((tmp_path / "bs000").glob("*_E_*.bnt"))) == 6


@pytest.mark.parametrize(
    ("layout", "pattern", "ext"),
    [("bu4dfe", "*/Happy", ".wrl"), ("bp4d", "*/T1", ".obj"), ("4dme", "*/*_01", ".obj")],
)
def test_sequences_have_fixed_topology_and_one_sidecar(tmp_path, layout, pattern, ext):
    generate(layout, tmp_path, subjects=1, resolution=1500, frames=8)
    seq = next(p for p in tmp_path.glob(pattern) if p.is_dir())
    frames = sorted(seq.glob(f"*{ext}"))
    assert len(frames) == 8
    labels = np.load(seq / "au.npy")
    meshes = [load_mesh(f) for f in frames]
    assert all(len(m.vertices) == len(labels) for m in meshes)
    motion = [np.linalg.norm(m.vertices - meshes[0].vertices, axis=1).max() for m in meshes]
    assert max(motion) > 0.5  # the face moves over the sequence


def test_4dme_label_sheet(tmp_path):
    generate("4dme", tmp_path, subjects=2, resolution=1500, frames=10)
    sheet = pd.read_csv(tmp_path / "4DME_labels.csv", dtype={"AUs": str})
    assert list(sheet.columns) == ["sub_ID", "fold_name", "Emotion", "Onset", "Apex", "Offset", "AUs"]
    assert set(sheet["Emotion"]) == {"Positive", "Negative", "Surprise", "Repression", "Others"}
    assert (
        (sheet["Onset"] <= sheet["Apex"]) & (sheet["Apex"] <= sheet["Offset"]) & (sheet["Offset"] < 10)
    ).all()
    for rec in sheet.itertuples():
        active = decode_mask(np.load(tmp_path / rec.sub_ID / rec.fold_name / "au.npy"))
        assert set(active) == {f"AU{a}" for a in rec.AUs.split("+")}  # the sidecar names the clip's AUs


def test_bu4dfe_decoy_and_landmarks(tmp_path):
    generate("bu4dfe", tmp_path, subjects=1, resolution=1500, frames=6)
    assert (tmp_path / "BU_WrlViewer_V2").is_dir()
    assert read_bnd(next(tmp_path.glob("*/Angry/000.bnd"))).shape == (83, 3)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="layout"):
        generate("bu5dfe", tmp_path)
    with pytest.raises(ValueError, match="frames"):
        generate("bu4dfe", tmp_path, frames=2)
    with pytest.raises(ValueError, match="subjects"):
        generate("bu3dfe", tmp_path, subjects=0)
