"""Runs you can trust after a fault (fervlm.train, fervlm.fingerprint, fervlm.checkpoints): a killed and
resumed fold equals an uninterrupted one byte for byte; changed settings are refused, not silently
resumed or skipped; a corrupt checkpoint is set aside and its fold restarts."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import pytorch_lightning as pl
import torch

from fervlm.benchmarks.toy import make_toy_table
from fervlm.checkpoints import usable_checkpoint
from fervlm.cli import main as cli_main
from fervlm.train import fit_fold, fold_dir, run_cv

BASE = dict(backbone="fervlm-tiny", batch_size=8, folds=3, num_workers=0, epochs=2, lr=1e-3, augment="mixed")


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    return make_toy_table(tmp_path_factory.mktemp("toy"), n_subjects=6, size=16)


class _KillAt(pl.Callback):
    """A crash at the start of epoch `epoch`, after the previous epoch's checkpoint was written."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == self.epoch:
            raise KeyboardInterrupt


def _outputs(run):
    return (run / "history.csv").read_bytes(), (run / "predictions.csv").read_bytes()


@pytest.mark.parametrize("method", ["affectvlm", "smilevlm"])  # one and two augmented draws per view
def test_killed_and_resumed_fold_equals_an_uninterrupted_one(index, tmp_path, method):
    config = dict(BASE, method=method, epochs=2)
    fit_fold(config, index, 0, tmp_path / "straight")
    with pytest.raises(SystemExit):
        fit_fold(config, index, 0, tmp_path / "resumed", callbacks=[_KillAt(1)])
    run = fold_dir(tmp_path / "resumed", 0)
    assert (run / "last.ckpt").is_file() and not (run / "metrics.json").exists()
    fit_fold(config, index, 0, tmp_path / "resumed")
    assert _outputs(run) == _outputs(fold_dir(tmp_path / "straight", 0))


def test_results_do_not_depend_on_loader_workers(index, tmp_path):
    """Why `num_workers` may change on resume: augmentation is keyed on (seed, epoch, row), not drawn
    from each worker's stream."""
    config = dict(BASE, method="affectvlm", epochs=2)
    fit_fold(config, index, 0, tmp_path / "main")
    with pytest.raises(SystemExit):
        fit_fold(dict(config, num_workers=2), index, 0, tmp_path / "workers", callbacks=[_KillAt(1)])
    fit_fold(dict(config, num_workers=1), index, 0, tmp_path / "workers")
    assert _outputs(fold_dir(tmp_path / "workers", 0)) == _outputs(fold_dir(tmp_path / "main", 0))


def test_resume_with_other_settings_is_refused_naming_the_keys(index, tmp_path):
    config = dict(BASE, method="affectvlm", epochs=2)
    with pytest.raises(SystemExit):
        fit_fold(config, index, 0, tmp_path, callbacks=[_KillAt(1)])
    run = fold_dir(tmp_path, 0)
    before = (run / "config.json").read_bytes()
    changed = dict(config, lr=0.01, batch_size=4)
    with pytest.raises(ValueError) as err:
        fit_fold(changed, index, 0, tmp_path)
    message = str(err.value)
    assert "\n" not in message and str(run) in message and "--force" in message and "--out" in message
    assert "started with other settings (batch_size 8 -> 4, lr 0.001 -> 0.01)" in message
    assert (run / "config.json").read_bytes() == before  # not rewritten as if the new values held
    # Display-only keys are no reason to refuse.
    metrics = fit_fold(dict(config, progress_bar=True), index, 0, tmp_path)
    # A finished fold with other settings is refused too, not answered with the old metrics.
    with pytest.raises(ValueError, match=r"finished with other settings \(epochs 2 -> 5\)"):
        fit_fold(dict(config, epochs=5), index, 0, tmp_path)
    # The way out: --force starts the fold again from scratch with the new settings.
    forced = fit_fold(dict(config, epochs=1), index, 0, tmp_path, force=True)
    assert forced["epochs"] == 1 and metrics["epochs"] == 2
    assert json.loads((run / "config.json").read_text())["config"]["epochs"] == 1


def test_cli_resume_with_another_method_is_one_line(index, tmp_path, capsys):
    args = ["--index", str(index), "--out", str(tmp_path), "--set", "backbone=fervlm-tiny", "--set",
            "folds=3", "--set", "epochs=1", "--set", "batch_size=8", "--set", "num_workers=0", "--fold",
            "0"]  # fmt: skip
    assert cli_main(["train", "--method", "affectvlm", *args]) == 0
    capsys.readouterr()
    assert cli_main(["train", "--method", "multiviewvlm", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "method 'affectvlm' -> 'multiviewvlm'" in err and "--force" in err


@pytest.mark.parametrize("damage", ["truncate", "empty", "garbage"])
def test_corrupt_checkpoint_is_named_and_set_aside(tmp_path, capsys, damage):
    ckpt = tmp_path / "fold-00" / "last.ckpt"
    ckpt.parent.mkdir()
    good = tmp_path / "good.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1000)}}, good)
    assert usable_checkpoint(good) == good
    data = {"truncate": good.read_bytes()[:2000], "empty": b"", "garbage": b"not a checkpoint"}[damage]
    ckpt.write_bytes(data)
    assert usable_checkpoint(ckpt, what="fold 0") is None
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith(f"fervlm: checkpoint {ckpt} is corrupt (")
    assert err.endswith("moved it to last.ckpt.corrupt and restarting fold 0 from scratch")
    assert not ckpt.exists() and ckpt.with_name("last.ckpt.corrupt").read_bytes() == data
    assert usable_checkpoint(ckpt) is None  # nothing to resume from, nothing said


def test_corrupt_checkpoint_restarts_its_fold_and_the_cv_goes_on(index, tmp_path, capsys):
    config = dict(BASE, method="affectvlm", epochs=2)
    with pytest.raises(SystemExit):
        fit_fold(config, index, 0, tmp_path, callbacks=[_KillAt(1)])
    ckpt = fold_dir(tmp_path, 0) / "last.ckpt"
    ckpt.write_bytes(ckpt.read_bytes()[:5000])  # cut short
    capsys.readouterr()
    frame = run_cv(config, index, tmp_path, folds=[0, 1])
    assert list(frame["fold"]) == [0, 1]  # the later fold ran
    lines = [line for line in capsys.readouterr().err.splitlines() if "corrupt" in line]
    assert len(lines) == 1 and "restarting fold 0 from scratch" in lines[0]
    assert ckpt.with_name("last.ckpt.corrupt").is_file()
    history = pd.read_csv(fold_dir(tmp_path, 0) / "history.csv")
    assert history["epoch"].tolist() == [0, 1]  # trained from epoch 0 again, all curves present
