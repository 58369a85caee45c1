"""Running `fervlm prepare`'s samples: in this process or a pool of worker processes, with a progress
bar. A bad sample becomes a one-line error (the job goes on); a fault of the output itself (a full disk)
stops the job at once.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from fervlm.outdir import OUTPUT_ERRNOS
from fervlm.prepare.sample import _render_and_save, _Settings, _Task


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
