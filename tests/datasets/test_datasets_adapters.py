"""Every layout adapter on a tiny synthetic tree: counts, protocol subsets, decoys, metadata, errors."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fervlm.datasets import COLUMNS, cross_dataset_pair, load_index, read_task_table, sequence_frames
from fervlm.io import load_mesh
from fervlm.synth import generate

SIX = {"anger", "disgust", "fear", "happiness", "sadness", "surprise"}


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    base = tmp_path_factory.mktemp("synth")
    for layout, kw in {
        "bu3dfe": {},
        "bosphorus": {},
        "bu4dfe": {"frames": 6},
        "bp4d": {"frames": 5},
        "4dme": {"frames": 8},
    }.items():
        generate(layout, base / layout, subjects=3, resolution=1200, **kw)
    return base


def _check_table(df: pd.DataFrame) -> None:
    assert list(df.columns[: len(COLUMNS)]) == list(COLUMNS)
    assert df["sample_id"].is_unique
    assert df["intensity"].dtype.kind == "i"


def test_bu3dfe_subsets(trees):
    full = load_index("bu3dfe", trees / "bu3dfe")
    one = load_index("bu3dfe", trees / "bu3dfe", subset="I")
    two = load_index("bu3dfe", trees / "bu3dfe", subset="II")
    for df in (full, one, two):
        _check_table(df)
    assert len(full) == 3 * 25 and set(full["label"]) == SIX | {"neutral"}
    assert len(two) == 3 * 24 and set(two["intensity"]) == {1, 2, 3, 4}
    assert len(one) == 3 * 12 and set(one["intensity"]) == {3, 4} and set(one["label"]) == SIX
    row = full[full["sample_id"].str.contains("_HA04")].iloc[0]
    assert row["kind"] == "3d" and row["sex"] == row["subject"][0] and row["ethnicity"] in row["sample_id"]
    assert row["age_group"] in ("young", "middle", "older")  # merged from subjects.csv
    assert len(np.load(row["au_path"])) == len(load_mesh(row["path"]).vertices)


def test_bu3dfe_ignores_non_matching_files(trees, tmp_path):
    import shutil

    root = tmp_path / "bu"
    shutil.copytree(trees / "bu3dfe" / "F0001", root / "F0001")
    (root / "F0001" / "F0001_AN01WH_RAW.wrl").write_text("#VRML V2.0 utf8\n")
    (root / "F0001" / "notes.wrl").write_text("x")
    (root / "F0001" / "F0001_XX01WH_F3D.wrl").write_text("x")
    (root / "README.txt").write_text("x")
    assert len(load_index("bu3dfe", root)) == 25


def test_bosphorus_filters_and_six_subset(trees):
    df = load_index("bosphorus", trees / "bosphorus")
    _check_table(df)
    assert set(df["label"]) == SIX
    assert not df["sample_id"].str.contains("LFAU|YR|_N_N_").any()  # decoys and neutral left out
    assert len(df) == 3 * 6 - 1  # bs001 misses one emotion
    six = load_index("bosphorus", trees / "bosphorus", subset="six")
    assert set(six["subject"]) == {"bs000", "bs002"} and len(six) == 12
    with_neutral = load_index("bosphorus", trees / "bosphorus", include_neutral=True)
    assert (with_neutral["label"] == "neutral").sum() == 3
    for row in df.head(3).itertuples():
        assert len(np.load(row.au_path)) == len(load_mesh(row.path).vertices)


def test_bu4dfe_sequences_and_decoy(trees):
    df = load_index("bu4dfe", trees / "bu4dfe")
    _check_table(df)
    assert len(df) == 3 * 6 and set(df["label"]) == SIX and (df["kind"] == "4d").all()
    assert not df["path"].str.contains("BU_WrlViewer").any()
    frames = sequence_frames(df["path"].iloc[0])
    assert [f.name for f in frames] == [f"{i:03d}.wrl" for i in range(6)]


def test_bp4d_tasks_and_override(trees, tmp_path):
    df = load_index("bp4d", trees / "bp4d")
    _check_table(df)
    assert len(df) == 3 * 8 and set(df["task"]) == {f"T{i}" for i in range(1, 9)}
    assert dict(zip(df["task"], df["label"], strict=True))["T6"] == "pain"
    sub = load_index("bp4d", trees / "bp4d", tasks=["T1", "T8"])
    assert set(sub["label"]) == {"happiness", "disgust"} and len(sub) == 6
    custom = tmp_path / "tasks.csv"
    custom.write_text("# my mapping\ntask,emotion,description\nT1,Happy,fun\nT3,surprised,startle\n")
    over = load_index("bp4d", trees / "bp4d", tasks_csv=custom)
    assert set(over["label"]) == {"happiness", "surprise"} and len(over) == 6
    with pytest.raises(ValueError, match="T9"):
        load_index("bp4d", trees / "bp4d", tasks=["T9"])


def test_bp4d_task_csv_matches_the_generator():
    from fervlm.synth.layouts import BP4D_TASK_EMOTIONS

    assert read_task_table() == BP4D_TASK_EMOTIONS


def test_4dme_label_sheet_and_missing_clip(trees, tmp_path):
    df = load_index("4dme", trees / "4dme")
    _check_table(df)
    assert len(df) == 3 * 5 and set(df["label"]) == {
        "positive",
        "negative",
        "surprise",
        "repression",
        "others",
    }
    assert {"onset", "apex", "offset", "aus"} <= set(df.columns)
    sheet = pd.read_csv(trees / "4dme" / "4DME_labels.csv", dtype=str)
    extra = pd.concat([sheet, pd.DataFrame([{"sub_ID": "S009", "fold_name": "gone", "Emotion": "Others"}])])
    extra.to_csv(tmp_path / "labels.csv", index=False)
    assert len(load_index("4dme", trees / "4dme", labels=tmp_path / "labels.csv")) == 15


def test_manifest(trees, tmp_path):
    bu = load_index("bu3dfe", trees / "bu3dfe", subset="I")
    manifest = bu[["path", "label", "subject", "intensity"]].copy()
    manifest["label"] = manifest["label"].str.capitalize()
    manifest.to_csv(tmp_path / "manifest.csv", index=False)
    df = load_index("manifest", tmp_path)
    _check_table(df)
    assert len(df) == len(bu) and set(df["label"]) == SIX and (df["kind"] == "3d").all()
    assert (df["au_path"] != "").all() and df["intensity"].isin([3, 4]).all()
    pd.DataFrame({"path": ["x.wrl"], "label": ["fear"]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match="subject"):
        load_index("manifest", tmp_path / "bad.csv")


def test_views_match_by_stem(tmp_path):
    from PIL import Image

    img = Image.new("RGB", (4, 4))
    for view in ("RA0", "RA20", "RA_20"):
        for cls, stems in {"Happy": ["F0001_HA04WH", "F0002_HA04WH"], "Sad": ["M0001_SA03WH"]}.items():
            for stem in stems:
                (tmp_path / view / cls).mkdir(parents=True, exist_ok=True)
                img.save(tmp_path / view / cls / f"{stem}.png")
    (tmp_path / "RA0" / "Sad" / "M0002_SA03WH.png").write_bytes(b"")  # only in one view: skipped
    (tmp_path / "RA0" / "Sad" / "notes.txt").write_text("x")
    df = load_index("views", tmp_path)
    assert len(df) == 3 and {"view_RA0", "view_RA20", "view_RA_20"} <= set(df.columns)
    assert set(df["label"]) == {"happiness", "sadness"} and set(df["subject"]) == {"F0001", "F0002", "M0001"}
    assert all(Path(p).is_file() for p in df["view_RA20"])


def test_cross_dataset_pair(trees):
    bu4 = load_index("bu4dfe", trees / "bu4dfe")
    bp4 = load_index("bp4d", trees / "bp4d", tasks=["T1", "T8"])
    train, test = cross_dataset_pair(bu4, bp4)
    assert set(train["label"]) == set(test["label"]) == {"happiness", "disgust"}
    assert len(train) == 6 and len(test) == 6
    with pytest.raises(ValueError, match="pain"):
        cross_dataset_pair(bu4, bp4, classes=["pain"])


def test_errors_name_the_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_index("bu3dfe", tmp_path / "nowhere")
    (tmp_path / "BU_WrlViewer_V2").mkdir()
    with pytest.raises(ValueError, match=str(tmp_path)):
        load_index("bu4dfe", tmp_path)
    with pytest.raises(ValueError, match="dataset"):
        load_index("bu5dfe", tmp_path)
    with pytest.raises(ValueError, match="subset"):
        load_index("bu3dfe", tmp_path, subset="III")


def test_sequence_frames_sorts_numerically(tmp_path):
    for name in ("10.obj", "2.obj", "1.obj", "2.bnd", "au.npy", "0.jpg"):
        (tmp_path / name).write_text("")
    assert [p.name for p in sequence_frames(tmp_path)] == ["1.obj", "2.obj", "10.obj"]
    with pytest.raises(FileNotFoundError):
        sequence_frames(tmp_path / "missing")
