"""Does a plain value (from YAML or a notebook's parameters cell) fit a type annotation?

The one checker behind the profiles (`fervlm.runs.validate_profile`) and the notebooks' parameters
(`fervlm.notebook.validate_params`): both receive untyped values and must say which name has the wrong
type before any work starts (docs/design.md, "unknown names are errors").
"""

from __future__ import annotations

import types
import typing
from typing import Any

__all__ = ["matches", "type_name"]


def matches(value: Any, annotation: Any) -> bool:
    """Whether `value` fits `annotation`.

    Understands the annotations configs use: ``str``, ``int``, ``float`` (an int is accepted: YAML and
    Python write ``1`` for ``1.0``), ``bool`` (never an int, and no int is a bool), ``list[X]`` /
    ``tuple[X, ...]`` (either sequence, every item checked), ``dict[K, V]`` (keys and values checked),
    ``X | None``, ``Literal[...]`` and ``Any``; any other class by `isinstance`.
    """
    if annotation is Any:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, arg) for arg in typing.get_args(annotation))
    if origin is typing.Literal:
        return value in typing.get_args(annotation)
    if annotation is type(None) or annotation is None:
        return value is None
    if origin in (list, tuple) or annotation in (list, tuple):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        if not isinstance(value, (list, tuple)):
            return False
        inner = args[0] if args else Any
        return all(matches(v, inner) for v in value)
    if origin is dict or annotation is dict:
        if not isinstance(value, dict):
            return False
        key, item = typing.get_args(annotation) or (Any, Any)
        return all(matches(k, key) and matches(v, item) for k, v in value.items())
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(annotation, type):
        return isinstance(value, annotation)
    return True


def type_name(annotation: Any) -> str:
    """The annotation as an error message writes it (``list[int]``, ``str | list[int]``)."""
    return annotation.__name__ if isinstance(annotation, type) else str(annotation).replace("typing.", "")
