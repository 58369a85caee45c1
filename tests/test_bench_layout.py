"""fervlm bench layout: both layouts give the same embeddings and the report is consistent."""

from __future__ import annotations

import pytest

from fervlm.benchmarks.layout import bench_layout, format_layout_table


def test_bench_layout_tiny() -> None:
    r = bench_layout("fervlm-tiny-rn", batch_size=4, repeats=2, threads=1)
    assert r["contiguous_ms"] > 0 and r["channels_last_ms"] > 0
    assert r["speedup"] == pytest.approx(r["contiguous_ms"] / r["channels_last_ms"])
    assert r["max_abs_diff"] < 1e-4  # the same model in two layouts: round-off only
    text = format_layout_table(r)
    assert "fervlm-tiny-rn" in text and f"{r['speedup']:.2f}×" in text


def test_bench_layout_cli(capsys: pytest.CaptureFixture[str]) -> None:
    from fervlm.cli import main

    assert main(["bench", "layout", "--repeats", "1", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "layout benchmark: fervlm-tiny-rn" in out and "speedup" in out
