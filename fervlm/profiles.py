"""Profiles: the flat, typed YAML files (`fervlm/resources/profiles/<name>.yaml`) that size a sweep.

docs/design.md, "Same notebooks at two sizes". The YAML files are the one source of every profile value:
`Profile` only types them (a field's default is the quick file's value, for a custom profile that leaves a
key out), and the training defaults of `fervlm.methods.config` read the same files through `load_profile`.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import os
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fervlm.method_names import METHOD_NAMES
from fervlm.resources import shipped
from fervlm.typecheck import matches, type_name

__all__ = [
    "KNOWN_METHODS",
    "PARAMS_DIR",
    "REPO_ROOT",
    "Profile",
    "load_profile",
    "profile_path",
    "quick_default",
    "shipped_profiles",
    "validate_profile",
]

REPO_ROOT = Path(__file__).resolve().parents[1]
PARAMS_DIR = shipped("profiles")
#: The method names a profile may list (`fervlm.method_names`, their one home).
KNOWN_METHODS = METHOD_NAMES


@functools.cache
def _quick_values() -> dict[str, Any]:
    """The shipped quick profile as written (read once): the defaults of every `Profile` field."""
    path = PARAMS_DIR / "quick.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a profile is a flat mapping of keys to values, got {type(data).__name__}")
    return data


def quick_default(key: str) -> Callable[[], Any]:
    """A `default_factory` giving the quick profile's value of `key` (a fresh copy each time).

    `Profile` and the notebooks' config dataclasses (`fervlm.viz`) declare their profile keys with
    ``field(default_factory=quick_default(key))``, so `fervlm/resources/profiles/quick.yaml` stays the one
    place a quick value is written.
    """
    return lambda: copy.deepcopy(_quick_values()[key])


@dataclass
class Profile:
    """The typed contents of a profile YAML (`fervlm/resources/profiles/<name>.yaml`); a notebook key left out
    of a file takes the quick profile's value.

    Relative paths (`notebooks_dir`, `dataset_roots`) are relative to the repository root, the notebooks'
    working directory. The notebook keys (all but the last two) are what `fervlm sweep` passes to the
    notebooks' parameters cells; `training` and `method_training` are the `TrainConfig` values the profile
    sets beyond them (loss weights, each method's epochs), read by `fervlm.methods.config.load_config(
    profile=...)` in `fervlm train --profile` and in the notebooks' training runs.
    """

    name: str
    description: str = ""
    # notebook stems; empty = every NN_*.ipynb in order
    notebooks: list[str] = field(default_factory=quick_default("notebooks"))
    notebooks_dir: str = field(default_factory=quick_default("notebooks_dir"))
    datasets: list[str] = field(default_factory=quick_default("datasets"))
    dataset_roots: dict[str, str] = field(default_factory=quick_default("dataset_roots"))
    methods: list[str] = field(default_factory=quick_default("methods"))
    backbone: str = field(default_factory=quick_default("backbone"))
    weights: str = field(default_factory=quick_default("weights"))
    image_size: int = field(default_factory=quick_default("image_size"))
    views: list[int] = field(default_factory=quick_default("views"))
    epochs: int = field(default_factory=quick_default("epochs"))
    batch_size: int = field(default_factory=quick_default("batch_size"))
    lr: float = field(default_factory=quick_default("lr"))
    k_folds: int = field(default_factory=quick_default("k_folds"))
    run_folds: str | list[int] = field(default_factory=quick_default("run_folds"))
    accelerator: str = field(default_factory=quick_default("accelerator"))
    devices: int | str = field(default_factory=quick_default("devices"))
    num_workers: int = field(default_factory=quick_default("num_workers"))
    seed: int = field(default_factory=quick_default("seed"))
    prompt_sources: list[str] = field(default_factory=quick_default("prompt_sources"))
    synthetic_subjects: int = field(default_factory=quick_default("synthetic_subjects"))
    # Not inherited from quick: left out, a profile trains with the `TrainConfig` defaults (papers' values).
    training: dict[str, Any] = field(default_factory=dict)
    method_training: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The profile as a plain dict (what `config.yaml` files and papermill receive)."""
        return dataclasses.asdict(self)


def shipped_profiles() -> list[str]:
    """The names of the profiles shipped in `fervlm/resources/profiles/` (``paper``, ``quick``)."""
    return sorted(p.stem for p in PARAMS_DIR.glob("*.yaml"))


def validate_profile(profile: Profile, source: str = "<profile>") -> Profile:
    """Check field types and cross-field rules; raise `ValueError` naming `source` and the key."""
    hints = typing.get_type_hints(Profile)
    for f in dataclasses.fields(Profile):
        value = getattr(profile, f.name)
        if not matches(value, hints[f.name]):
            raise ValueError(f"{source}: {f.name}={value!r} must be {type_name(hints[f.name])}")
    if isinstance(profile.run_folds, str) and profile.run_folds != "all":
        raise ValueError(
            f"{source}: run_folds must be 'all' or a list of fold numbers, got {profile.run_folds!r}"
        )
    if isinstance(profile.run_folds, list):
        bad = [k for k in profile.run_folds if not 0 <= k < profile.k_folds]
        if bad:
            raise ValueError(
                f"{source}: run_folds {bad} outside 0..{profile.k_folds - 1} (k_folds={profile.k_folds})"
            )
    bad_methods = [m for m in profile.methods if m not in KNOWN_METHODS]
    if bad_methods:
        raise ValueError(f"{source}: unknown method(s) {bad_methods}; valid: {', '.join(KNOWN_METHODS)}")
    bad_methods = [m for m in profile.method_training if m not in KNOWN_METHODS]
    if bad_methods:
        valid = ", ".join(KNOWN_METHODS)
        raise ValueError(f"{source}: method_training names unknown method(s) {bad_methods}; valid: {valid}")
    no_root = [d for d in profile.datasets if d not in profile.dataset_roots]
    if no_root:
        raise ValueError(f"{source}: dataset(s) {no_root} have no entry in dataset_roots")
    if profile.k_folds < 2:
        raise ValueError(f"{source}: k_folds must be at least 2, got {profile.k_folds}")
    return profile


def profile_path(name_or_path: str | os.PathLike[str]) -> Path:
    """Resolve a shipped profile name (`quick`, `paper`) or a YAML file path."""
    text = str(name_or_path)
    path = Path(text)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"profile file {path} does not exist")
        return path
    shipped = PARAMS_DIR / f"{text}.yaml"
    if not shipped.is_file():
        names = ", ".join(shipped_profiles())
        raise ValueError(f"profile {text!r}: not a file and not a shipped profile ({names})")
    return shipped


def load_profile(name_or_path: str | os.PathLike[str] | Profile) -> Profile:
    """Load and validate a profile: a shipped name (`quick`, `paper`) or the path of a flat YAML file.

    Keys are the `Profile` fields; a missing key takes the field default (the quick profile's value for a
    notebook key, none for `training` / `method_training`), an unknown key is an error naming
    the key, the file and the valid keys. `name` defaults to the file's stem.
    """
    if isinstance(name_or_path, Profile):
        return validate_profile(name_or_path)
    path = profile_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a profile is a flat mapping of keys to values, got {type(data).__name__}")
    valid = [f.name for f in dataclasses.fields(Profile)]
    unknown = [k for k in data if k not in valid]
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown}; valid keys: {', '.join(valid)}")
    data.setdefault("name", path.stem)
    return validate_profile(Profile(**data), source=str(path))
