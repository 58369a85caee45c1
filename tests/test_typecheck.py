"""Tests for fervlm.typecheck: the one checker behind profiles and notebook parameters."""

from __future__ import annotations

from typing import Any, Literal

import pytest

from fervlm.typecheck import matches, type_name


@pytest.mark.parametrize(
    ("value", "annotation", "expected"),
    [
        (3, float, True),  # YAML and Python write 1 for 1.0
        (True, int, False),  # a bool is no count
        (1, bool, False),
        (3.0, int, False),
        ([1, 2], list[int], True),
        ((1, 2), list[int], True),
        ([1, "2"], list[int], False),
        ("all", str | list[int], True),
        ([0, 1], str | list[int], True),
        (0, str | list[int], False),
        ({"a": "b"}, dict[str, str], True),
        ({"a": 1}, dict[str, str], False),
        ({"a": 1}, dict[str, Any], True),
        (None, int | None, True),
        (None, int, False),
        ("x", Literal["x", "y"], True),
        ("z", Literal["x", "y"], False),
        ([1, "a"], list, True),
        ("a", list, False),
        (object(), Any, True),
    ],
)
def test_matches(value: Any, annotation: Any, expected: bool) -> None:
    assert matches(value, annotation) is expected


def test_type_name_reads_like_the_annotation() -> None:
    assert type_name(int) == "int"
    assert type_name(list[int]) == "list[int]"
    assert type_name(str | list[int]) == "str | list[int]"
