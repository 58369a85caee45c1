"""fervlm.outdir and the command line under write faults: a read-only output folder is found before any
work starts, and every OSError is answered in one line naming the path and what the system said."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import fervlm.outdir
from fervlm.benchmarks.toy import make_toy_table
from fervlm.cli import main
from fervlm.outdir import describe_oserror, ensure_writable

REPO = Path(__file__).resolve().parents[1]


def test_describe_oserror_names_the_path_and_the_meaning():
    assert describe_oserror(PermissionError(errno.EACCES, "Permission denied", "/d/out")) == (
        "/d/out: Permission denied (EACCES)"
    )
    assert describe_oserror(OSError(errno.ENOSPC, "No space left on device", "/d/x.png")) == (
        "/d/x.png: No space left on device (ENOSPC)"
    )
    two = OSError(errno.EXDEV, "x", "/a", None, "/b")
    assert describe_oserror(two) == "/a -> /b: Invalid cross-device link (EXDEV)"
    assert describe_oserror(OSError("odd")) == "(no file named by the system): odd"


def test_ensure_writable_creates_the_folder_and_leaves_nothing(tmp_path):
    folder = ensure_writable(tmp_path / "a" / "b")
    assert folder.is_dir() and list(folder.iterdir()) == []


@pytest.fixture()
def shared_tmp():
    """A folder another user can traverse (pytest's tmp_path is private to its owner)."""
    folder = Path(tempfile.mkdtemp(prefix="fervlm-outdir-"))
    folder.chmod(0o755)
    yield folder
    for path in folder.rglob("*"):
        if path.is_dir():
            path.chmod(0o755)
    shutil.rmtree(folder)


def _run_as_other_user(args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run `python -m fervlm.cli ARGS` as a user who cannot write a folder of mode 0555 (root can)."""
    prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    env = {**os.environ, "PYTHONPATH": str(REPO), "HOME": "/tmp"}
    return subprocess.run([*prefix, sys.executable, "-m", "fervlm.cli", *args], env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip


@pytest.mark.skipif(os.geteuid() == 0 and not shutil.which("setpriv"), reason="needs setpriv to drop root")
def test_read_only_folder_as_a_user_meets_it(shared_tmp):
    read_only = shared_tmp / "ro"
    read_only.mkdir()
    index = make_toy_table(shared_tmp / "toy", n_subjects=4, size=8)
    for path in (shared_tmp / "toy").rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    read_only.chmod(0o555)
    synth = _run_as_other_user(["synth", "--layout", "bu3dfe", "--out", str(read_only), "--subjects", "1"])
    assert synth.returncode == 1
    assert synth.stderr.strip() == f"fervlm synth: error: {read_only}: Permission denied (EACCES)"
    folds = _run_as_other_user(["folds", "--index", str(index), "--k", "2", "--out", str(read_only / "f")])
    assert folds.returncode == 1
    assert folds.stderr.strip() == f"fervlm folds: error: {read_only}: Permission denied (EACCES)"
    assert list(read_only.iterdir()) == []


@pytest.fixture()
def read_only(tmp_path, monkeypatch):
    """`tmp_path/ro` behaves as read-only for the writability probe (root writes anywhere)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    real_probe = fervlm.outdir._probe

    def probe(path: Path) -> None:
        if folder in (path, *path.parents):
            raise PermissionError(errno.EACCES, "Permission denied", str(path / ".fervlm-write-test.x"))
        real_probe(path)

    monkeypatch.setattr(fervlm.outdir, "_probe", probe)
    return folder


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


@pytest.mark.parametrize("command", ["synth", "train", "cv", "folds", "sweep", "index"])
def test_read_only_output_is_one_line_before_any_work(command, read_only, tmp_path, capsys, monkeypatch):
    index = make_toy_table(tmp_path / "toy", n_subjects=4, size=8)
    import fervlm.train.cv

    monkeypatch.setattr(fervlm.train.cv, "_fit_split", lambda *a, **k: pytest.fail("training started"))
    args = {
        "synth": ["--layout", "bu3dfe", "--out", str(read_only / "bu3dfe"), "--subjects", "1"],
        "train": ["--method", "zeroshot", "--index", str(index), "--out", str(read_only), "--fold", "0"],
        "cv": ["--method", "zeroshot", "--index", str(index), "--out", str(read_only)],
        "folds": ["--index", str(index), "--k", "2", "--out", str(read_only / "folds.json")],
        "sweep": ["--profile", "quick", "--output-root", str(read_only), "--notebooks", "01"],
        "index": ["--dataset", "manifest", "--root", str(tmp_path / "no.csv"), "--out", str(read_only / "i")],
    }[command]
    code = main([command, *args])
    err = capsys.readouterr().err.strip()
    assert code == 1 and err.count("\n") == 0, err
    assert err.startswith(f"fervlm {command}: error: {read_only}")
    assert err.endswith("Permission denied (EACCES)")
    assert _files(read_only) == []
