"""Loss dictionaries (open_clip's task pattern, docs/design.md "Conventions"): named parts, total = Σ
*_loss."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import Tensor

from fervlm.distributed import gather_no_grad, gather_with_grad

__all__ = ["gather_views", "resolve_disabled", "total_loss"]


def total_loss(parts: Mapping[str, Tensor]) -> Tensor:
    """Sum of the entries whose key ends in ``_loss`` (others, e.g. ``alpha``, are diagnostics).

    Example:
        >>> parts = {"a_loss": torch.tensor(1.0), "b_loss": torch.tensor(2.0), "alpha": torch.tensor(5.0)}
        >>> total_loss(parts).item()
        3.0
    """
    losses = [v for k, v in parts.items() if k.endswith("_loss")]
    if not losses:
        raise ValueError(f"parts: no key ends in '_loss' (keys: {sorted(parts)}); every term is disabled?")
    return torch.stack([torch.as_tensor(v) for v in losses]).sum()


def resolve_disabled(disabled: Iterable[str], valid: Iterable[str], owner: str) -> frozenset[str]:
    """Validate the names of switched-off terms; unknown names raise ``ValueError`` listing valid ones."""
    disabled = frozenset([disabled] if isinstance(disabled, str) else disabled)
    valid = tuple(valid)
    unknown = sorted(disabled - set(valid))
    if unknown:
        raise ValueError(f"{owner}: disabled names {unknown} are unknown; valid names: {list(valid)}")
    return disabled


def gather_views(z: Tensor) -> Tensor:
    """Gather ``(V, B, ...)`` view embeddings over ranks along the batch dim (a no-op in one process)."""
    return gather_with_grad(z.transpose(0, 1)).transpose(0, 1)


def gather_labels(labels: Tensor) -> Tensor:
    """Gather ``(B,)`` labels over ranks (no gradient)."""
    return gather_no_grad(labels)
