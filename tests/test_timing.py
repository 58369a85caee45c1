"""fervlm.timing: per-epoch times for devices × batch sizes, 1 process and a 2-process gloo run."""

from __future__ import annotations

import json
import math
import os
import statistics

import pandas as pd
import pytest

import fervlm.timing as timing
from fervlm.benchmarks.toy import make_toy_table
from fervlm.timing import COLUMNS, hardware_info, measure_timings, read_timings, speedup_table


def test_speedup_table_matches_reference_formula() -> None:
    table = pd.DataFrame(
        {
            "devices": [1, 2, 4, 1, 2],
            "batch_size": [8, 8, 8, 16, 16],
            "epoch_time_s": [10.0, 6.0, 4.0, 8.0, math.nan],
            "status": ["ok", "ok", "ok", "ok", "failed: x"],
        }
    )
    out = speedup_table(table)
    assert out["speedup"].iloc[:4].tolist() == pytest.approx([1.0, 10 / 6, 2.5, 1.0])
    assert out["efficiency"].iloc[:4].tolist() == pytest.approx([1.0, 10 / 12, 2.5 / 4, 1.0])
    assert math.isnan(out["speedup"].iloc[4])


def test_hardware_info_records_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    import pytorch_lightning as pl
    import torch

    # A machine with 3 usable cores (of more) and two GPUs: the record must say so, name by name.
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 2, 5}, raising=False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: f"Fake GPU {i}")
    hw = hardware_info()
    assert hw["cpu_cores_usable"] == 3 and hw["cpu_cores"] == os.cpu_count()
    assert hw["gpus"] == ["Fake GPU 0", "Fake GPU 1"] and hw["gpu_count"] == 2
    assert hw["torch"] == torch.__version__ and hw["pytorch_lightning"] == pl.__version__


def test_rows_are_derived_from_the_recorded_epoch_times(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Known epoch times in, the table's columns out: epoch 1 dropped, median/min/max, rates, speedup,
    a failing configuration kept as a row, and a second call served from the saved times."""
    index = make_toy_table(tmp_path / "toy", n_subjects=2, size=32)  # 12 samples
    recorded = {(1, 4): [9.0, 3.0, 1.0, 2.0], (2, 4): [5.0, 1.0, 2.0, 0.5], (1, 5): [7.0, 6.0, 4.0, 5.0]}
    calls: list[tuple[int, int]] = []

    def fake_time(config, table, root, run_dir):
        calls.append((config.devices, config.batch_size))
        if (config.devices, config.batch_size) == (2, 5):
            raise RuntimeError("out of memory\nsecond line")
        return recorded[(config.devices, config.batch_size)]

    monkeypatch.setattr(timing, "time_configuration", fake_time)
    settings = dict(
        method="affectvlm",
        devices_list=[2, 1],
        batch_sizes=[5, 4, 64],  # 12 // 5 = 2 steps: an epoch sees 10 of the 12 samples
        epochs=4,
        accelerator="cpu",
        backbone="fervlm-tiny",
        num_workers=0,
    )
    table = measure_timings(index, tmp_path / "out", **settings).table
    rows = table.set_index(["devices", "batch_size"])
    assert list(rows.index) == [(1, 4), (1, 5), (1, 64), (2, 4), (2, 5), (2, 64)]  # sorted, not as given
    for key, times in recorded.items():
        row, timed = rows.loc[key], times[1:]
        assert row["status"] == "ok" and row["epochs_timed"] == 3
        assert row["epoch_time_s"] == statistics.median(timed)
        assert (row["epoch_time_min_s"], row["epoch_time_max_s"]) == (min(timed), max(timed))
        assert row["steps_per_epoch"] == 12 // key[1]
        assert row["samples_per_s"] == pytest.approx(12 // key[1] * key[1] / statistics.median(timed))
    assert rows.loc[(2, 4), "speedup"] == pytest.approx(2.0 / 1.0)  # median(3, 1, 2) / median(1, 2, 0.5)
    assert rows.loc[(2, 4), "efficiency"] == pytest.approx(1.0)
    assert rows.loc[(2, 4), "per_device_batch"] == 2 and rows.loc[(2, 4), "backend"] == "gloo"
    assert rows.loc[(2, 5), "status"] == "failed: RuntimeError: out of memory"
    assert math.isnan(rows.loc[(2, 5), "epoch_time_s"]) and math.isnan(rows.loc[(2, 5), "speedup"])
    assert rows.loc[(1, 64), "status"] == "skipped: batch 64 > 12 training samples"
    assert sorted(calls) == [(1, 4), (1, 5), (2, 4), (2, 5)]  # skipped configurations never train
    # Same settings again: the saved times are reused (no training), the failed one is tried again.
    calls.clear()
    again = measure_timings(index, tmp_path / "out", **settings).table
    assert calls == [(2, 5)]
    pd.testing.assert_frame_equal(again, table)


def test_bad_arguments_are_rejected(tmp_path) -> None:
    with pytest.raises(ValueError, match="epochs=1"):
        measure_timings(tmp_path / "index.csv", tmp_path, epochs=1)
    with pytest.raises(ValueError, match="batch_sizes"):
        measure_timings(tmp_path / "index.csv", tmp_path, batch_sizes=[1])


@pytest.mark.ddp
def test_one_process_and_two_gloo_processes(tmp_path) -> None:
    index = make_toy_table(tmp_path / "toy", n_subjects=2, size=32)  # 12 samples
    result = measure_timings(
        index,
        tmp_path / "out",
        method="affectvlm",
        devices_list=[1, 2],
        batch_sizes=[4, 64],
        epochs=2,
        accelerator="cpu",
        backbone="fervlm-tiny",
        num_workers=0,
    )
    table = result.table
    assert list(table.columns) == list(COLUMNS)
    assert len(table) == 4
    ok = table[table["status"] == "ok"].set_index("devices")
    assert sorted(ok.index) == [1, 2], table["status"].tolist()
    assert ok.loc[1, "backend"] == "none" and ok.loc[2, "backend"] == "gloo"
    assert (ok["epochs_timed"] == 1).all()
    # The epoch time is the second epoch's (the first is warm-up) of the slowest rank.
    for devices in (1, 2):
        run = tmp_path / "out" / "runs" / f"d{devices}-b4"
        per_rank = [
            json.loads((run / f"epoch_times_rank{r}.json").read_text())["epoch_times_s"]
            for r in range(devices)
        ]
        assert all(len(times) == 2 for times in per_rank)
        slowest = [max(epoch) for epoch in zip(*per_rank, strict=True)]
        assert json.loads((run / "times.json").read_text())["epoch_times_s"] == slowest
        assert ok.loc[devices, "epoch_time_s"] == slowest[1]
    assert (ok["steps_per_epoch"] == 3).all() and ok.loc[2, "per_device_batch"] == 2
    assert ok.loc[1, "speedup"] == pytest.approx(1.0)
    assert ok.loc[2, "speedup"] == pytest.approx(ok.loc[1, "epoch_time_s"] / ok.loc[2, "epoch_time_s"])
    assert ok["samples_per_s"].tolist() == pytest.approx((12 / ok["epoch_time_s"]).tolist())
    skipped = table[table["batch_size"] == 64]
    assert skipped["status"].str.startswith("skipped: batch 64 > 12").all()
    # Saved atomically, with the hardware; read back identically.
    saved = json.loads((tmp_path / "out" / "timings.json").read_text())
    assert saved["hardware"]["cpu_cores"] == os.cpu_count() and len(saved["rows"]) == 4
    assert saved["settings"]["epochs"] == 2 and saved["settings"]["devices_list"] == [1, 2]
    back = read_timings(tmp_path / "out")
    pd.testing.assert_frame_equal(
        back.table.reset_index(drop=True), table.reset_index(drop=True), check_dtype=False
    )
    assert pd.read_csv(tmp_path / "out" / "timings.csv").shape == (4, len(COLUMNS))
    # A second call with the same settings reuses the measured epochs instead of training again.
    again = measure_timings(
        index,
        tmp_path / "out",
        method="affectvlm",
        devices_list=[1],
        batch_sizes=[4],
        epochs=2,
        accelerator="cpu",
        backbone="fervlm-tiny",
        num_workers=0,
    )
    assert again.table["epoch_time_s"].iloc[0] == pytest.approx(ok.loc[1, "epoch_time_s"])
