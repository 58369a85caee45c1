"""The only place in fervlm that calls ``torch.distributed`` collectives.

Losses that compare samples across the batch (InfoNCE, cross-correlations, pair losses) must see
the *global* batch under DDP (docs/methods.md §1, "Distributed correctness"). They call
:func:`gather_with_grad` for embeddings and :func:`gather_no_grad` for labels; both are no-ops in
a single process, so the same code runs everywhere.

Why the backward pass of :func:`gather_with_grad` *sums* over ranks
-------------------------------------------------------------------
Under DDP every rank gathers the same global batch and therefore computes the same global loss
``L(x_1, ..., x_W)``. Autograd on rank ``r`` only reaches ``x_r`` through rank ``r``'s own copy of
the gathered tensor, so locally it would produce ``dL/dx_r`` from *one* copy of ``L``. DDP then
*averages* parameter gradients over the ``W`` ranks, which would give ``(1/W) dL/dθ`` — the
single-process gradient silently divided by the world size. Summing the gathered gradient over
ranks (all-reduce SUM) gives rank ``r`` the gradient ``W · dL/dx_r`` (every rank's identical loss
contributes once); DDP's ``1/W`` averaging then yields exactly the single-process gradient
``Σ_r dL/dx_r · dx_r/dθ``. This is what open_clip's ``gather_features(..., gather_with_grad=True)``
achieves through ``torch.distributed.nn.all_gather``; we write the ``autograd.Function`` ourselves
so that inputs *and* incoming gradients are made contiguous before the collectives (docs/design.md:
gathers of transposed tensors gave silently wrong gradients on gloo). Never call a raw
``all_reduce`` on a differentiated value elsewhere.

Ranks may hold different batch sizes (e.g. the last, smaller batch of an epoch without
``drop_last``): sizes are exchanged first and the tensors padded to the largest one.
"""

from __future__ import annotations

import socket

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = [
    "broadcast_object",
    "free_port",
    "gather_no_grad",
    "gather_with_grad",
    "is_distributed",
    "rank",
    "world_size",
]


def is_distributed() -> bool:
    """True when ``torch.distributed`` is available, initialised and has more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 when not distributed)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    """Number of processes in the default group (1 when not distributed)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago (for ``init_method='tcp://...'``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _gather_sizes(n: int, device: torch.device) -> list[int]:
    """First-dimension sizes of every rank, in rank order."""
    mine = torch.tensor([n], dtype=torch.int64, device=device)
    sizes = [torch.zeros_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, mine)
    return [int(s.item()) for s in sizes]


def _all_gather_cat(x: Tensor, sizes: list[int]) -> Tensor:
    """all_gather of a contiguous tensor padded to ``max(sizes)``, concatenated in rank order."""
    longest = max(sizes)
    if x.shape[0] < longest:
        pad = x.new_zeros((longest - x.shape[0], *x.shape[1:]))
        x = torch.cat([x, pad], dim=0)
    x = x.contiguous()
    chunks = [torch.empty_like(x) for _ in sizes]
    dist.all_gather(chunks, x)
    return torch.cat([c[:s] for c, s in zip(chunks, sizes, strict=True)], dim=0)


class _GatherWithGrad(torch.autograd.Function):
    """Forward: all_gather along dim 0. Backward: all_reduce SUM of the gradient, keep own slice."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        sizes = _gather_sizes(x.shape[0], x.device)
        ctx.sizes = sizes
        ctx.rank = dist.get_rank()
        return _all_gather_cat(x.contiguous(), sizes)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        # clone(): all_reduce is in place and autograd's incoming buffer must not be mutated;
        # contiguous(): see the module docstring.
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start = sum(ctx.sizes[: ctx.rank])
        return grad[start : start + ctx.sizes[ctx.rank]].contiguous()


def gather_with_grad(x: Tensor) -> Tensor:
    """Concatenate ``x`` over all ranks along dim 0, in rank order, keeping gradients.

    Gradients flow back to each rank's local slice, summed over ranks (see the module docstring
    for why the sum is exactly what DDP's gradient averaging needs). Returns ``x`` unchanged when
    not distributed.

    Args:
        x: tensor ``(n_r, ...)``; ``n_r`` may differ between ranks, trailing dims may not.

    Returns:
        ``(Σ_r n_r, ...)`` tensor.

    Example:
        >>> import torch
        >>> x = torch.ones(2, 3, requires_grad=True)
        >>> gather_with_grad(x) is x   # single process: no-op
        True
    """
    if not is_distributed():
        return x
    return _GatherWithGrad.apply(x)


def gather_no_grad(x: Tensor) -> Tensor:
    """Concatenate ``x`` over all ranks along dim 0 without gradients (labels, indices, ints).

    Example:
        >>> import torch
        >>> gather_no_grad(torch.tensor([1, 2])).tolist()
        [1, 2]
    """
    if not is_distributed():
        return x.detach()
    with torch.no_grad():
        x = x.detach().contiguous()
        return _all_gather_cat(x, _gather_sizes(x.shape[0], x.device))


def broadcast_object(obj: object, src: int = 0) -> object:
    """``src``'s ``obj`` on every rank (any picklable object, e.g. pseudo-labels and their report).

    For results computed once on one rank — the pseudo-labelling round of
    `fervlm.methods.base.FERMethod.recluster` — so that every rank continues with the *same* values
    instead of recomputing them with rank-dependent numerics. Every rank must call it; what the
    other ranks pass is ignored. Returns ``obj`` unchanged when not distributed.

    Example:
        >>> broadcast_object({"labels": [0, 2, 1]})
        {'labels': [0, 2, 1]}
    """
    if not is_distributed():
        return obj
    box = [obj if dist.get_rank() == src else None]
    device = None
    if dist.get_backend() == "nccl":
        # NCCL moves the pickled bytes through the GPU of this rank.
        device = torch.device("cuda", torch.cuda.current_device())
    dist.broadcast_object_list(box, src=src, device=device)
    return box[0]
