"""The one map between view names and yaw angles (fervlm.viewpoints)."""

import pytest

from fervlm.viewpoints import VIEW_NAMES, VIEW_YAWS, view_name, yaw_of


def test_names_and_yaws_are_the_same_views_in_the_same_order():
    assert [yaw_of(n) for n in VIEW_NAMES] == [float(y) for y in VIEW_YAWS] == [-30.0, 0.0, 30.0]
    assert [view_name(y) for y in VIEW_YAWS] == list(VIEW_NAMES)


def test_other_yaws_get_a_file_friendly_name_and_text_yaws_parse():
    assert [view_name(y) for y in (45, -15.5, "30", "-30")] == ["yaw45", "yaw-15.5", "right", "left"]
    assert yaw_of(" front ") == 0.0 and yaw_of("12.5") == 12.5


def test_a_value_that_is_neither_a_name_nor_an_angle_is_named_in_the_error():
    with pytest.raises(ValueError, match="'top' is neither a view name"):
        yaw_of("top")
