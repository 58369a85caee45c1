"""Figures and the parameter check for notebook 01 (prompt banks and their text embeddings).

Each plotting function returns a matplotlib `Figure` (the caller saves or shows it). Heavy imports
(matplotlib, umap-learn) happen inside the functions so that importing `fervlm` stays fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from fervlm.prompts import SHIPPED_BANKS, PromptBank, load_bank


@dataclass(frozen=True)
class PromptsNotebookConfig:
    """The validated parameters of `notebooks/01_prompts.ipynb`."""

    profile: str = "quick"
    backbone: str = "fervlm-tiny"
    weights: str = "facs"  # the quick profile's FACS prior (`fervlm pretrain`); "none" = random towers
    bank: str = "emotions6"
    n_examples: int = 3
    output_dir: str = "outputs/quick/01_prompts"
    seed: int = 0

    def __post_init__(self) -> None:
        """Check the values: the bank is loaded (a shipped name or a file) and the backbone name is checked
        against open_clip's registry, so mistakes surface in the cell after `parameters`, not halfway
        through the notebook."""
        import open_clip

        from fervlm.backbones import register_model_configs, resolve_weights

        if not isinstance(self.n_examples, int) or self.n_examples < 1:
            raise ValueError(f"n_examples must be a positive int, got {self.n_examples!r}")
        if not isinstance(self.seed, int):
            raise ValueError(f"seed must be an int, got {self.seed!r}")
        load_bank(self.bank)  # raises naming the file / the shipped banks
        register_model_configs()
        if not self.backbone.startswith("local-dir:"):
            if self.backbone not in open_clip.list_models():
                raise ValueError(
                    f"backbone={self.backbone!r} is not a known architecture; see open_clip.list_models()"
                )
            resolve_weights(self.backbone, self.weights)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def banks_to_show(bank: str) -> list[str]:
    """The chosen bank first, then the other shipped banks (the notebook tabulates all of them)."""
    return [bank, *[b for b in SHIPPED_BANKS if b != bank]]


def plot_similarity(
    emb: torch.Tensor | np.ndarray,
    labels: Sequence[str],
    title: str = "cosine similarity",
    annotate: bool = True,
):
    """Heatmap of the cosine-similarity matrix of (N, D) embeddings, rows/columns named by `labels`."""
    import matplotlib.pyplot as plt

    x = torch.as_tensor(np.asarray(emb), dtype=torch.float64)
    x = torch.nn.functional.normalize(x, dim=1)
    sim = (x @ x.T).numpy()
    n = len(labels)
    size = (1.0 + 0.55 * n, 0.8 + 0.5 * n) if n <= 12 else (8.0, 7.0)
    fig, ax = plt.subplots(figsize=size, layout="constrained")
    im = ax.imshow(sim, vmin=-1, vmax=1, cmap="RdBu_r")
    if n <= 40:
        ax.set_xticks(range(n), labels, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(n), labels, fontsize=8)
    if annotate and n <= 12:
        for i in range(n):
            for j in range(n):
                ax.text(j, i, f"{sim[i, j]:.2f}", ha="center", va="center", fontsize=7)
    ax.set_title(title)
    fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


def prompt_map_coords(emb: torch.Tensor | np.ndarray, seed: int = 0, n_neighbors: int = 15) -> np.ndarray:
    """2-D UMAP coordinates (cosine metric) of (N, D) embeddings; `n_neighbors` is capped for few points."""
    import umap

    x = np.asarray(emb, dtype=np.float32)
    k = max(2, min(n_neighbors, len(x) - 1))
    # n_jobs=1: a fixed random_state forces one thread anyway (umap warns otherwise).
    reducer = umap.UMAP(
        n_neighbors=k, n_components=2, metric="cosine", random_state=seed, init="random", n_jobs=1
    )
    return reducer.fit_transform(x)


def plot_prompt_map(
    emb: torch.Tensor | np.ndarray,
    classes: Sequence[str],
    seed: int = 0,
    title: str = "UMAP of prompt embeddings",
):
    """Scatter of a 2-D UMAP of prompt embeddings, one colour per class (legend = class names)."""
    import matplotlib.pyplot as plt

    xy = prompt_map_coords(emb, seed=seed)
    fig, ax = plt.subplots(figsize=(6, 5), layout="constrained")
    names = list(dict.fromkeys(classes))
    owner = np.asarray(classes)
    for i, c in enumerate(names):
        m = owner == c
        ax.scatter(xy[m, 0], xy[m, 1], s=18, color=plt.cm.tab10(i % 10), label=c)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=8, loc="best")
    return fig


def bank_summary(bank: PromptBank) -> dict[str, int]:
    """Number of prompts (without metadata) per active class."""
    return {c: len(bank.prompts(c)) for c in bank.classes}
