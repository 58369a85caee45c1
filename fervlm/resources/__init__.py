"""Small data shipped inside the package: prompt banks (`prompts/*.yaml`), the run profiles
(`profiles/*.yaml`) and the BP4D task table.

They live in the package, not in the repository's `data/` folder, so that a regular (non-editable)
``pip install`` carries them: `pyproject.toml` lists them as package data, and `shipped` finds them with
`importlib.resources` wherever the package was installed.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def shipped(*parts: str) -> Path:
    """Path of a file or folder shipped in `fervlm/resources/` (e.g. ``shipped("prompts")``).

    The package is installed as plain files (setuptools, not zipped), so the resource is a real path that
    can be globbed and opened like any other.
    """
    path = resources.files(__name__).joinpath(*parts)
    return Path(str(path))
