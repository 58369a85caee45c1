"""Notebook 06 helpers: its parameters, the epoch-time and speedup figures, the hardware table.

AffectVLM Fig. 4 and MultiviewVLM Fig. 5 plot the training time per epoch against the number of GPUs, one
line per global batch size; we draw the same from `fervlm.timing.measure_timings` and add the speedup
``T(1, B) / T(W, B)`` against the ideal ``W``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from fervlm.experiments import dataset_spec
from fervlm.method_names import TRAINED_METHODS
from fervlm.profiles import quick_default

__all__ = ["TimingNotebookConfig", "epoch_time_figure", "hardware_table", "speedup_figure"]


@dataclass
class TimingNotebookConfig:
    """The validated parameters of notebook 06 (see its `parameters` cell for their meaning)."""

    profile: str = "quick"
    dataset: str = "synthetic_bu3dfe"
    dataset_root: str = "data/synthetic/bu3dfe"
    method: str = "affectvlm"
    devices_list: list[int] = field(default_factory=lambda: [1, 2])
    batch_sizes: list[int] = field(default_factory=lambda: [16, 32])
    epochs: int = 3
    image_size: int = field(default_factory=quick_default("image_size"))
    views: list[float] = field(default_factory=quick_default("views"))
    backbone: str = field(default_factory=quick_default("backbone"))
    accelerator: str = field(default_factory=quick_default("accelerator"))
    synthetic_subjects: int = field(default_factory=quick_default("synthetic_subjects"))
    seed: int = field(default_factory=quick_default("seed"))
    output_dir: str = "outputs/quick/06_distributed_timing"

    def __post_init__(self) -> None:
        dataset_spec(self.dataset)
        if self.method not in TRAINED_METHODS:
            raise ValueError(
                f"method={self.method!r}: timing needs a trained method (affectvlm, multiviewvlm, smilevlm)"
            )
        if not self.devices_list or any(d < 1 for d in self.devices_list):
            raise ValueError(f"devices_list={self.devices_list}: give device counts >= 1")
        if not self.batch_sizes or any(b < 2 for b in self.batch_sizes):
            raise ValueError(f"batch_sizes={self.batch_sizes}: give global batch sizes >= 2")
        if self.epochs < 2:
            raise ValueError(f"epochs={self.epochs}: need >= 2 (the first epoch is warm-up, not timed)")
        if self.accelerator not in ("auto", "cpu", "gpu", "cuda"):
            raise ValueError(f"accelerator={self.accelerator!r}: must be auto, cpu, gpu or cuda")
        if self.image_size < 16:
            raise ValueError(f"image_size={self.image_size}: too small (min 16)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ok(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["status"] == "ok"]


def epoch_time_figure(table: pd.DataFrame, title: str = ""):
    """Time per epoch (s) against the number of devices, one line per global batch size (papers' Fig. 4/5)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ok = _ok(table)
    for batch, rows in ok.groupby("batch_size"):
        rows = rows.sort_values("devices")
        ax.errorbar(
            rows["devices"],
            rows["epoch_time_s"],
            yerr=[
                rows["epoch_time_s"] - rows["epoch_time_min_s"],
                rows["epoch_time_max_s"] - rows["epoch_time_s"],
            ],
            marker="o",
            capsize=3,
            label=f"batch {batch}",
        )
    ax.set_xticks(sorted(ok["devices"].unique()) if len(ok) else [1])
    ax.set_xlabel("devices (processes)")
    ax.set_ylabel("time per epoch (s)")
    ax.set_title(title or "training time per epoch")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def speedup_figure(table: pd.DataFrame, title: str = ""):
    """Speedup ``T(1, B) / T(W, B)`` against devices, per batch size, with the ideal ``W`` line."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ok = _ok(table).dropna(subset=["speedup"])
    devices = sorted(ok["devices"].unique()) if len(ok) else [1]
    ax.plot(devices, devices, "k--", lw=1, label="ideal (linear)")
    for batch, rows in ok.groupby("batch_size"):
        rows = rows.sort_values("devices")
        ax.plot(rows["devices"], rows["speedup"], marker="o", label=f"batch {batch}")
    ax.set_xticks(devices)
    ax.set_xlabel("devices (processes)")
    ax.set_ylabel("speedup vs 1 device")
    ax.set_title(title or "data-parallel speedup")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def hardware_table(hardware: dict[str, Any]) -> pd.DataFrame:
    """The hardware record of a timing run as a two-column table (for display next to the figures)."""
    values = {k: (", ".join(v) if isinstance(v, list) else v) for k, v in hardware.items()}
    values["gpus"] = values.get("gpus") or "none"
    return pd.DataFrame({"item": list(values), "value": [str(v) for v in values.values()]})
