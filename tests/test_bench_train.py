"""fervlm bench train / data: sane numbers on tiny settings, interleaving, table printers."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest

import fervlm.benchmarks.data as data_bench
import fervlm.benchmarks.train as train_bench
from fervlm.benchmarks.data import bench_data, format_data_table
from fervlm.benchmarks.train import bench_train, format_train_table, interleaved_times


def _clock(ticks: list[float]) -> SimpleNamespace:
    """A stand-in for the `time` module whose perf_counter returns `ticks` in turn."""
    it = iter(ticks)
    return SimpleNamespace(perf_counter=lambda: next(it))


def test_interleaved_times_alternates_calls_and_times_each(monkeypatch: pytest.MonkeyPatch) -> None:
    now = itertools.count()  # every call of a function advances the fake clock by its own cost
    cost = {"a": 1.0, "b": 3.0}
    clock = {"t": 0.0}
    calls: list[str] = []

    def work(name: str):
        def fn() -> None:
            calls.append(name)
            clock["t"] += cost[name] + 0.1 * next(now)

        return fn

    monkeypatch.setattr(train_bench, "time", SimpleNamespace(perf_counter=lambda: clock["t"]))
    times = interleaved_times({"a": work("a"), "b": work("b")}, repeats=3)
    assert calls == ["a", "b"] * 3
    assert times["a"] == pytest.approx([1.0, 1.2, 1.4]) and times["b"] == pytest.approx([3.1, 3.3, 3.5])


def test_bench_train_tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    # The steps really run (once each as warm-up); the reported numbers come from known round times.
    known = {"method": [0.3, 0.1, 0.2], "bare": [0.2, 0.2, 0.05]}

    def fixed_times(fns, repeats):
        assert list(fns) == ["method", "bare"] and repeats == 3
        return known

    monkeypatch.setattr(train_bench, "interleaved_times", fixed_times)
    r = bench_train("smilevlm", backbone="fervlm-tiny", batch_size=4, views=2, repeats=3, steps=2)
    assert r["images_per_step"] == 4 * 2 * 2 and r["image_size"] == 64  # two augmentations of every view
    # Per step: the median (and the minimum) of the rounds divided by the 2 steps of a round.
    assert r["method_ms"] == pytest.approx(100.0) and r["bare_ms"] == pytest.approx(100.0)
    assert r["method_best_ms"] == pytest.approx(50.0) and r["bare_best_ms"] == pytest.approx(25.0)
    assert r["ratio"] == pytest.approx(1.0) and r["ratio_best"] == pytest.approx(2.0)
    assert r["method_images_per_s"] == pytest.approx(16 / 0.1) and r["bare_images_per_s"] == pytest.approx(
        160
    )
    assert r["method_samples_per_s"] == pytest.approx(4 / 0.1)
    text = format_train_table([r])
    assert "smilevlm" in text and "fervlm-tiny" in text and ">" not in text  # 1.00× is within target
    slow = format_train_table([{**r, "ratio": 1.2}]).splitlines()[-1]
    assert slow.split()[1] == "16" and slow.endswith("> 1.15×")  # above target: flagged
    with pytest.raises(ValueError, match="zeroshot"):
        bench_train("zeroshot")


def test_bench_data_tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    # perf_counter, in the order bench_data reads it: cache build, loader alone, step alone, fed step.
    ticks = [0.0, 1.0, 10.0, 12.0, 20.0, 21.0, 30.0, 34.0]
    monkeypatch.setattr(data_bench, "time", _clock(ticks))
    r = bench_data(
        "affectvlm", backbone="fervlm-tiny", batch_size=4, views=3, n_subjects=2, num_workers=0, batches=2
    )
    n = 2 * 4  # timed batches × batch size
    assert r["cache_build_s"] == 1.0
    assert r["loader_samples_per_s"] == n / 2 and r["step_samples_per_s"] == n / 1
    assert r["fed_samples_per_s"] == n / 4 and r["loader_images_per_s"] == 3 * n / 2
    assert r["stall"] == pytest.approx(1 - 2 / 8) and r["keeps_up"] is False
    row = format_data_table([r]).splitlines()[-1].split()
    assert row[0] == "affectvlm" and row[-2:] == ["0.75", "no"]
    with pytest.raises(ValueError, match="n_subjects"):
        bench_data(batch_size=32, n_subjects=2)


def test_cli_functions_parse_and_print(capsys) -> None:
    import argparse

    from fervlm.benchmarks.train import add_arguments, main_train

    parser = argparse.ArgumentParser()
    parser.add_argument("--views", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    add_arguments(parser)
    args = parser.parse_args(
        [
            "--methods",
            "multiviewvlm",
            "--backbone",
            "fervlm-tiny",
            "--batch-size",
            "4",
            "--views",
            "2",
            "--repeats",
            "1",
        ]
    )
    assert main_train(args) == 0
    row = capsys.readouterr().out.splitlines()[-1].split()
    assert row[:2] == ["multiviewvlm", "8"]  # 4 samples × 2 views, one image each
    with pytest.raises(SystemExit, match="--methods"):
        main_train(parser.parse_args(["--methods", "clip"]))
