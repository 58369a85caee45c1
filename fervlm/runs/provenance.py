"""Provenance of a run folder: what ran (`config.yaml`), how (`command.txt`) and with what outcome
(`status.json`), contract point 3 of `fervlm.runs`."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from fervlm.project import git_hash
from fervlm.utils import atomic_write

if TYPE_CHECKING:
    from fervlm.runs.plan import RunItem

__all__ = ["STATUS_FILE", "changed_parameters", "git_hash", "is_finished", "read_status", "write_run_info"]

STATUS_FILE = "status.json"


def write_run_info(
    run_dir: str | os.PathLike[str], params: dict[str, Any], argv: Sequence[str] | None = None
) -> Path:
    """Write `config.yaml` (the resolved parameters) and `command.txt` (command, git hash, date, host).

    Args:
        run_dir: the run folder (created).
        params: the parameters passed to the notebook.
        argv: the command line; defaults to `sys.argv`.

    Returns:
        The run folder.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(run_dir / "config.yaml") as tmp:
        tmp.write_text(yaml.safe_dump(dict(params), sort_keys=False), encoding="utf-8")
    argv = list(sys.argv if argv is None else argv)
    lines = [
        f"command: {shlex.join(argv)}",
        f"cwd: {os.getcwd()}",
        f"git: {git_hash()}",
        f"date: {_dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"host: {platform.node()}",
        f"python: {sys.executable} ({platform.python_version()})",
    ]
    with atomic_write(run_dir / "command.txt") as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return run_dir


def read_status(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The run folder's `status.json`, or None when absent or unreadable (an interrupted run)."""
    try:
        return json.loads((Path(run_dir) / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def is_finished(run_dir: str | os.PathLike[str]) -> bool:
    """Whether the run folder holds a successful run (`status.json` says ``done``)."""
    status = read_status(run_dir)
    return bool(status) and status.get("status") == "done"


#: Parameters that choose *how much* an item runs, not what its results are: a finished item may be
#: extended (more folds resume the finished ones) without counting as run with other parameters.
_EXTENT_PARAMETERS = ("run_folds", "output_dir", "num_workers")


def changed_parameters(item: RunItem) -> list[tuple[str, Any, Any]]:
    """The parameters whose values differ from those the item's folder was run with (its
    `config.yaml`), as ``(key, old, new)``; empty when the folder holds no run."""
    from fervlm.fingerprint import changed_keys

    path = item.output_dir / "config.yaml"
    if not path.is_file():
        return []
    try:
        saved = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        saved = {"config.yaml": "unreadable"}
    return changed_keys(saved, item.parameters, ignore=_EXTENT_PARAMETERS)
