"""Runs you can trust after a fault (fervlm.train, fervlm.fingerprint, fervlm.checkpoints): a killed and
resumed fold equals an uninterrupted one byte for byte; changed settings are refused, not silently
resumed or skipped; a corrupt checkpoint is set aside and its fold restarts."""

from __future__ import annotations

import json

import pytest
import pytorch_lightning as pl

from fervlm.cli import main as cli_main
from fervlm.data import make_toy_table
from fervlm.train import fit_fold, fold_dir, run_cv

BASE = dict(backbone="fervlm-tiny", batch_size=8, folds=3, num_workers=0, epochs=3, lr=1e-3, augment="mixed")


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


@pytest.mark.parametrize(
    "method, extra",
    [("affectvlm", {}), ("smilevlm", {"epochs": 2})],  # one and two augmented draws per view
)
def test_killed_and_resumed_fold_equals_an_uninterrupted_one(index, tmp_path, method, extra):
    config = dict(BASE, method=method, **extra)
    fit_fold(config, index, 0, tmp_path / "straight")
    with pytest.raises(SystemExit):
        fit_fold(config, index, 0, tmp_path / "resumed", callbacks=[_KillAt(config["epochs"] - 1)])
    run = fold_dir(tmp_path / "resumed", 0)
    assert (run / "last.ckpt").is_file() and not (run / "metrics.json").exists()
    fit_fold(config, index, 0, tmp_path / "resumed")
    assert _outputs(run) == _outputs(fold_dir(tmp_path / "straight", 0))


def test_resume_with_other_settings_is_refused_naming_the_keys(index, tmp_path):
    config = dict(BASE, method="affectvlm")
    with pytest.raises(SystemExit):
        fit_fold(config, index, 0, tmp_path, callbacks=[_KillAt(1)])
    run = fold_dir(tmp_path, 0)
    before = (run / "config.json").read_bytes()
    changed = dict(config, lr=0.01, batch_size=4)
    with pytest.raises(ValueError) as err:
        fit_fold(changed, index, 0, tmp_path)
    message = str(err.value)
    assert "\n" not in message and str(run) in message and "--force" in message and "--out" in message
    assert "batch_size 8 -> 4" in message and "lr 0.001 -> 0.01" in message and "epochs" not in message
    assert (run / "config.json").read_bytes() == before  # not rewritten as if the new values held
    # Display-only keys are no reason to refuse.
    metrics = fit_fold(dict(config, progress_bar=True), index, 0, tmp_path)
    # A finished fold with other settings is refused too, not answered with the old metrics.
    with pytest.raises(ValueError, match=r"finished with other settings \(epochs 3 -> 5\)"):
        fit_fold(dict(config, epochs=5), index, 0, tmp_path)
    # The way out: --force starts the fold again from scratch with the new settings.
    forced = fit_fold(dict(config, epochs=1), index, 0, tmp_path, force=True)
    assert forced["epochs"] == 1 and metrics["epochs"] == 3
    assert json.loads((run / "config.json").read_text())["config"]["epochs"] == 1


def test_cli_resume_with_another_method_is_one_line(index, tmp_path, capsys):
    args = ["--index", str(index), "--out", str(tmp_path), "--set", "backbone=fervlm-tiny", "--set", "folds=3",
            "--set", "epochs=1", "--set", "batch_size=8", "--set", "num_workers=0"]  # fmt: skip
    assert cli_main(["train", "--method", "affectvlm", "--fold", "0", *args]) == 0
    capsys.readouterr()
    assert cli_main(["train", "--method", "multiviewvlm", "--fold", "0", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "method 'affectvlm' -> 'multiviewvlm'" in err and "--force" in err
    assert cli_main(["train", "--method", "multiviewvlm", "--fold", "0", "--force", *args]) == 0


@pytest.mark.parametrize("damage", ["truncate", "empty"])
def test_corrupt_checkpoint_is_set_aside_and_the_cv_goes_on(index, tmp_path, capsys, damage):
    config = dict(BASE, method="affectvlm", epochs=2)
    straight = tmp_path / "straight"
    fit_fold(config, index, 0, straight)
    out = tmp_path / "damaged"
    with pytest.raises(SystemExit):
        fit_fold(config, index, 0, out, callbacks=[_KillAt(1)])
    ckpt = fold_dir(out, 0) / "last.ckpt"
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"")
    capsys.readouterr()
    frame = run_cv(config, index, out, folds=[0, 1])
    assert list(frame["fold"]) == [0, 1]  # the later fold ran
    lines = [line for line in capsys.readouterr().err.splitlines() if "corrupt" in line]
    assert len(lines) == 1 and str(ckpt) in lines[0] and "last.ckpt.corrupt" in lines[0]
    assert "restarting fold 0 from scratch" in lines[0]
    aside = ckpt.with_name("last.ckpt.corrupt")
    assert aside.is_file() and aside.stat().st_size == len(data) // 2 * (damage == "truncate")
    # Restarted from scratch: the same results as a run never interrupted.
    assert _outputs(fold_dir(out, 0)) == _outputs(fold_dir(straight, 0))
