"""Dataset → rendered view cache + prepared index table (`fervlm prepare`).

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

import math
import os
import re
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fervlm.fingerprint import check_render_settings, record_render_settings
from fervlm.outdir import OUTPUT_ERRNOS, ensure_writable
from fervlm.tables import mask_column, view_column
from fervlm.utils import TEMP_SUFFIX, atomic_save_image, atomic_save_npy, atomic_write
from fervlm.viewpoints import view_name

REQUIRED_COLUMNS = ("dataset", "sample_id", "path", "kind")
FAILURE_COLUMNS = ("file", "error")
PNG_COMPRESS_LEVEL = 3  # same size as PIL's default 6 on renders, half the time
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")


def sample_frames(frames: Sequence[Path], count: int | None) -> list[Path]:
    """`count` frames spread uniformly over the sequence (first and last included); all when None or when
    the sequence is not longer than `count`."""
    frames = list(frames)
    if count is None or len(frames) <= count:
        return frames
    if count < 1:
        raise ValueError(f"frames={count}: expected a positive number of frames per sequence")
    picks = np.unique(np.round(np.linspace(0, len(frames) - 1, count)).astype(int))
    return [frames[i] for i in picks]


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


@dataclass
class _Task:
    """One sample's work, picklable for worker processes."""

    path: str
    kind: str
    au_path: str
    targets: list[str]  # image file per view
    mask_targets: list[str]  # mask file per view, [] without masks


@dataclass(frozen=True)
class _Settings:
    yaws: tuple[float, ...]
    size: int
    mode: str
    frames: int | None
    method: str
    render_options: tuple[tuple[str, Any], ...] = ()


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


def _run(
    tasks: dict[int, _Task],
    settings: _Settings,
    workers: int | None,
    progress: bool,
    on_result: Any = None,
) -> dict[int, str]:
    """Run the tasks, in this process or a process pool; returns {row: error} for the failed ones.

    ``on_result(row, error_or_None)`` is called as each sample finishes. An output fault
    (`fervlm.outdir.OUTPUT_ERRNOS`) stops the job: pending samples are cancelled and it is raised.
    """
    from tqdm.auto import tqdm

    errors: dict[int, str] = {}
    if not tasks:
        return errors
    rows = list(tasks)
    workers = os.cpu_count() or 1 if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f"workers={workers}: expected at least 1")
    workers = min(workers, len(rows))
    bar = tqdm(total=len(rows), unit="sample", desc="prepare", disable=not progress)

    def collect(results: Iterable[str | None]) -> None:
        """Record each row's error (if any) as its result arrives, in row order."""
        for i, error in zip(rows, results, strict=True):
            if error is not None:
                errors[i] = error
            if on_result is not None:
                on_result(i, error)
            bar.update(1)

    try:
        if workers == 1:
            collect(_prepare_one(tasks[i], settings) for i in rows)
        else:
            import multiprocessing

            # Workers are forked from a clean fork server, never from this process (whose open3d/Embree
            # thread pools may be running); the server imports open3d once (~1.5 s), so each worker
            # starts in milliseconds instead of importing it again.
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["open3d", "fervlm.prepare"])
            chunk = max(1, min(16, math.ceil(len(rows) / (workers * 4))))
            pool_args = {
                "max_workers": workers,
                "mp_context": context,
                "initializer": _init_worker,
                "initargs": (os.getpid(),),
            }
            with ProcessPoolExecutor(**pool_args) as pool:
                try:
                    collect(
                        pool.map(
                            _prepare_one, [tasks[i] for i in rows], [settings] * len(rows), chunksize=chunk
                        )
                    )
                except BaseException:
                    pool.shutdown(wait=False, cancel_futures=True)  # do not render the rest first
                    raise
    finally:
        bar.close()
    return errors


def _init_worker(main_pid: int | None = None) -> None:
    """One open3d thread per worker: the pool already spreads samples over the cores, and open3d's own
    threading on top of it oversubscribes the CPU (measured slower than a single process on 2 cores).
    The worker exits when the main process dies (killed, out of memory): its work would be orphaned."""
    from fervlm.lifeline import exit_with
    from fervlm.render import set_num_threads

    if main_pid is not None:
        exit_with(main_pid)
    set_num_threads(1)


def _prepare_one(task: _Task, settings: _Settings) -> str | None:
    """Render and save one sample; return None on success or a one-line error (the job goes on)."""
    try:
        _render_and_save(task, settings)
    except Exception as exc:  # any bad file must become a failures.csv row, not a crashed job
        if isinstance(exc, OSError) and exc.errno in OUTPUT_ERRNOS:
            raise  # the output's fault (full disk), not this sample's: stop the job
        message = " ".join(str(exc).split()) or repr(exc)
        return f"{type(exc).__name__}: {message}"
    return None


def _render_and_save(task: _Task, settings: _Settings) -> None:
    from fervlm.dynamic import pool, render_sequence, to_uint8
    from fervlm.io import load_mesh
    from fervlm.render import render_labelled, render_views

    options = dict(settings.render_options)
    labels = _load_labels(task.au_path) if task.mask_targets else None
    view_masks = None
    if task.kind == "3d":
        mesh = load_mesh(task.path)
        if labels is not None:
            labelled = render_labelled(
                mesh,
                settings.yaws,
                settings.size,
                settings.mode,
                labels=_check_labels(labels, mesh, task),
                **options,
            )
            images, view_masks = labelled.images, _smallest_uint(labelled.label_map)
        else:
            images = render_views(mesh, settings.yaws, settings.size, settings.mode, **options)
    elif task.kind == "4d":
        from fervlm.datasets import sequence_frames

        paths = sample_frames(sequence_frames(task.path), settings.frames)
        if not paths:
            raise ValueError(f"{task.path}: the sequence folder holds no mesh frames")
        apex: dict[str, Any] = {"mesh": None, "first": None, "distance": -1.0}

        def track_apex(t: int, mesh: Any) -> None:
            # The apex (the frame farthest from the first) shows where the expression acts.
            first = apex["first"] = mesh.vertices if apex["first"] is None else apex["first"]
            d = float(np.abs(mesh.vertices - first).mean()) if mesh.vertices.shape == first.shape else 0.0
            if d > apex["distance"]:
                apex.update(mesh=mesh, distance=d)

        # render_sequence frames the whole sequence once, from its first frame; the apex masks reuse that.
        rendered, options["framing"] = render_sequence(
            paths,
            settings.yaws,
            settings.size,
            settings.mode,
            on_frame=track_apex if labels is not None else None,
            **options,
        )
        images = np.stack([to_uint8(pool(rendered[:, v], settings.method)) for v in range(rendered.shape[1])])
        if labels is not None and apex["mesh"] is not None:
            apex_views = render_labelled(
                apex["mesh"],
                settings.yaws,
                settings.size,
                "depth",
                labels=_check_labels(labels, apex["mesh"], task),
                **options,
            )
            view_masks = _smallest_uint(apex_views.label_map)
    else:
        raise ValueError(f"{task.path}: unknown kind {task.kind!r} (expected '3d' or '4d')")
    # Masks first, images last: the skip test looks at both, and a sample only counts once all are there.
    if view_masks is not None:
        for target, m in zip(task.mask_targets, view_masks, strict=True):
            atomic_save_npy(target, m)
    for target, image in zip(task.targets, images, strict=True):
        atomic_save_image(target, image, compress_level=PNG_COMPRESS_LEVEL)


def _smallest_uint(label_map: np.ndarray) -> np.ndarray:
    """Per-pixel AU bits in the smallest unsigned dtype that holds the largest value (uint8 … uint64)."""
    top = int(label_map.max()) if label_map.size else 0
    dtype = next(d for d in (np.uint8, np.uint16, np.uint32, np.uint64) if top <= np.iinfo(d).max)
    return label_map.astype(dtype)


def _load_labels(au_path: str) -> np.ndarray:
    try:
        labels = np.load(au_path)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{au_path}: cannot read the AU sidecar ({exc})") from exc
    return np.asarray(labels).astype(np.int64).ravel()


def _check_labels(labels: np.ndarray, mesh: Any, task: _Task) -> np.ndarray:
    if len(labels) != len(mesh.vertices):
        raise ValueError(
            f"{task.au_path}: {len(labels)} AU labels for {len(mesh.vertices)} vertices "
            f"of {mesh.source or task.path}"
        )
    return labels


def _write_csv_if_changed(frame: pd.DataFrame, path: Path) -> None:
    """Write `frame` as CSV atomically, leaving the file untouched when its content would not change (a
    fully skipped re-run writes nothing)."""
    text = frame.to_csv(index=False)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
