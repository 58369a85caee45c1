"""fervlm.tables: the one reader of index and prepared tables, and the names of their image columns."""

from __future__ import annotations

import pandas as pd
import pytest

from fervlm.experiments import read_prepared
from fervlm.tables import load_table, mask_column, read_index, view_column

HEADER = "dataset,sample_id,subject,label,intensity,sex,view_-30,view_0\n"


def test_identifiers_and_labels_stay_as_written_and_intensity_is_a_number(tmp_path):
    path = tmp_path / "index.csv"
    path.write_text(HEADER + "bu3dfe,001,0001,3,4,,a.png,b.png\nbu3dfe,F2,F0002,anger,,F,c.png,d.png\n")
    table = read_index(path)
    # Numbers-looking ids and labels keep their leading zeros and stay text; an empty cell is "" (not NaN).
    assert table["sample_id"].tolist() == ["001", "F2"]
    assert table["subject"].tolist() == ["0001", "F0002"]
    assert table["label"].tolist() == ["3", "anger"]
    assert table["sex"].tolist() == ["", "F"]
    assert table["intensity"].tolist() == [4, 0] and table["intensity"].dtype.kind == "i"


def test_every_reader_of_a_prepared_table_gives_the_same_frame(tmp_path):
    path = tmp_path / "index.csv"
    path.write_text(HEADER + "toy,S00_anger,S00,anger,4,F,views/a.png,views/b.png\n")
    table, root = load_table(path)
    assert root == tmp_path
    pd.testing.assert_frame_equal(table, read_prepared(path))
    pd.testing.assert_frame_equal(table, read_index(path))


def test_load_table_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing\.csv"):
        load_table(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("sample_id,label\na,anger\n")
    with pytest.raises(ValueError, match="view_<yaw>"):
        load_table(bad)
    no_label = tmp_path / "no_label.csv"
    no_label.write_text("sample_id,view_0\na,a.png\n")
    with pytest.raises(ValueError, match=r"no_label\.csv: no 'label' column"):
        load_table(no_label)


def test_column_names_print_the_yaw_without_trailing_zeros():
    assert [view_column(y) for y in (-30, 0, 30.0, 12.5)] == ["view_-30", "view_0", "view_30", "view_12.5"]
    assert mask_column(-30) == "mask_-30"
