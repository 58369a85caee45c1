"""Small helpers every notebook uses: validate the `parameters` cell, set seeds, save figures.

DESIGN.md, "Notebooks teach": one setup cell, a typed `parameters` cell (papermill overrides it), then a cell
that validates the values into a config dataclass — unknown names and wrongly typed values are errors
raised there, before any work starts, not halfway through a run.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

C = TypeVar("C")


def _matches(value: Any, annotation: Any) -> bool:
    """Whether `value` fits a simple annotation (str, int, float, bool, list[...], X | None, Literal)."""
    if annotation is Any:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(annotation))
    if origin is typing.Literal:
        return value in typing.get_args(annotation)
    if annotation is type(None):
        return value is None
    if origin in (list, tuple):
        args = typing.get_args(annotation)
        if not isinstance(value, (list, tuple)):
            return False
        inner = args[0] if args else Any
        return all(_matches(v, inner) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(annotation, type):
        return isinstance(value, annotation)
    return True


def validate_params(config_cls: type[C], **params: Any) -> C:
    """Build `config_cls` (a dataclass) from a notebook's parameters, checking names and types.

    Args:
        config_cls: the notebook's config dataclass; its fields are the parameters the notebook accepts.
        **params: the values from the `parameters` cell (after papermill's overrides).

    Returns:
        The config instance (its `__post_init__`, if any, checks values further).

    Raises:
        ValueError: an unknown parameter name (the known ones are listed), or a value of the wrong type.
    """
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(params) - set(fields))
    if unknown:
        raise ValueError(f"unknown notebook parameter(s) {unknown}; known: {sorted(fields)}")
    hints = typing.get_type_hints(config_cls)
    for name, value in params.items():
        if not _matches(value, hints.get(name, Any)):
            raise ValueError(f"parameter {name}={value!r}: expected {hints[name]}")
    return config_cls(**params)


def setup(seed: int = 0, quiet: bool = True) -> None:
    """Seed python, numpy and torch; keep library logs quiet; make figures notebook-sized."""
    import matplotlib
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    matplotlib.rcParams["figure.dpi"] = 90
    if quiet:
        logging.getLogger().setLevel(logging.ERROR)
        for name in ("lightning", "pytorch_lightning", "lightning.pytorch", "open_clip"):
            logging.getLogger(name).setLevel(logging.ERROR)


def save_figure(fig: Any, output_dir: str | Path, name: str) -> Path:
    """Save a matplotlib figure as `<output_dir>/<name>.png` (atomically) and return the path."""
    from fervlm.utils import atomic_write

    path = Path(output_dir) / f"{name}.png"
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight", dpi=110)
    return path
