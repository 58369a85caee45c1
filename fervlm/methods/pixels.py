"""The ``pixels`` baseline: a linear classifier on the principal components of raw grey-scale pixels.

**What it is.** Every view of a sample is resized to ``pixels_size`` × ``pixels_size`` pixels (the same
data module, views, folds and bilinear resize as every other method, `fervlm.data.FERDataModule`),
turned to grey by the ITU-R BT.601 luma ``Y = 0.299 R + 0.587 G + 0.114 B``, and the ``V`` views are
concatenated into one vector ``x ∈ R^{V·S²}``. A scikit-learn pipeline then fits

    StandardScaler  →  PCA(pixels_pca)  →  multinomial LogisticRegression(C=pixels_c)

on the training split: ``ŷ = argmax_c (W z + b)_c`` with ``z = P((x − μ)/σ − m)`` the PCA scores (the
rows of ``P`` are the principal axes).
No network, no prompt, no pre-training: a fold takes about a second on a 2-core CPU, decoding included.

**Why it is there.** Research code that compares a vision-language method only with its own zero-shot
and linear-probe variants hides how much a plain classical model already gets from the same views.
On the demo's synthetic BU-3DFE Subset I this baseline (32 px, PCA 60, ``C = 0.1``) reaches about
0.85 ± 0.14 accuracy over its 10 subject-independent folds (`fervlm cv --method pixels`), far above the
VLM methods trained from random weights.
Every results table of the compendium carries it, and `fervlm.paired.paired_comparison` says per
dataset which method beats it and by how much, paired over the same folds. A method that does not
beat it has not yet learned anything a pixel model cannot.

**What is saved.** The fitted pipeline is stored as plain arrays in ``fold-KK/pixels.npz``
(:class:`PixelsModel`: scaler, PCA and classifier parameters, class names, views, size), read back
with ``numpy.load(allow_pickle=False)``, so loading it, like loading a checkpoint with
``weights_only=True``, cannot run code (a pickled scikit-learn object could). The app
(`fervlm.inference.load_predictor`) predicts with it; Grad-CAM does not apply (there is no network).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from fervlm.methods.config import TrainConfig
from fervlm.utils import atomic_write

__all__ = ["LUMA", "PIXELS_FILE", "PixelsBaseline", "PixelsModel", "fit_pixels", "grey_features"]

#: The file a fitted pixel baseline is saved to inside its fold folder.
PIXELS_FILE = "pixels.npz"
#: ITU-R BT.601 luma weights (what PIL's ``convert("L")`` uses) for R, G, B.
LUMA = (0.299, 0.587, 0.114)
#: The arrays of a fitted model, as stored in ``pixels.npz``.
_ARRAYS = ("mean", "scale", "pca_mean", "components", "coef", "intercept")


def grey_features(images: Tensor | np.ndarray) -> np.ndarray:
    """``(B, V, 3, S, S)`` RGB views in [0, 1] → ``(B, V·S·S)`` float64 grey pixels, views concatenated.

    Raises:
        ValueError: the input is not a 5-D batch of RGB views.
    """
    x = images.detach().cpu().double().numpy() if isinstance(images, Tensor) else np.asarray(images, float)
    if x.ndim != 5 or x.shape[2] != 3:
        raise ValueError(f"pixels: expected (B, V, 3, S, S) RGB views, got shape {tuple(x.shape)}")
    grey = np.tensordot(x, np.asarray(LUMA), axes=([2], [0]))  # (B, V, S, S)
    return grey.reshape(len(grey), -1)


@dataclass(frozen=True)
class PixelsModel:
    """A fitted pixel baseline as plain arrays (what ``pixels.npz`` holds).

    ``predict_proba(x) = softmax(W P((x − μ)/σ − m) + b)`` reproduces the scikit-learn pipeline
    (``StandardScaler → PCA → LogisticRegression``) exactly (tested against it). A class absent from
    the training split has bias ``−inf``: it can never be predicted.

    Attributes:
        classes: class names (label-id order, rows of ``coef``).
        views: the view names or yaws the features were built from, in order.
        size: side length of each grey view.
        mean, scale: the scaler's ``μ`` and ``σ`` (``σ = 1`` for a constant pixel), shape ``(F,)``.
        pca_mean, components: the PCA's ``m`` ``(F,)`` and its ``K`` principal axes as rows, ``P`` ``(K, F)``.
        coef, intercept: the classifier's ``W`` ``(C, K)`` and ``b`` ``(C,)``.
    """

    classes: tuple[str, ...]
    views: tuple[str, ...]
    size: int
    mean: np.ndarray
    scale: np.ndarray
    pca_mean: np.ndarray
    components: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray

    def _check(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.mean.shape[0]:
            raise ValueError(
                f"pixels: expected (N, {self.mean.shape[0]}) features ({len(self.views)} views of "
                f"{self.size}×{self.size} px), got shape {x.shape}"
            )
        return x

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Grey pixel vectors ``(N, F)`` → PCA scores ``(N, K)``."""
        return ((self._check(x) - self.mean) / self.scale - self.pca_mean) @ self.components.T

    def decision(self, x: np.ndarray) -> np.ndarray:
        """Class logits ``(N, C)``."""
        return self.transform(x) @ self.coef.T + self.intercept

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities ``(N, C)`` (softmax of the logits)."""
        logits = self.decision(x)
        logits = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def save(self, path: str | Path) -> Path:
        """Write the arrays atomically to ``path`` (an ``.npz``); strings are stored as JSON text."""
        path = Path(path)
        meta = json.dumps({"classes": list(self.classes), "views": list(self.views), "size": int(self.size)})
        arrays = {k: getattr(self, k) for k in _ARRAYS}
        with atomic_write(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, meta=np.array(meta), **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> PixelsModel:
        """Read a ``pixels.npz`` written by :meth:`save` (no pickle: loading cannot run code).

        Raises:
            FileNotFoundError: no such file.
            ValueError: the file is not a saved pixel baseline, or its arrays do not fit together.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"pixel baseline {path}: no such file")
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                arrays = {k: np.asarray(data[k], dtype=np.float64) for k in _ARRAYS}
        except (OSError, KeyError, ValueError) as err:
            raise ValueError(f"pixel baseline {path}: not a saved pixels model ({err})") from err
        model = cls(tuple(meta["classes"]), tuple(str(v) for v in meta["views"]), int(meta["size"]), **arrays)
        n_features = len(model.views) * model.size**2
        C, K = len(model.classes), model.components.shape[0]
        shapes = {
            "mean": (n_features,),
            "scale": (n_features,),
            "pca_mean": (n_features,),
            "components": (K, n_features),
            "coef": (C, K),
            "intercept": (C,),
        }
        wrong = {k: arrays[k].shape for k, s in shapes.items() if arrays[k].shape != s}
        if wrong:
            raise ValueError(f"pixel baseline {path}: arrays of the wrong shape {wrong}; expected {shapes}")
        return model


def fit_pixels(
    x: np.ndarray,
    y: np.ndarray,
    classes: Sequence[str],
    views: Sequence[str],
    size: int,
    n_components: int = 60,
    c: float = 0.1,
    seed: int = 0,
) -> tuple[PixelsModel, dict[str, Any]]:
    """Fit ``StandardScaler → PCA → LogisticRegression`` on grey pixel vectors.

    Args:
        x: ``(N, F)`` grey pixel vectors (:func:`grey_features`); y: ``(N,)`` class ids into ``classes``.
        classes, views, size: recorded in the model.
        n_components: PCA size; at most ``min(N, F)`` are used (the fit info says how many).
        c: inverse L2 regularisation of the classifier (scikit-learn ``C``).
        seed: the classifier's ``random_state``.

    Returns:
        The fitted :class:`PixelsModel` and ``{"train_accuracy", "n_train", "pca_components",
        "explained_variance"}``.

    Raises:
        ValueError: labels outside ``classes``, or a training split with a single class.
    """
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y)
    if (y < 0).any() or (y >= len(classes)).any():
        raise ValueError("pixels: some training labels are not among the configured classes")
    if len(np.unique(y)) < 2:
        raise ValueError("pixels: the training split holds a single class")
    k = int(min(n_components, *x.shape))
    # A full SVD: exact and deterministic at these sizes (a few hundred samples × a few thousand pixels).
    pipeline = make_pipeline(
        StandardScaler(),
        PCA(n_components=k, svd_solver="full"),
        LogisticRegression(C=c, max_iter=5000, random_state=seed),
    )
    # One BLAS thread: at these sizes threads gain nothing, and on a loaded machine they oversubscribe
    # (measured on the loaded 2-core machine: a 216 × 3072 full SVD took 7.6 s with 2 threads, 0.37 s with 1).
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        pipeline.fit(x, y)
    scaler, pca, clf = pipeline.steps[0][1], pipeline.steps[1][1], pipeline.steps[2][1]
    coef, intercept = clf.coef_, clf.intercept_
    if len(clf.classes_) == 2:  # scikit-learn stores one row for binary problems: softmax of ±z/2
        coef, intercept = np.vstack([-coef, coef]) / 2, np.array([-intercept[0], intercept[0]]) / 2
    W = np.zeros((len(classes), k))
    b = np.full(len(classes), -np.inf)  # a class absent from the training split is never predicted
    for row, cls in enumerate(clf.classes_):
        W[int(cls)], b[int(cls)] = coef[row], intercept[row]
    model = PixelsModel(
        tuple(str(c) for c in classes),
        tuple(str(v) for v in views),
        int(size),
        mean=scaler.mean_.astype(np.float64),
        scale=scaler.scale_.astype(np.float64),
        pca_mean=pca.mean_.astype(np.float64),
        components=pca.components_.astype(np.float64),
        coef=W,
        intercept=b,
    )
    info = {
        "train_accuracy": float(pipeline.score(x, y)),
        "n_train": len(y),
        "pca_components": k,
        "explained_variance": float(pca.explained_variance_ratio_.sum()),
    }
    return model, info


class PixelsBaseline(nn.Module):
    """The ``pixels`` method as `fervlm.train` runs it: fit on a loader, then ``predict_step`` batches.

    It has the interface of the other non-trained baselines where `fervlm.train` touches it
    (``classes``, ``trainable = False``, ``pseudo_rounds``, ``predict_step``), but no backbone: the
    data module feeds it views at ``config.pixels_size`` scaled to [0, 1] (no CLIP normalisation).

    Args:
        config: the run's configuration (``pixels_size``, ``pixels_pca``, ``pixels_c``, ``views``, ``seed``).
        classes: class names (label-id order, as `fervlm.methods.factory.resolve_classes` gives them).
    """

    trainable = False

    def __init__(self, config: TrainConfig, classes: Sequence[str]) -> None:
        super().__init__()
        self.config = config
        self.classes = list(classes)
        self.pseudo_rounds: list[dict[str, Any]] = []
        self.model: PixelsModel | None = None

    def fit(self, loader: Iterable[dict[str, Any]], run_dir: str | Path | None = None) -> dict[str, Any]:
        """Fit on every sample of ``loader`` (the training split without augmentation).

        Saves the fitted model to ``run_dir/pixels.npz`` when ``run_dir`` is given.
        """
        xs, ys = [], []
        for batch in loader:
            xs.append(grey_features(batch["images"]))
            ys.append(batch["label"].cpu().numpy())
        cfg = self.config
        self.model, info = fit_pixels(
            np.concatenate(xs),
            np.concatenate(ys),
            self.classes,
            cfg.views,
            cfg.pixels_size,
            n_components=cfg.pixels_pca,
            c=cfg.pixels_c,
            seed=cfg.seed,
        )
        if run_dir is not None:
            self.model.save(Path(run_dir) / PIXELS_FILE)
        return info

    @torch.no_grad()
    def predict_step(self, batch: dict[str, Any], batch_idx: int = 0) -> dict[str, Tensor]:
        """``pred`` (B,), ``scores`` (B, C) probabilities and ``embeddings`` (B, K) PCA scores."""
        if self.model is None:
            raise RuntimeError("PixelsBaseline: call fit() before predicting")
        x = grey_features(batch["images"])
        probs = self.model.predict_proba(x)
        return {
            "pred": torch.from_numpy(probs.argmax(axis=1)),
            "scores": torch.from_numpy(probs).float(),
            "embeddings": torch.from_numpy(self.model.transform(x)).float(),
        }
