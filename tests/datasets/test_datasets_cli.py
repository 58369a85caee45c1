"""`fervlm synth` and `fervlm index` end to end."""

import pandas as pd

from fervlm.cli import main


def test_synth_then_index(tmp_path, capsys):
    root = tmp_path / "bu3dfe"
    assert (
        main(["synth", "--layout", "bu3dfe", "--out", str(root), "--subjects", "2", "--resolution", "1000"])
        == 0
    )
    out = capsys.readouterr().out
    assert "151 files" in out and "2 subjects" in out
    csv = tmp_path / "index.csv"
    assert (
        main(["index", "--dataset", "bu3dfe", "--root", str(root), "--out", str(csv), "--subset", "I"]) == 0
    )
    out = capsys.readouterr().out
    assert "24 samples, 2 subjects" in out and "happiness" in out
    assert len(pd.read_csv(csv)) == 24


def test_index_bad_input_is_one_line_and_nonzero(tmp_path, capsys):
    code = main(
        ["index", "--dataset", "bu3dfe", "--root", str(tmp_path / "none"), "--out", str(tmp_path / "x.csv")]
    )
    assert code == 2 and "not found" in capsys.readouterr().err
    code = main(
        [
            "index",
            "--dataset",
            "bp4d",
            "--root",
            str(tmp_path),
            "--out",
            str(tmp_path / "x.csv"),
            "--subset",
            "I",
        ]
    )
    assert code == 2


def test_corrupt_subjects_table_is_named(tmp_path, capsys):
    root = tmp_path / "bu3dfe"
    synth = ["synth", "--layout", "bu3dfe", "--out", str(root), "--subjects", "1", "--resolution", "1000"]
    assert main(synth) == 0
    (root / "subjects.csv").write_text("subject,sex\nF0001,F\nF0002,M,x,y\n")  # a row too long
    capsys.readouterr()
    code = main(["index", "--dataset", "bu3dfe", "--root", str(root), "--out", str(tmp_path / "i.csv")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0
    assert err.startswith(f"fervlm index: error: {root / 'subjects.csv'}: not a readable subjects table")
