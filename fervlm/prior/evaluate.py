"""What a prior knows: zero-shot emotion accuracy, caption → image retrieval on held-out identities, and how
well it detects each Action Unit from a one-phrase prompt.

Zero-shot prediction is CLIP's (Radford et al., ICML 2021; docs/methods.md §1):
``ŷ = argmax_c cos(normalize(mean_v z_v), p_c)`` with class prototypes ``p_c`` the normalised mean of the
bank's prompts of class ``c`` (`fervlm.prompts.class_prototypes`) — the same rule as the `zeroshot` method of
`fervlm cv`, here without the training machinery so a notebook can call it on any table or corpus.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from fervlm.prior.captions import AU_PHRASES
from fervlm.prior.corpus import Corpus
from fervlm.synth.aus import AU_NAMES

__all__ = [
    "au_detection",
    "embed_images",
    "load_prior",
    "read_view_images",
    "retrieval",
    "zero_shot",
]


def load_prior(weights: str | Path | None, backbone: str = "fervlm-tiny-rn") -> Any:
    """A `fervlm.backbones.Backbone` with `weights` (``"facs"``, a checkpoint file, or None for random)."""
    from fervlm.backbones import create_backbone

    bb = create_backbone(backbone, weights=None if weights is None else str(weights))
    bb.eval()
    return bb


@torch.no_grad()
def embed_images(backbone: Any, images: np.ndarray, batch_size: int = 256) -> torch.Tensor:
    """(N, V, H, W, 3) uint8 views → (N, V, D) per-view L2-normalised embeddings."""
    from fervlm.data import normalization_of

    mean, std = normalization_of(backbone.preprocess_val)
    mean_t, std_t = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    N, V = images.shape[:2]
    size = backbone.image_size
    out = []
    flat = images.reshape(N * V, *images.shape[2:])
    for start in range(0, N * V, batch_size):
        chunk = np.array(flat[start : start + batch_size])  # a writable copy of the read-only memmap
        x = torch.from_numpy(chunk).permute(0, 3, 1, 2).float() / 255
        if x.shape[-1] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True)
        out.append(backbone.encode_image((x - mean_t) / std_t, normalize=True))
    return torch.cat(out).reshape(N, V, -1)


def _fuse(z: torch.Tensor) -> torch.Tensor:
    return F.normalize(z.mean(1), dim=-1)


def read_view_images(table: pd.DataFrame, root: str | Path, views: Sequence[str | int]) -> np.ndarray:
    """The views of every row of a prepared table, (N, V, H, W, 3) uint8."""
    from PIL import Image

    from fervlm.data import resolve_view_columns

    cols = resolve_view_columns(table, views)
    root = Path(root)
    rows = []
    for _, row in table.iterrows():
        rows.append(np.stack([np.asarray(Image.open(root / row[c]).convert("RGB")) for c in cols]))
    return np.stack(rows)


@torch.no_grad()
def zero_shot(
    backbone: Any,
    images: np.ndarray,
    labels: Sequence[str],
    classes: Sequence[str] | None = None,
    bank: str | None = None,
) -> dict[str, Any]:
    """Zero-shot accuracy of `backbone` on multiview `images` with true `labels`.

    Args:
        backbone: a `Backbone`.
        images: (N, V, H, W, 3) uint8.
        labels: N class names.
        classes: the candidate classes (default: the sorted labels).
        bank: prompt bank name or path (default: the shipped bank for the classes).

    Returns:
        accuracy, macro_f1, confusion_matrix (rows true, columns predicted), classes, predictions.
    """
    from sklearn.metrics import confusion_matrix, f1_score

    from fervlm.prompts import bank_for_labels, class_prototypes, load_bank

    classes = list(classes) if classes is not None else sorted(set(labels))
    b = load_bank(bank).subset(classes) if bank else bank_for_labels(classes)
    protos = class_prototypes(backbone, b, classes)
    fused = _fuse(embed_images(backbone, images))
    pred = (fused @ protos.T).argmax(1).numpy()
    y = np.array([classes.index(lbl) for lbl in labels])
    return {
        "accuracy": float((pred == y).mean()),
        "macro_f1": float(f1_score(y, pred, average="macro", labels=range(len(classes)))),
        "confusion_matrix": confusion_matrix(y, pred, labels=range(len(classes))).tolist(),
        "classes": classes,
        "predictions": [classes[p] for p in pred],
    }


@torch.no_grad()
def retrieval(
    backbone: Any, corpus: Corpus, texts: Sequence[str], ks: Sequence[int] = (1, 5, 10)
) -> dict[str, Any]:
    """Caption → image retrieval: each face's caption ranks all faces (views fused); recall@k and the
    chance level k/N. Faces with the same AUs have interchangeable captions, so recall@1 is a lower bound."""
    img = _fuse(embed_images(backbone, np.asarray(corpus.images)))
    txt = backbone.encode_text(list(texts), normalize=True)
    sim = txt @ img.T  # (N captions, N faces)
    rank = (sim > sim.diag()[:, None]).sum(1)  # 0 = the right face is first
    out: dict[str, Any] = {"n": len(texts)}
    for k in ks:
        out[f"recall@{k}"] = float((rank < k).float().mean())
        out[f"chance@{k}"] = min(1.0, k / len(texts))
    out["median_rank"] = float(rank.float().median() + 1)
    return out


@torch.no_grad()
def au_detection(backbone: Any, corpus: Corpus, threshold: float = 0.25) -> pd.DataFrame:
    """How well each AU is detected by one prompt: ROC AUC of cos(image, "a face with <phrase>") between faces
    where the AU is visible (≥ `threshold`) and faces where it is absent (< 0.05). 0.5 = the prior does not
    know the AU."""
    from sklearn.metrics import roc_auc_score

    img = _fuse(embed_images(backbone, np.asarray(corpus.images)))
    rows = []
    for k, au in enumerate(AU_NAMES):
        prompts = [f"a face with {p}" for p in AU_PHRASES[au]]
        t = F.normalize(backbone.encode_text(prompts, normalize=True).mean(0), dim=-1)
        score = (img @ t).numpy()
        act = corpus.activations[:, k]
        pos, neg = act >= threshold, act < 0.05
        auc = float("nan")
        if pos.any() and neg.any():
            truth = np.r_[np.ones(pos.sum()), np.zeros(neg.sum())]
            auc = float(roc_auc_score(truth, np.r_[score[pos], score[neg]]))
        rows.append({"au": au, "phrase": AU_PHRASES[au][0], "auc": auc, "n_visible": int(pos.sum())})
    return pd.DataFrame(rows)
