"""`fervlm train --config/--set` input errors are one line naming the file or the key."""

from __future__ import annotations

import pytest

from fervlm.benchmarks.toy import make_toy_table
from fervlm.cli import main
from fervlm.methods.config import load_config


@pytest.mark.parametrize("value, views", [("0", ("0",)), ("45", ("45",)), ("front,-30", ("front", "-30"))])
def test_numeric_views_from_set_are_yaws(value, views):
    assert load_config(None, [f"views={value}"], profile="quick", method="affectvlm").views == views


def test_views_neither_list_nor_text_is_named():
    with pytest.raises(ValueError, match=r"^config views=True: expected a list or a comma-separated text$"):
        load_config(None, ["views=true"])


def test_malformed_yaml_names_the_file_and_the_place(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("epochs: 3\nlr: [1e-3\nviews: front\n")
    with pytest.raises(ValueError) as err:
        load_config(path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"config file {path}: not valid YAML (line 3, column 6)")


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--set", "views=0"], "config views=['0'] and "),
        (["--set", "views=45"], "the table has no image column for view '45' (yaw 45)"),
        (["--config", "BAD"], "bad.yaml: not valid YAML (line 2, column 1)"),
    ],
)
def test_cli_answers_in_one_line(tmp_path, capsys, args, expected):
    index = make_toy_table(tmp_path / "toy", n_subjects=4, size=8, yaws=(-30, 30))
    (tmp_path / "bad.yaml").write_text("epochs: [3\n")
    args = [a.replace("BAD", str(tmp_path / "bad.yaml")) for a in args]
    code = main(["train", "--method", "affectvlm", "--index", str(index), "--out", str(tmp_path / "o"),
                 "--fold", "0", *args])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and expected in err, err
