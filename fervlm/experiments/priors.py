"""The FACS priors notebook 10 compares, built (pretrained) or reused.

`build_priors` pretrains, or reuses when its card matches, the prior a notebook's parameters describe and,
when asked, its twin whose captions never name an emotion (AU descriptions only), on the same corpus: the
comparison isolates what naming the emotion in a caption adds. Training goes through the public
`fervlm.pretrain.ensure_prior`; `fervlm.viz.prior` only draws the results.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from fervlm.pretrain import ensure_prior

__all__ = ["PriorSpec", "build_priors"]

MAIN = "FACS prior"
AU_ONLY = "AU-only captions"


class PriorSpec(Protocol):
    """What `build_priors` reads of a notebook's parameters (`fervlm.viz.prior.PriorNotebookConfig`)."""

    compare_emotion_names: bool

    def pretrain_config(self, name_emotions: bool = True) -> Any:
        """The `fervlm.pretrain.PretrainConfig` of the prior, or of its AU-only-captions twin."""
        ...

    def prior_path(self) -> Path:
        """The checkpoint of the prior."""
        ...


def build_priors(cfg: PriorSpec, progress: bool = False) -> tuple[dict[str, Path], dict[str, Any]]:
    """Build or reuse the priors of `cfg`: ``FACS prior`` and, with `cfg.compare_emotion_names`, ``AU-only
    captions`` (same corpus, captions never name an emotion), saved next to it as ``<stem>-au-only.pt``.

    Args:
        cfg: the notebook's parameters (`PriorSpec`).
        progress: show the pretraining progress bars.

    Returns:
        (checkpoint paths, cards), both keyed by the names above.
    """
    main = Path(cfg.prior_path())
    paths = {MAIN: main}
    cards = {MAIN: ensure_prior(cfg.pretrain_config(), main, progress=progress)}
    if cfg.compare_emotion_names:
        twin = main.with_name(f"{main.stem}-au-only.pt")
        paths[AU_ONLY] = twin
        cards[AU_ONLY] = ensure_prior(
            cfg.pretrain_config(name_emotions=False),
            twin,
            progress=progress,
            corpus_dir=cards[MAIN]["corpus"]["folder"],  # the same faces: only the captions differ
        )
    return paths, cards
