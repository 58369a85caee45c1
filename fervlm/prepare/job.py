"""The `fervlm prepare` job: dataset → rendered view cache + prepared index table.

Every sample of an index table (`fervlm.datasets.load_index`) becomes one image per view: the rendered mesh
for a 3D scan, the dynamic image (rank pooling over the frames, `fervlm.dynamic`) for a 4D sequence. Images go
to ``out/images/<dataset>/<sample_id>/<view>.png`` (view names ``left``/``front``/``right`` for −30/0/+30,
else ``yaw<angle>``); the prepared table ``out/index.csv`` is the index plus one ``view_<yaw>`` column per
view holding paths relative to ``out`` (CONTRIBUTING.md, "Prepared tables").

The job is built to survive long runs on real data:

* parallel over processes (chunks of samples per task), with a progress bar;
* resumable: a sample whose files all exist is skipped, and each file is written atomically
  (`fervlm.utils`), so a killed run leaves complete files or none (and the next run removes the
  hidden ``*.tmp`` files a kill can leave); workers exit when the main process dies (`fervlm.lifeline`);
* the cache is keyed on its render settings: ``out/render.json`` records size, mode, (4D) frames and
  pooling, and a run with other settings is refused (``force=True`` re-renders) instead of skipping
  images of the wrong kind (`fervlm.fingerprint`); views are keyed by their file names;
* bad samples do not stop it: each failure is a row of ``out/failures.csv`` (file, error), written as
  it happens, and the sample is left out of the prepared table. Faults of the output itself (a full
  disk, a read-only file system) stop the job at once: the folder is checked writable before any
  work, and ``failures.csv`` / ``index.csv`` are written for the samples done so far.

With ``masks=True``, samples with an AU sidecar (`au_path`: per-vertex int64 AU bit masks) also get
``<view>_au.npy`` — per-pixel AU bit masks (smallest unsigned dtype holding the bits; bit k = AU region k)
for explanation ground truth — and the table gains ``mask_<yaw>`` columns ("" where there is none). For a 4D
sequence the masks are rendered on its apex frame (the sampled frame farthest from the first one).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from fervlm.fingerprint import check_render_settings, record_render_settings
from fervlm.outdir import ensure_writable
from fervlm.prepare.pool import _run
from fervlm.prepare.sample import _Settings, _Task
from fervlm.tables import mask_column, view_column
from fervlm.utils import TEMP_SUFFIX, atomic_write
from fervlm.viewpoints import view_name

REQUIRED_COLUMNS = ("dataset", "sample_id", "path", "kind")
FAILURE_COLUMNS = ("file", "error")
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")


@dataclass
class PrepareResult:
    """What `prepare` did. `table` is the prepared table (failed samples left out), `failures` the
    (file, error) rows also written to ``failures.csv``."""

    table: pd.DataFrame
    failures: pd.DataFrame
    n_done: int
    n_skipped: int
    n_failed: int
    seconds: float
    out: Path = field(default_factory=Path)

    @property
    def samples_per_second(self) -> float:
        """Throughput of the samples actually rendered (skipped ones excluded)."""
        return self.n_done / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        """One line: done / skipped / failed / seconds / samples per second."""
        line = (
            f"prepared {self.n_done} samples, skipped {self.n_skipped} (already done), failed {self.n_failed}"
            f" in {self.seconds:.1f} s ({self.samples_per_second:.2f} samples/s) -> {self.out / 'index.csv'}"
        )
        if self.n_failed:
            line += f"; see {self.out / 'failures.csv'}"
        return line


def prepare(
    index: pd.DataFrame,
    out: str | Path,
    yaws: Sequence[float] = (-30, 0, 30),
    size: int = 224,
    mode: str = "shaded",
    frames: int | None = None,
    workers: int | None = None,
    method: str = "approximate",
    masks: bool = False,
    progress: bool = True,
    force: bool = False,
    **render_options: Any,
) -> PrepareResult:
    """Render every sample of `index` into the view cache under `out` and write the prepared table.

    Args:
        index: an index table (CONTRIBUTING.md columns; at least dataset, sample_id, path, kind).
        out: output folder (created); holds ``images/``, ``index.csv`` and ``failures.csv``.
        yaws: view angles in degrees (see `fervlm.render` for the sign convention).
        size: image size in pixels.
        mode: render mode (`fervlm.render.MODES`).
        frames: for 4D sequences, pool this many frames sampled uniformly (None = all frames).
        workers: worker processes (None = CPU count; 1 = in this process).
        method: rank pooling for 4D, 'approximate' or 'exact'.
        masks: also write per-view AU masks for samples with an `au_path` sidecar.
        progress: show a tqdm progress bar.
        force: re-render every sample even when its files exist (needed to change the render
            settings of an existing cache).
        **render_options: passed to `render_views` (e.g. ``projection="pinhole"``).

    Returns:
        A `PrepareResult`.

    Raises:
        ValueError: the index lacks a required column, has duplicate (dataset, sample_id) pairs, a
            parameter is invalid, or `out` holds images rendered with other settings.
        OSError: `out` is not writable, or the disk filled up (files so far are indexed).
    """
    from fervlm.dynamic import METHODS
    from fervlm.render import MODES

    start = time.perf_counter()
    missing = [c for c in REQUIRED_COLUMNS if c not in index.columns]
    if missing:
        raise ValueError(f"index: missing column(s) {missing}; expected fervlm.datasets.load_index columns")
    if mode not in MODES:
        raise ValueError(f"mode={mode!r}: expected one of {MODES}")
    if method not in METHODS:
        raise ValueError(f"method={method!r}: expected one of {METHODS}")
    if frames is not None and frames < 1:
        raise ValueError(f"frames={frames}: expected a positive number of frames per sequence")
    if isinstance(size, bool) or int(size) != size or size < 1:  # once here, not once per sample
        raise ValueError(f"size={size}: expected a positive image size in pixels")
    if not len(yaws):
        raise ValueError("yaws: at least one view angle is needed")
    yaws = tuple(float(y) for y in yaws)
    names = [view_name(y) for y in yaws]
    if len(set(names)) != len(names):
        raise ValueError(f"yaws={list(yaws)}: view angles must be distinct")
    keys = index["dataset"].astype(str) + "/" + index["sample_id"].astype(str)
    if keys.duplicated().any():
        raise ValueError(f"index: duplicate (dataset, sample_id), e.g. {keys[keys.duplicated()].iloc[0]}")

    out = Path(out)
    ensure_writable(out)
    render_key: dict[str, Any] = {"size": int(size), "mode": mode}
    if (index["kind"].astype(str).str.lower() == "4d").any():  # frames and pooling only shape 4D images
        render_key.update(frames=frames, pooling=method)
    if render_options:
        render_key["render_options"] = {k: str(v) for k, v in sorted(render_options.items())}
    if not force:
        check_render_settings(out, render_key)
    _remove_stale_temporaries(out / "images")
    table = index.reset_index(drop=True).copy()
    if "au_path" in table.columns:
        au_paths = table["au_path"].fillna("").astype(str)
    else:
        au_paths = pd.Series("", index=table.index)
    rel_views: list[list[str]] = []
    rel_masks: list[list[str]] = []
    tasks: dict[int, _Task] = {}
    n_skipped = 0
    for i, row in table.iterrows():
        folder = Path("images") / _safe(row["dataset"]) / _safe(row["sample_id"])
        views = [(folder / f"{n}.png").as_posix() for n in names]
        want_masks = masks and bool(au_paths[i])
        mask_files = [(folder / f"{n}_au.npy").as_posix() for n in names] if want_masks else []
        rel_views.append(views)
        rel_masks.append(mask_files if want_masks else [""] * len(names))
        if force:
            for p in views + mask_files:  # first, so a killed forced run leaves no image of the old kind
                (out / p).unlink(missing_ok=True)
        elif all((out / p).is_file() for p in views + mask_files):
            n_skipped += 1
            continue
        tasks[i] = _Task(
            path=str(row["path"]),
            kind=str(row["kind"]).lower(),
            au_path=au_paths[i],
            targets=[str(out / p) for p in views],
            mask_targets=[str(out / p) for p in mask_files],
        )

    record_render_settings(out, render_key)
    settings = _Settings(yaws, int(size), mode, frames, method, tuple(sorted(render_options.items())))
    errors: dict[int, str] = {}
    done: set[int] = set()

    def write_failures() -> pd.DataFrame:
        rows = sorted(errors)
        frame = pd.DataFrame([(tasks[i].path, errors[i]) for i in rows], columns=list(FAILURE_COLUMNS))
        _write_csv_if_changed(frame, out / "failures.csv")
        return frame

    def on_result(i: int, error: str | None) -> None:
        done.add(i)
        if error is not None:
            errors[i] = error
            write_failures()  # now: a later fault (full disk, kill) must not lose the reasons

    for k, yaw in enumerate(yaws):
        table[view_column(yaw)] = [v[k] for v in rel_views]
    if masks:
        for k, yaw in enumerate(yaws):
            table[mask_column(yaw)] = [m[k] for m in rel_masks]
    finished = False
    try:
        _run(tasks, settings, workers, progress, on_result)
        finished = True
    finally:
        # Also after a fault: index what is complete (a re-run renders the rest).
        try:
            failures = write_failures()
            left_out = sorted(set(errors) | (set(tasks) - done))
            table = table.drop(index=left_out).reset_index(drop=True)
            _write_csv_if_changed(table, out / "index.csv")
        except OSError:
            if finished:
                raise  # otherwise the fault that stopped the job is the one to report
    return PrepareResult(
        table=table,
        failures=failures,
        n_done=len(tasks) - len(errors),
        n_skipped=n_skipped,
        n_failed=len(errors),
        seconds=time.perf_counter() - start,
        out=out,
    )


def _safe(name: object) -> str:
    """A file-name-safe version of a dataset or sample id (ids never contain path separators here)."""
    text = _UNSAFE.sub("_", str(name))
    return text if text not in ("", ".", "..") else f"_{text}_"


def _remove_stale_temporaries(images: Path) -> None:
    """Remove the hidden ``.<name>.*.tmp`` files of atomic writes a killed run left behind."""
    if not images.is_dir():
        return
    for folder, _, names in os.walk(images):
        for name in names:
            if name.startswith(".") and name.endswith(TEMP_SUFFIX):
                Path(folder, name).unlink(missing_ok=True)


def _write_csv_if_changed(frame: pd.DataFrame, path: Path) -> None:
    """Write `frame` as CSV atomically, leaving the file untouched when its content would not change (a
    fully skipped re-run writes nothing)."""
    text = frame.to_csv(index=False)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
