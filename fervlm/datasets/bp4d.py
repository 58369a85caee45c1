"""BP4D-Spontaneous adapter: `<root>/<F001>/<T1..T8>/<frame>.<mesh ext>` (docs/datasets.md §3).

One row per task sequence folder (`path` = the folder, `task` = ``T1`` …); the emotion comes from the task
table shipped in the package, `fervlm/resources/bp4d_tasks.csv` (columns task, emotion, description; the
commonly quoted mapping of Zhang et al. 2014, overridable with `tasks_csv`). The real 3D mesh format of BP4D
is not public (docs/datasets.md §3.3), so any extension `load_mesh` reads is accepted inside a task folder.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from fervlm.datasets._common import canonical_label, check_root, log, make_index, sidecar
from fervlm.datasets.sequences import sequence_frames
from fervlm.resources import shipped

SUBJECT = re.compile(r"^[FM]\d{3}$")
TASK = re.compile(r"^T\d+$")
DEFAULT_TASKS_CSV = shipped("bp4d_tasks.csv")


def read_task_table(path: str | Path | None = None) -> dict[str, str]:
    """Task → canonical emotion from a CSV with columns task, emotion (lines starting with `#` are comments).

    Args:
        path: the CSV; None uses the table shipped in the package, `fervlm/resources/bp4d_tasks.csv`.

    Raises:
        FileNotFoundError: an explicit `path` does not exist.
        ValueError: the CSV lacks the task/emotion columns.
    """
    path = Path(DEFAULT_TASKS_CSV if path is None else path)
    if not path.is_file():
        raise FileNotFoundError(f"BP4D task table not found: {path}")
    table = pd.read_csv(path, comment="#", dtype=str, skipinitialspace=True)
    missing = {"task", "emotion"} - set(table.columns)
    if missing:
        raise ValueError(
            f"{path}: BP4D task table needs columns task, emotion (missing {', '.join(sorted(missing))})"
        )
    return {str(t).strip(): canonical_label(e) for t, e in zip(table["task"], table["emotion"], strict=True)}


def load_bp4d(
    root: str | Path,
    tasks: Sequence[str] | None = None,
    tasks_csv: str | Path | None = None,
    min_frames: int = 1,
) -> pd.DataFrame:
    """Index a BP4D-Spontaneous tree.

    Args:
        root: the folder holding `F001` … subject folders.
        tasks: tasks to keep (e.g. ``["T1", "T8"]`` for the cross-dataset protocol); all tasks in the table
        when None.
        tasks_csv: task → emotion table overriding `fervlm/resources/bp4d_tasks.csv`.
        min_frames: skip task folders with fewer mesh frames.
    """
    base = check_root(root, "BP4D")
    table = read_task_table(tasks_csv)
    if tasks is not None:
        unknown = [t for t in tasks if t not in table]
        if unknown:
            raise ValueError(
                f"tasks={list(tasks)}: {', '.join(unknown)} not in the task table ({', '.join(table)})"
            )
        table = {t: table[t] for t in tasks}
    rows = []
    for subject_dir in sorted(p for p in base.iterdir() if p.is_dir()):
        if not SUBJECT.match(subject_dir.name):
            log.debug("BP4D: skipping %s (not a subject folder)", subject_dir)
            continue
        for seq in sorted(p for p in subject_dir.iterdir() if p.is_dir()):
            if not TASK.match(seq.name) or seq.name not in table:
                log.debug("BP4D: skipping %s (task not selected or not in the task table)", seq)
                continue
            if len(sequence_frames(seq)) < min_frames:
                log.debug("BP4D: skipping %s (fewer than %d mesh frames)", seq, min_frames)
                continue
            sid = subject_dir.name
            rows.append(
                {
                    "dataset": "bp4d",
                    "sample_id": f"{sid}_{seq.name}",
                    "subject": sid,
                    "label": table[seq.name],
                    "path": str(seq),
                    "kind": "4d",
                    "sex": sid[0],
                    "task": seq.name,
                    "au_path": sidecar(seq),
                }
            )
    return make_index(rows, base, f"<F001>/<task>/<frame> mesh sequence folders for tasks {', '.join(table)}")
