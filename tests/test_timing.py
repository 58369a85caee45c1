"""fervlm.timing: per-epoch times for devices × batch sizes, 1 process and a 2-process gloo run."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from fervlm.benchmarks.toy import make_toy_table
from fervlm.timing import COLUMNS, hardware_info, measure_timings, read_timings, speedup_table


def test_speedup_table_matches_reference_formula() -> None:
    table = pd.DataFrame({
        "devices": [1, 2, 4, 1, 2], "batch_size": [8, 8, 8, 16, 16],
        "epoch_time_s": [10.0, 6.0, 4.0, 8.0, math.nan], "status": ["ok", "ok", "ok", "ok", "failed: x"],
    })
    out = speedup_table(table)
    assert out["speedup"].iloc[:4].tolist() == pytest.approx([1.0, 10 / 6, 2.5, 1.0])
    assert out["efficiency"].iloc[:4].tolist() == pytest.approx([1.0, 10 / 12, 2.5 / 4, 1.0])
    assert math.isnan(out["speedup"].iloc[4])


def test_hardware_info_records_the_machine() -> None:
    hw = hardware_info()
    assert hw["cpu_cores_usable"] >= 1 and hw["torch"] and isinstance(hw["gpus"], list)
    assert hw["gpu_count"] == len(hw["gpus"])


def test_bad_arguments_are_rejected(tmp_path) -> None:
    with pytest.raises(ValueError, match="epochs=1"):
        measure_timings(tmp_path / "index.csv", tmp_path, epochs=1)
    with pytest.raises(ValueError, match="batch_sizes"):
        measure_timings(tmp_path / "index.csv", tmp_path, batch_sizes=[1])


@pytest.mark.ddp
def test_one_process_and_two_gloo_processes(tmp_path) -> None:
    index = make_toy_table(tmp_path / "toy", n_subjects=2, size=32)  # 12 samples
    result = measure_timings(
        index, tmp_path / "out", method="affectvlm", devices_list=[1, 2], batch_sizes=[4, 64], epochs=2,
        accelerator="cpu", backbone="fervlm-tiny", num_workers=0,
    )
    table = result.table
    assert list(table.columns) == list(COLUMNS)
    assert len(table) == 4
    ok = table[table["status"] == "ok"].set_index("devices")
    assert sorted(ok.index) == [1, 2], table["status"].tolist()
    assert ok.loc[1, "backend"] == "none" and ok.loc[2, "backend"] == "gloo"
    assert (ok["epochs_timed"] == 1).all() and (ok["epoch_time_s"] > 0).all()
    assert (ok["steps_per_epoch"] == 3).all() and ok.loc[2, "per_device_batch"] == 2
    assert ok.loc[1, "speedup"] == pytest.approx(1.0)
    assert ok.loc[2, "speedup"] == pytest.approx(ok.loc[1, "epoch_time_s"] / ok.loc[2, "epoch_time_s"])
    assert ok["samples_per_s"].tolist() == pytest.approx((12 / ok["epoch_time_s"]).tolist())
    skipped = table[table["batch_size"] == 64]
    assert skipped["status"].str.startswith("skipped: batch 64 > 12").all()
    # Saved atomically, with the hardware; read back identically.
    saved = json.loads((tmp_path / "out" / "timings.json").read_text())
    assert saved["hardware"]["cpu_cores"] >= 1 and len(saved["rows"]) == 4
    back = read_timings(tmp_path / "out")
    pd.testing.assert_frame_equal(back.table.reset_index(drop=True), table.reset_index(drop=True),
                                  check_dtype=False)
    assert pd.read_csv(tmp_path / "out" / "timings.csv").shape == (4, len(COLUMNS))
    # A second call with the same settings reuses the measured epochs instead of training again.
    again = measure_timings(
        index, tmp_path / "out", method="affectvlm", devices_list=[1], batch_sizes=[4], epochs=2,
        accelerator="cpu", backbone="fervlm-tiny", num_workers=0,
    )
    assert again.table["epoch_time_s"].iloc[0] == pytest.approx(ok.loc[1, "epoch_time_s"])
