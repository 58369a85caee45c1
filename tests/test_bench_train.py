"""fervlm bench train / data: sane numbers on tiny settings, interleaving, table printers."""

from __future__ import annotations

import pytest

from fervlm.benchmarks.data import bench_data, format_data_table
from fervlm.benchmarks.train import bench_train, format_train_table, interleaved_times


def test_interleaved_times_alternates_calls() -> None:
    calls: list[str] = []
    times = interleaved_times({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=3)
    assert calls == ["a", "b"] * 3
    assert all(len(v) == 3 and min(v) >= 0 for v in times.values())


def test_bench_train_tiny() -> None:
    r = bench_train("smilevlm", backbone="fervlm-tiny", batch_size=4, views=2, repeats=2, steps=1)
    assert r["images_per_step"] == 4 * 2 * 2  # two augmentations of every view
    assert r["method_ms"] > 0 and r["bare_ms"] > 0 and r["image_size"] == 64
    assert r["ratio"] == pytest.approx(r["method_ms"] / r["bare_ms"])
    assert r["method_images_per_s"] == pytest.approx(16 / (r["method_ms"] / 1000))
    text = format_train_table([r])
    assert "smilevlm" in text and "fervlm-tiny" in text
    with pytest.raises(ValueError, match="zeroshot"):
        bench_train("zeroshot")


def test_bench_data_tiny() -> None:
    r = bench_data("affectvlm", backbone="fervlm-tiny", batch_size=4, views=3, n_subjects=2, num_workers=0,
                   batches=2)
    for key in ("loader_samples_per_s", "step_samples_per_s", "fed_samples_per_s"):
        assert r[key] > 0
    assert r["loader_images_per_s"] == pytest.approx(3 * r["loader_samples_per_s"])
    assert 0.0 <= r["stall"] <= 1.0 and isinstance(r["keeps_up"], bool)
    assert "affectvlm" in format_data_table([r])
    with pytest.raises(ValueError, match="n_subjects"):
        bench_data(batch_size=32, n_subjects=2)


def test_cli_functions_parse_and_print(capsys) -> None:
    import argparse

    from fervlm.benchmarks.train import add_arguments, main_train

    parser = argparse.ArgumentParser()
    parser.add_argument("--views", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    add_arguments(parser)
    args = parser.parse_args(["--methods", "multiviewvlm", "--backbone", "fervlm-tiny", "--batch-size", "4",
                              "--views", "2", "--repeats", "1"])
    assert main_train(args) == 0
    assert "multiviewvlm" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="--methods"):
        main_train(parser.parse_args(["--methods", "clip"]))
