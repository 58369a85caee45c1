"""The user's project folder: where relative paths such as ``data/…`` and ``outputs/…`` point.

In a checkout (or an editable install) it is the repository; an installed copy (``pip install .``) has no
repository, so it is the working directory; ``$FERVLM_ROOT`` overrides both (the tests run notebooks in a
temporary copy of the project). The render cache, the FACS priors and the notebooks' outputs all resolve
against this one rule (docs/design.md, "Packaging").
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

#: Environment variable naming another project root (tests run notebooks in a temporary copy of it).
ROOT_ENV = "FERVLM_ROOT"


def checkout_root() -> Path | None:
    """The repository the package runs from (a checkout or an editable install), or None for an installed
    copy (``pip install .`` puts the package in site-packages, far from any project folder)."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() and (root / "fervlm").is_dir() else None


def project_root() -> Path:
    """The user's project folder, where relative paths (``data/…``, ``outputs/…``) point: ``$FERVLM_ROOT`` if
    set, else the repository the package runs from, else (an installed copy) the working directory."""
    value = os.environ.get(ROOT_ENV)
    if value:
        return Path(value).resolve()
    return checkout_root() or Path.cwd().resolve()


def git_hash(repo: str | os.PathLike[str] | None = None) -> str:
    """The commit of `repo` (+ ``-dirty`` with uncommitted changes), or ``"unknown"`` without git/a repo.

    Args:
        repo: the repository; None = the checkout the package runs from (`checkout_root`), else the
            working directory.
    """
    repo = repo if repo is not None else (checkout_root() or Path.cwd())
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):  # git missing, not a repo, no commit yet, hung
        return "unknown"
    return f"{head}-dirty" if dirty else head
