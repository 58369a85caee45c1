"""Which protocol a number was measured under, in words (docs/methods.md §1, "prompt source").

A result of a vision-language method depends on where its training prompts came from:

* ``prompt_source="label"`` — each training sample's prompt is drawn from its **true label**: the
  protocol of the papers' code, supervised in effect even for the "unsupervised" and
  "self-supervised" methods;
* ``prompt_source="pseudo"`` — the prompt class is the sample's **pseudo-label** (k-means on the
  model's own embeddings, named by the text prototypes): **label-free**, no training label is read.

Baselines have their own: zero-shot trains nothing, the linear probe and the pixel baseline are
fitted on training labels.
Tables, figure titles, the README and the app name the protocol with :func:`protocol_name`, so that
no number appears without it.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["PROTOCOL_NAMES", "SHORT_PROTOCOL_NAMES", "protocol_name", "run_protocol"]

#: ``prompt_source`` → the protocol in words.
PROTOCOL_NAMES = {
    "label": "label prompts (training labels used)",
    "pseudo": "label-free (pseudo-label prompts)",
}

#: The same in two words, for narrow places (the app's model picker); the full phrase goes beside them.
SHORT_PROTOCOL_NAMES = {"label": "label prompts", "pseudo": "label-free"}

#: Methods whose protocol does not depend on ``prompt_source``.
_METHOD_PROTOCOLS = {
    "zeroshot": "zero-shot (no training)",
    "linearprobe": "linear probe (training labels used)",
    "pixels": "pixel baseline (training labels used)",
    "ceiling": "cross-entropy ceiling (training labels used)",
}


def protocol_name(prompt_source: str | None, method: str | None = None, short: bool = False) -> str:
    """The protocol of a run in words, e.g. ``"label-free (pseudo-label prompts)"``.

    Args:
        prompt_source: the run's ``TrainConfig.prompt_source`` (``"label"`` or ``"pseudo"``); None or
            "" when unknown.
        method: the run's method; zero-shot and linear-probe runs are named by their method.
        short: the two-word form (``"label-free"``, ``"label prompts"``; for a baseline the bracketed part,
            e.g. ``"training labels used"``) for narrow places.

    Returns:
        A short phrase for tables, legends and titles; ``"protocol unknown"`` when nothing is known.

    Example:
        >>> protocol_name("pseudo")
        'label-free (pseudo-label prompts)'
        >>> protocol_name("label", "zeroshot")
        'zero-shot (no training)'
        >>> protocol_name("pseudo", short=True)
        'label-free'
    """
    if method in _METHOD_PROTOCOLS:
        name = _METHOD_PROTOCOLS[str(method)]
        return name[name.index("(") + 1 : -1] if short else name  # short: what the brackets say
    if prompt_source in PROTOCOL_NAMES:
        return (SHORT_PROTOCOL_NAMES if short else PROTOCOL_NAMES)[str(prompt_source)]
    return "protocol unknown" if not prompt_source else f"prompt_source={prompt_source}"


def run_protocol(run_dir: str | Path) -> str:
    """``"<method>, <protocol>"`` of a fold folder, read from its ``config.json`` (written by `fervlm.train`).

    Raises:
        FileNotFoundError: the folder has no ``config.json``.
    """
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no config.json (is {run_dir} a fervlm fold folder?)")
    config = json.loads(path.read_text(encoding="utf-8")).get("config", {})
    method = config.get("method")
    return f"{method or '?'}, {protocol_name(config.get('prompt_source'), method)}"
