"""`fervlm prepare` under faults: changed render settings, a read-only or full output, a killed main
process, stale temporary files, a size checked once."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import fervlm.outdir
import fervlm.prepare.job
import fervlm.prepare.pool
from fervlm.benchmarks.render import face_like_mesh
from fervlm.cli import main
from fervlm.io import Mesh, write_wrl
from fervlm.prepare import prepare

SIZE = 32
REPO = Path(__file__).resolve().parents[1]


def _manifest(root: Path, n: int = 3, bad_first: bool = False) -> Path:
    """`n` small face scans (plus a corrupt one, first when `bad_first`) and their manifest.csv."""
    root.mkdir(parents=True, exist_ok=True)
    base = face_like_mesh(500)
    rows = []
    if bad_first:
        (root / "a_bad.wrl").write_bytes(b"#VRML V2.0 utf8\nShape { geometry IndexedFaceSet { coord ")
        rows.append({"path": "a_bad.wrl", "label": "happiness", "subject": "S0"})
    for k in range(n):
        v = base.vertices.copy()
        v[:, 2] *= 1.0 + 0.1 * k
        write_wrl(root / f"s{k}.wrl", Mesh(vertices=v, faces=base.faces))
        rows.append({"path": f"s{k}.wrl", "label": "happiness", "subject": f"S{k}"})
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    return root / "manifest.csv"


def _index(root: Path, **kwargs: object) -> pd.DataFrame:
    from fervlm.datasets import load_index

    return load_index("manifest", _manifest(root, **kwargs))


def _cli(manifest: Path, out: Path, *extra: str) -> list[str]:
    return ["prepare", "--dataset", "manifest", "--root", str(manifest), "--out", str(out), "--workers", "1",
            "--no-progress", "--size", str(SIZE), *extra]  # fmt: skip


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    return err


def test_other_render_settings_are_refused_not_skipped(tmp_path, capsys):
    manifest, out = _manifest(tmp_path / "raw"), tmp_path / "out"
    assert main(_cli(manifest, out)) == 0
    front = out / "images/manifest/s0/front.png"
    stamp = front.stat().st_mtime_ns
    assert main(_cli(manifest, out, "--size", "48", "--mode", "depth")) == 2
    err = _one_line_error(capsys)
    assert str(out) in err and "mode 'shaded' -> 'depth'" in err and "size 32 -> 48" in err
    assert "--force" in err and "--out" in err
    assert front.stat().st_mtime_ns == stamp  # the old images were neither kept as new nor touched
    # The way out: --force re-renders every image with the new settings.
    assert main(_cli(manifest, out, "--size", "48", "--mode", "depth", "--force")) == 0
    assert "prepared 3 samples, skipped 0" in capsys.readouterr().out
    assert Image.open(front).size == (48, 48)
    # Views are keyed by their file names: another view set is no change of settings.
    assert main(_cli(manifest, out, "--size", "48", "--mode", "depth", "--views", "0", "45")) == 0
    assert (out / "images/manifest/s0/yaw45.png").is_file()
    # A cache made before the settings were recorded is checked on its image size.
    (out / "render.json").unlink()
    assert main(_cli(manifest, out, "--mode", "depth")) == 2
    assert "size 48 -> 32" in _one_line_error(capsys)


def test_size_is_checked_once_before_any_work(tmp_path, capsys):
    manifest, out = _manifest(tmp_path / "raw"), tmp_path / "out"
    with pytest.raises(ValueError, match=r"^size=0: expected a positive image size in pixels$"):
        prepare(_index(tmp_path / "raw2"), out, size=0, progress=False)
    assert main(_cli(manifest, out, "--size", "0")) == 2
    expected = "fervlm prepare: error: size=0: expected a positive image size in pixels"
    assert _one_line_error(capsys) == expected
    assert not out.exists()


def test_stale_temporary_files_of_a_killed_run_are_removed(tmp_path):
    index, out = _index(tmp_path / "raw"), tmp_path / "out"
    prepare(index, out, size=SIZE, workers=1, progress=False)
    stale = [out / "images/manifest/s0/.front.k1ll3d.png.tmp", out / "images/manifest/s2/.left.x9q.png.tmp"]
    for path in stale:
        path.write_bytes(b"\x89PNG half")
    keep = out / "images/manifest/s0/notes.tmp"  # not ours: not hidden
    keep.write_text("mine")
    again = prepare(index, out, size=SIZE, workers=1, progress=False)
    assert again.n_skipped == 3 and not any(p.exists() for p in stale) and keep.is_file()


def test_read_only_output_fails_at_once_in_one_line(tmp_path, capsys, monkeypatch):
    manifest, out = _manifest(tmp_path / "raw"), tmp_path / "out"
    out.mkdir()
    renders = []
    monkeypatch.setattr(fervlm.prepare.pool, "_render_and_save", lambda *a: renders.append(a))

    def read_only(folder: Path) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(folder / ".fervlm-write-test.x"))

    monkeypatch.setattr(fervlm.outdir, "_probe", read_only)
    assert main(_cli(manifest, out)) == 1
    err = _one_line_error(capsys)
    assert err.startswith(f"fervlm prepare: error: {out}") and err.endswith("Permission denied (EACCES)")
    assert renders == []  # nothing rendered before finding out


class _FullDisk:
    """A disk with room for `room` more images, after which every write fails with ENOSPC (no file
    name, as a write into an open file reports it)."""

    def __init__(self, room: int, csv_fits: bool) -> None:
        self.room, self.csv_fits = room, csv_fits
        self.real_save = Image.Image.save
        self.real_atomic_write = fervlm.prepare.job.atomic_write

    def save(self, image, fp, *args, **kwargs):
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= 1
        return self.real_save(image, fp, *args, **kwargs)

    def atomic_write(self, path, *args, **kwargs):
        if self.room <= 0 and not self.csv_fits:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return self.real_atomic_write(path, *args, **kwargs)


@pytest.mark.parametrize("csv_fits", [False, True])
def test_full_disk_stops_the_job_and_keeps_the_reasons(tmp_path, monkeypatch, capsys, csv_fits):
    manifest, out = _manifest(tmp_path / "raw", bad_first=True), tmp_path / "out"
    disk = _FullDisk(room=4, csv_fits=csv_fits)  # s0's three views, then one view of s1
    monkeypatch.setattr(Image.Image, "save", lambda image, *a, **k: disk.save(image, *a, **k))
    monkeypatch.setattr(fervlm.prepare.job, "atomic_write", disk.atomic_write)
    assert main(_cli(manifest, out)) == 1
    err = _one_line_error(capsys)
    where = out / "images/manifest/s1/front.png"
    assert err == f"fervlm prepare: error: {where}: No space left on device (ENOSPC)"
    # The bad scan's reason was written when it failed, before the disk filled up.
    failures = pd.read_csv(out / "failures.csv")
    assert [Path(f).name for f in failures["file"]] == ["a_bad.wrl"] and "ENOSPC" not in failures.to_csv()
    assert not (out / "images/manifest/s2").exists()  # stopped at the fault, not one failure per sample
    if csv_fits:  # index.csv is written for what is complete
        assert pd.read_csv(out / "index.csv")["sample_id"].tolist() == ["s0"]
    monkeypatch.undo()
    assert main(_cli(manifest, out)) == 1  # room again: the run completes, the bad scan still fails
    assert pd.read_csv(out / "index.csv")["sample_id"].tolist() == ["s0", "s1", "s2"]


def _session_processes(sid: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] not in ("Z", "X"):
            pids.append(int(stat.parent.name))
    return pids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find the workers")
def test_killing_the_main_process_takes_its_workers_along(tmp_path):
    manifest, out = _manifest(tmp_path / "raw", n=40), tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "fervlm.cli", *_cli(manifest, out, "--size", "96")]
    cmd[cmd.index("--workers") + 1] = "2"
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob("images/*/*/*.png")) and time.monotonic() < deadline:
            assert proc.poll() is None, "prepare ended before it could be killed"
            time.sleep(0.05)
        assert len(_session_processes(proc.pid)) >= 3  # main, fork server, workers
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        killed_at = time.monotonic()
        while _session_processes(proc.pid) and time.monotonic() < killed_at + 10:
            time.sleep(0.1)
        left = _session_processes(proc.pid)
        assert left == [], f"processes still running 10 s after the main process was killed: {left}"
        # Nothing is written once they are gone.
        snapshot = sorted(p.name for p in out.rglob("*"))
        time.sleep(1.0)
        assert sorted(p.name for p in out.rglob("*")) == snapshot
    finally:
        for pid in _session_processes(proc.pid):  # only what this test started
            os.kill(pid, signal.SIGKILL)
    # The next run completes the cache and leaves no temporary file behind.
    result = prepare(_index(tmp_path / "raw", n=40), out, size=96, workers=1, progress=False)
    assert result.n_failed == 0 and result.n_done + result.n_skipped == 40
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    assert np.asarray(Image.open(out / "images/manifest/s0/front.png")).shape == (96, 96, 3)
