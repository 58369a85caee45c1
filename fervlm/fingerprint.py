"""Settings fingerprints: a resumed or skipped job must have been run with the settings asked for now.

A fold folder with ``last.ckpt`` is resumed and one with ``metrics.json`` is skipped; a prepared
cache's images are skipped when they exist. Without a check, ``epochs=3 lr=0.01`` would silently
continue a checkpoint trained at ``lr=1e-3``, a finished fold would return its old metrics for new
settings, and ``prepare --size 128`` would keep 64-px images. The settings that change results are
recorded next to the results (a fold's ``config.json``, a cache's ``render.json``) and compared
before any work; a difference is refused in one line that names the keys and the ways out
(``--force`` to start again from scratch, or a new ``--out``).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "NON_RESULT_KEYS",
    "RENDER_FILE",
    "changed_keys",
    "check_fold_settings",
    "check_render_settings",
    "describe_changes",
    "record_render_settings",
]

#: Training keys that never change a result: display, and loader workers (augmentation is keyed on
#: (seed, epoch, row), `fervlm.data`, so results do not depend on the number of workers).
NON_RESULT_KEYS = frozenset({"progress_bar", "num_workers"})
#: A fold's outputs that a forced re-run removes (``config.json`` is rewritten anyway).
FOLD_RESULTS = ("last.ckpt", "metrics.json", "history.csv", "predictions.csv")
#: The prepared cache's record of its render settings.
RENDER_FILE = "render.json"


def _canon(value: Any) -> str:
    """A comparable text form: tuples and lists alike, 1 and 1.0 alike (YAML reads `1e-3` as text)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return repr(float(value))
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{_canon(v)}" for k, v in sorted(value.items())) + "}"
    if isinstance(value, Iterable):
        return "[" + ",".join(_canon(v) for v in value) + "]"
    return json.dumps(value, default=str)


def changed_keys(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    defaults: Mapping[str, Any] | None = None,
    ignore: Iterable[str] = (),
) -> list[tuple[str, Any, Any]]:
    """The keys whose values differ, as ``(key, old, new)``, sorted by key.

    A key missing from ``old`` (recorded before the key existed) counts as its value in
    ``defaults``: a run made before a key was added behaved as its default.
    """
    skip = set(ignore)
    defaults = defaults or {}
    out = []
    for key in sorted((set(old) | set(new)) - skip):
        before = old.get(key, defaults.get(key))
        after = new.get(key, defaults.get(key))
        if _canon(before) != _canon(after):
            out.append((key, before, after))
    return out


def describe_changes(changes: Iterable[tuple[str, Any, Any]]) -> str:
    """``lr 0.001 -> 0.01, batch_size 32 -> 16``."""
    return ", ".join(f"{key} {before!r} -> {after!r}" for key, before, after in changes)


def check_fold_settings(run_dir: Path, config: Any, force: bool = False) -> None:
    """Refuse to resume or skip the fold in ``run_dir`` when it was run with other settings.

    Nothing to compare when the folder holds neither ``last.ckpt`` nor ``metrics.json``. With
    ``force`` the fold's results are removed instead, so it runs again from scratch.

    Args:
        run_dir: the fold folder (``config.json`` records the settings it ran with).
        config: the :class:`~fervlm.methods.config.TrainConfig` asked for now.
        force: discard the fold's previous results instead of refusing.

    Raises:
        ValueError: one line naming the folder, the differing keys (old -> new) and the ways out.
    """
    started = any((run_dir / name).is_file() for name in ("last.ckpt", "metrics.json"))
    if not started:
        return
    if force:
        for name in FOLD_RESULTS:
            (run_dir / name).unlink(missing_ok=True)
        shutil.rmtree(run_dir / "logs", ignore_errors=True)
        return
    way_out = "use --force (force=True) to run it again from scratch, or a new --out"
    try:
        recorded = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))["config"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{run_dir}: has results but its config.json cannot be read ({type(exc).__name__}), so its "
            f"settings are unknown; {way_out}"
        ) from None
    defaults = type(config)().to_dict()
    changes = changed_keys(recorded, config.to_dict(), defaults, ignore=NON_RESULT_KEYS)
    if changes:
        state = "finished" if (run_dir / "metrics.json").is_file() else "started"
        raise ValueError(f"{run_dir}: {state} with other settings ({describe_changes(changes)}); {way_out}")


def check_render_settings(out: Path, settings: Mapping[str, Any]) -> None:
    """Refuse to reuse a prepared cache whose images were rendered with other settings.

    ``settings`` are those that change every image (size, mode, and for 4D data frames and pooling,
    render options); views are keyed by the file names already (``left.png``, ``yaw45.png``), so
    adding a view to a cache is fine. A cache made before ``render.json`` existed is checked on its
    image size (the one setting an image shows). Record the settings with
    :func:`record_render_settings` once the cache is known to match them.

    Raises:
        ValueError: one line naming the folder, the differing keys and the ways out.
    """
    recorded = _recorded_render_settings(out)
    if recorded is not None:
        changes = changed_keys(recorded, settings)
    else:
        size = _existing_image_size(out / "images")
        changes = [] if size in (None, settings.get("size")) else [("size", size, settings.get("size"))]
    if changes:
        raise ValueError(
            f"{out}: its images were rendered with other settings ({describe_changes(changes)}); "
            "use --force to re-render every image, or a new --out"
        )


def record_render_settings(out: Path, settings: Mapping[str, Any]) -> None:
    """Write ``out/render.json`` (unless it already holds ``settings``)."""
    from fervlm.utils import atomic_write_text

    if _recorded_render_settings(out) != dict(settings):
        atomic_write_text(out / RENDER_FILE, json.dumps(dict(settings), indent=2, sort_keys=True) + "\n")


def _recorded_render_settings(out: Path) -> dict[str, Any] | None:
    try:
        recorded = json.loads((out / RENDER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return recorded if isinstance(recorded, dict) else None


def _existing_image_size(images: Path) -> int | None:
    """The side length of the first image found under ``images`` (None when there is none)."""
    if not images.is_dir():
        return None
    from PIL import Image

    for image in images.rglob("*.png"):
        if image.name.startswith("."):
            continue
        try:
            with Image.open(image) as img:
                return int(img.size[0])
        except OSError:
            continue
    return None
