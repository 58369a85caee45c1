"""`generate`: write a whole synthetic dataset in one benchmark's layout
(docs/design.md, "The embedded default").

Determinism: subject i draws everything from `np.random.SeedSequence(seed).spawn(n)[i]`, and the sexes (which
fix the ids) from a separate stream of the same seed, so the same arguments give the same bytes whether
subjects run one after another or in parallel worker processes, and subject i does not change when more
subjects are asked for.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from fervlm.synth import layouts
from fervlm.synth.expressions import FaceRig
from fervlm.synth.face import sample_subject
from fervlm.utils import atomic_write_bytes, atomic_write_text

LAYOUTS = ("bu3dfe", "bu4dfe", "bosphorus", "bp4d", "4dme")

DEFAULTS: dict[str, dict[str, int]] = {
    "bu3dfe": {"subjects": 20, "frames": 1, "resolution": 5000},
    "bosphorus": {"subjects": 20, "frames": 1, "resolution": 5000},
    "bu4dfe": {"subjects": 10, "frames": 12, "resolution": 3500},
    "bp4d": {"subjects": 10, "frames": 10, "resolution": 3500},
    "4dme": {"subjects": 10, "frames": 10, "resolution": 3500},
}
"""Default sizes: 20 subjects (or 10 for 4D) so 10-fold subject-independent CV works, and small enough that
every layout generates in well under a minute on 2 CPU cores."""

_WRITERS: dict[str, Callable[..., layouts.SubjectResult]] = {
    "bu3dfe": layouts.write_bu3dfe_subject,
    "bu4dfe": layouts.write_bu4dfe_subject,
    "bosphorus": layouts.write_bosphorus_subject,
    "bp4d": layouts.write_bp4d_subject,
    "4dme": layouts.write_4dme_subject,
}


def subject_ids(layout: str, sexes: list[str]) -> list[str]:
    """Ids in the layout's own style: BU-3DFE `F0001`, BU-4DFE/BP4D `F001` (numbered per sex), Bosphorus
    `bs000`, 4DME `S001`."""
    if layout == "bosphorus":
        return [f"bs{i:03d}" for i in range(len(sexes))]
    if layout == "4dme":
        return [f"S{i + 1:03d}" for i in range(len(sexes))]
    digits = 4 if layout == "bu3dfe" else 3
    counts = {"F": 0, "M": 0}
    ids = []
    for sex in sexes:
        counts[sex] += 1
        ids.append(f"{sex}{counts[sex]:0{digits}d}")
    return ids


def _subject_job(
    layout: str, out: Path, index: int, sid: str, sex: str, seq: np.random.SeedSequence, st: layouts.Settings
) -> tuple[dict[str, str], layouts.SubjectResult]:
    rng = np.random.default_rng(seq)
    subject = sample_subject(rng, sid, sex)
    rig = FaceRig.build(subject, st.resolution)
    kwargs = {"drop_emotion": index % 10 == 1} if layout == "bosphorus" else {}
    result = _WRITERS[layout](rig, out, rng, st, **kwargs)
    row = {"subject": sid, "sex": sex, "age_group": subject.age_group, "ethnicity": subject.ethnicity}
    return row, result


def generate(
    layout: str,
    out: str | Path,
    subjects: int | None = None,
    seed: int = 0,
    frames: int | None = None,
    resolution: int | None = None,
    noise: float = 0.15,
    texture: bool = False,
    workers: int = 1,
    progress: bool = False,
) -> dict[str, object]:
    """Generate a synthetic FACS dataset in a benchmark's file layout.

    Args:
        layout: one of `LAYOUTS`.
        out: the dataset root (created).
        subjects: number of subjects (layout default from `DEFAULTS`).
        seed: base seed; the same arguments give byte-identical files.
        frames: frames per 4D sequence (ignored for 3D layouts).
        resolution: approximate vertices per face (2k-40k; 35k matches BU-4DFE for benchmarking).
        noise: vertex noise standard deviation in mm.
        texture: also write texture images and UVs.
        workers: worker processes (1 = in this process).
        progress: show a tqdm progress bar over subjects.

    Returns:
        Summary: layout, root, subjects, samples, files, bytes, seconds, resolution, frames.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r}: must be one of {', '.join(LAYOUTS)}")
    d = DEFAULTS[layout]
    n = d["subjects"] if subjects is None else int(subjects)
    if n < 1:
        raise ValueError(f"subjects={n}: need at least one subject")
    st = layouts.Settings(
        resolution=d["resolution"] if resolution is None else int(resolution),
        frames=d["frames"] if frames is None else int(frames),
        noise=float(noise),
        texture=bool(texture),
    )
    if noise < 0:
        raise ValueError(f"noise={noise}: must be ≥ 0")
    if layout in ("bu4dfe", "bp4d", "4dme") and st.frames < 5:
        raise ValueError(f"frames={st.frames}: 4D layouts need at least 5 frames per sequence")
    from fervlm.outdir import ensure_writable

    root = ensure_writable(out)  # before generating, not at the first file
    start = time.perf_counter()
    sexes = ["F" if u < 0.55 else "M" for u in np.random.default_rng([seed, 0x5E5]).random(n)]
    ids = subject_ids(layout, sexes)
    seqs = np.random.SeedSequence(seed).spawn(n)
    jobs = [(layout, root, i, ids[i], sexes[i], seqs[i], st) for i in range(n)]
    from tqdm.auto import tqdm

    bar = tqdm(total=n, desc=f"synth {layout}", unit="subject", disable=not progress)
    results: list[tuple[dict[str, str], layouts.SubjectResult]] = []
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for res in pool.map(_subject_job, *zip(*jobs, strict=True)):
                results.append(res)
                bar.update()
    else:
        for job in jobs:
            results.append(_subject_job(*job))
            bar.update()
    bar.close()
    files = [f for _, r in results for f in r.files]
    files.append(_write_csv(root / "subjects.csv", [row for row, _ in results]))
    if layout == "4dme":
        files.append(_write_csv(root / "4DME_labels.csv", [x for _, r in results for x in r.label_rows]))
    if layout == "bu4dfe":
        # The real distribution ships a viewer folder next to the subjects; adapters must skip it.
        files.append(
            atomic_write_text(root / "BU_WrlViewer_V2" / "README.txt", "VRML viewer (not a subject)\n")
        )
    return {
        "layout": layout,
        "root": str(root),
        "subjects": n,
        "samples": sum(r.samples for _, r in results),
        "files": len(files),
        "bytes": sum(f.stat().st_size for f in files),
        "seconds": round(time.perf_counter() - start, 3),
        "resolution": st.resolution,
        "frames": st.frames if layout in ("bu4dfe", "bp4d", "4dme") else 1,
    }


def _write_csv(path: Path, rows: list[dict[str, object]]) -> Path:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write_bytes(path, buf.getvalue().encode("utf-8"))
