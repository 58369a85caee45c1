"""Notebook 10 (the FACS prior): its validated parameters and the figures; the priors it compares are built or
reused by `fervlm.experiments.priors.build_priors`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from fervlm.profiles import quick_default

__all__ = [
    "PriorNotebookConfig",
    "caption_gallery",
    "first_captions",
    "metrics_table",
    "plot_au_detection",
    "plot_pretraining_curve",
    "plot_retrieval_examples",
    "prior_summary",
]


@dataclass
class PriorNotebookConfig:
    """The validated parameters of notebook 10.

    Attributes:
        prior_preset: ``default`` (the prior the quick profile uses) or ``smoke`` (seconds, tests).
        prior_file: checkpoint to build or reuse; empty = ``data/weights/facs-<backbone>.pt`` (``default``)
            or ``<output_dir>/facs-smoke.pt`` (``smoke``).
        compare_emotion_names: also build the prior whose captions never name an emotion (AUs only) on the
            same corpus, and compare zero-shot accuracy.
        held_out_identities: corpus identities after the training ones, for retrieval and AU detection.
    """

    profile: str = "quick"
    dataset: str = "synthetic_bu3dfe"
    dataset_root: str = "data/synthetic/bu3dfe"
    backbone: str = field(default_factory=quick_default("backbone"))
    image_size: int = field(default_factory=quick_default("image_size"))
    views: list[int] = field(default_factory=quick_default("views"))
    synthetic_subjects: int = field(default_factory=quick_default("synthetic_subjects"))
    prior_preset: str = "default"
    prior_file: str = ""
    compare_emotion_names: bool = True
    held_out_identities: int = 20
    seed: int = field(default_factory=quick_default("seed"))
    output_dir: str = "outputs/quick/10_facs_prior"

    def __post_init__(self) -> None:
        from fervlm.pretrain import PRESETS

        if self.prior_preset not in PRESETS:
            raise ValueError(f"prior_preset={self.prior_preset!r}: choose one of {sorted(PRESETS)}")
        if self.held_out_identities < 1:
            raise ValueError(f"held_out_identities={self.held_out_identities}: must be >= 1")

    def pretrain_config(self, name_emotions: bool = True) -> Any:
        """The `fervlm.pretrain.PretrainConfig` of the prior (or of its AU-only-captions twin)."""
        from fervlm.pretrain import PRESETS

        return PRESETS[self.prior_preset].replace(
            backbone=self.backbone,
            seed=self.seed,
            corpus_seed=self.seed,
            captions_name_emotions=name_emotions,
        )

    def prior_path(self) -> Path:
        from fervlm.pretrain import prior_path

        if self.prior_file:
            return Path(self.prior_file)
        if self.prior_preset == "default":
            return prior_path(self.backbone)
        return Path(self.output_dir) / f"facs-{self.prior_preset}.pt"

    def held_out_corpus_config(self) -> Any:
        """New identities (after the training corpus), the same rendering, every kind of face."""
        import dataclasses

        train = self.pretrain_config().corpus
        return dataclasses.replace(
            train,
            identities=self.held_out_identities,
            faces_per_identity=6,
            first_identity=train.first_identity + train.identities,
        )


def first_captions(corpus: Any, style: Any, seed: int) -> list[str]:
    """One caption per corpus face (as the pretraining draws them), for figures and retrieval queries."""
    from fervlm.pretrain import caption_table

    texts, _ = caption_table(corpus, style, 1, seed, tokenizer=None)
    return [t[0] for t in texts]


def metrics_table(rows: dict[str, dict[str, Any]], keys: list[str] | None = None) -> pd.DataFrame:
    """Models × metrics (numbers only, or the given `keys`), rounded for display."""

    def wanted(k: str, v: Any) -> bool:
        if keys is not None:
            return k in keys
        return bool(np.isscalar(v)) and not isinstance(v, str)

    frame = pd.DataFrame({name: {k: v for k, v in r.items() if wanted(k, v)} for name, r in rows.items()}).T
    return frame.astype(float).round(3)


def prior_summary(card: dict[str, Any]) -> pd.DataFrame:
    """One-row table of a prior's card: corpus, steps, losses, time, machine load."""
    c = card["corpus"]
    return pd.DataFrame(
        [
            {
                "file": card["file"],
                "identities": c["identities"][1] - c["identities"][0],
                "faces": c["faces"],
                "images": c["images"],
                "name_emotions": card["config"]["captions"]["name_emotions"],
                "steps": card["steps"],
                "loss_first": round(card["loss_first"], 3),
                "loss_last": round(card["loss_last"], 3),
                "seconds": card["seconds_total"],
                "load_average": card.get("load_average_start"),
                "threads": card.get("torch_threads"),
            }
        ]
    )


def caption_gallery(images: np.ndarray, texts: list[str], n: int = 8, seed: int = 0) -> Figure:
    """Renders of `n` random corpus faces (all views side by side) with one of their captions below."""
    import textwrap

    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    pick = rng.choice(len(images), size=min(n, len(images)), replace=False)
    cols = 4
    rows = int(np.ceil(len(pick) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for ax, i in zip(axes.ravel(), pick, strict=False):
        ax.imshow(np.concatenate(list(images[i]), axis=1))
        ax.set_title("\n".join(textwrap.wrap(texts[i], 40)), fontsize=7)
        ax.axis("off")
    for ax in axes.ravel()[len(pick) :]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_pretraining_curve(cards: dict[str, dict[str, Any]]) -> Figure:
    """CLIP loss per step (and ln B, the loss of a model that cannot tell the batch apart) for each prior."""
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.4))
    for name, card in cards.items():
        h = pd.DataFrame(card["history"])
        ax.plot(h["step"], h["loss"], lw=0.8, label=name)
        ax2.plot(h["step"], h["logit_scale"], lw=0.8, label=name)
    batch = next(iter(cards.values()))["config"]["batch_size"]
    ax.axhline(np.log(batch), color="grey", ls="--", lw=0.8, label=f"ln B = {np.log(batch):.2f} (chance)")
    ax.set(xlabel="step", ylabel="CLIP loss", title="pretraining loss")
    ax2.set(xlabel="step", ylabel="exp(logit_scale)", title="learned inverse temperature")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_au_detection(tables: dict[str, pd.DataFrame]) -> Figure:
    """ROC AUC of each AU's one-phrase prompt per prior (`fervlm.prior.evaluate.au_detection`)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3.4))
    width = 0.8 / len(tables)
    for k, (name, t) in enumerate(tables.items()):
        ax.bar(np.arange(len(t)) + k * width, t["auc"], width, label=name)
    first = next(iter(tables.values()))
    ax.set_xticks(np.arange(len(first)) + 0.4 - width / 2, first["au"], rotation=0, fontsize=8)
    ax.axhline(0.5, color="grey", ls="--", lw=0.8)
    ax.set(ylabel="ROC AUC", ylim=(0.3, 1.0), title="does one phrase find the AU? (held-out identities)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_retrieval_examples(backbone: Any, images: np.ndarray, queries: list[str], k: int = 5) -> Figure:
    """For each caption, the `k` held-out faces (front view) the prior ranks highest."""
    import matplotlib.pyplot as plt

    from fervlm.prior.evaluate import embed_images

    z = embed_images(backbone, images)
    img = z.mean(1)
    img = img / img.norm(dim=-1, keepdim=True)
    txt = backbone.encode_text(queries, normalize=True).detach()
    top = (txt @ img.T).topk(k, dim=1).indices.numpy()
    front = images.shape[1] // 2
    fig, axes = plt.subplots(len(queries), k, figsize=(1.6 * k, 1.8 * len(queries)), squeeze=False)
    for r, q in enumerate(queries):
        for c in range(k):
            axes[r, c].imshow(images[top[r, c], front])
            axes[r, c].axis("off")
        axes[r, 0].set_title(q, fontsize=8, loc="left")
    fig.tight_layout()
    return fig
