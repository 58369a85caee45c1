"""fervlm.distributed and DDP exactness of the losses, with a REAL 2-process gloo run on CPU.

One spawned run (process start-up is slow) computes every case on each rank's half of a fixed
batch and writes losses and gradients to ``tmp_path``; the parent compares them with the same
computation on the concatenated batch in one process:

* the loss on every rank equals the single-process loss;
* gradients w.r.t. a rank's local inputs, divided by the world size (DDP's averaging), equal the
  matching slice of the single-process gradient;
* parameter gradients averaged over ranks (what DDP does) equal the single-process ones, and a
  tiny ``DistributedDataParallel`` linear model gets exactly the single-process gradient.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import Tensor

from fervlm.distributed import (
    broadcast_object,
    free_port,
    gather_no_grad,
    gather_with_grad,
    is_distributed,
    rank,
    world_size,
)
from fervlm.losses import (
    AffectVLMLoss,
    MultiviewVLMLoss,
    SmileVLMLoss,
    ViewAwareFusion,
    cross_modal_redundancy,
    info_nce,
    multiview_barlow_twins,
    negative_pair_loss,
    positive_pair_loss,
    total_loss,
)

WORLD = 2
V, N, D, D_IN = 3, 8, 6, 5
# Tensors whose batch dimension is not dim 0.
BATCH_DIM = {"aT": 1, "za": 1, "zb": 1, "zv": 1, "tv": 1}
EVEN = [(0, 4), (4, 8)]
UNEVEN = [(0, 3), (3, 8)]  # ranks with different batch sizes (last batch without drop_last)
UNEVEN_CASES = ("info_nce_uneven",)


def _global_data() -> dict[str, Tensor]:
    g = torch.Generator().manual_seed(0)

    def randn(*shape: int) -> Tensor:
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    za = randn(V, N, D)
    return {
        "a": F.normalize(randn(N, D), dim=-1),
        "b": F.normalize(randn(N, D), dim=-1),
        "aT": randn(D, N),  # used transposed: a non-contiguous (N, D) input
        "labels": torch.tensor([0, 1, 1, 2, 0, 2, 1, 0]),
        "za": za,
        "zb": za + 0.7 * randn(V, N, D),
        "zv": F.normalize(randn(V, N, D), dim=-1),
        "tv": F.normalize(randn(V, N, D), dim=-1),
        "t": F.normalize(randn(N, D), dim=-1),
        "x": randn(N, D_IN),
    }


def _slice(data: dict[str, Tensor], lo: int, hi: int) -> dict[str, Tensor]:
    out = {}
    for name, value in data.items():
        dim = BATCH_DIM.get(name, 0)
        out[name] = value.narrow(dim, lo, hi - lo).clone()
    return out


def _cases() -> dict[str, Callable[[dict[str, Tensor]], tuple[Tensor, dict[str, Tensor]]]]:
    """name -> fn(local leaves) -> (loss, {name: tensor whose gradient to record})."""
    G = gather_with_grad

    def views(z: Tensor) -> Tensor:  # (V, n, D) -> (V, N, D): gathers a transposed, non-contiguous view
        return G(z.transpose(0, 1)).transpose(0, 1)

    def labels(d: dict[str, Tensor]) -> Tensor:
        return gather_no_grad(d["labels"])

    def params(prefix: str, module: torch.nn.Module) -> dict[str, Tensor]:
        return {f"param:{prefix}.{n}": p for n, p in module.named_parameters()}

    def affect(d: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        loss = AffectVLMLoss().double()
        parts = loss(z=d["zv"], t=d["tv"], labels=d["labels"], logit_scale=12.0)
        return total_loss(parts), {"zv": d["zv"], "tv": d["tv"], **params("affect", loss)}

    def multiview(d: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        parts = MultiviewVLMLoss()(z=d["zv"], t=d["t"], labels=d["labels"], logit_scale=12.0)
        return total_loss(parts), {"zv": d["zv"], "t": d["t"]}

    def smile(d: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        torch.manual_seed(1)  # same fusion weights on every rank and in the parent
        fusion = ViewAwareFusion(D).double()
        fused, _ = fusion(F.normalize(d["za"], dim=-1))
        parts = SmileVLMLoss()(
            z_a=d["za"], z_b=d["zb"], z_fused=fused, t=d["t"], logit_scale=12.0, prompt_labels=d["labels"]
        )
        return total_loss(parts), {"za": d["za"], "zb": d["zb"], "t": d["t"], **params("fusion", fusion)}

    return {
        "info_nce": lambda d: (info_nce(G(d["a"]), G(d["b"]), 10.0), {"a": d["a"], "b": d["b"]}),
        "info_nce_labels": lambda d: (
            info_nce(G(d["a"]), G(d["b"]), 10.0, labels(d)),
            {"a": d["a"], "b": d["b"]},
        ),
        "info_nce_noncontiguous": lambda d: (
            info_nce(G(F.normalize(d["aT"].t(), dim=1)), G(d["b"]), 10.0),
            {"aT": d["aT"], "b": d["b"]},
        ),
        "info_nce_uneven": lambda d: (info_nce(G(d["a"]), G(d["b"]), 10.0), {"a": d["a"], "b": d["b"]}),
        "barlow": lambda d: (
            multiview_barlow_twins(views(d["za"]), views(d["zb"])),
            {"za": d["za"], "zb": d["zb"]},
        ),
        "redundancy": lambda d: (
            cross_modal_redundancy(G(d["za"][0]), G(d["t"])),
            {"za": d["za"], "t": d["t"]},
        ),
        "positive_pairs": lambda d: (positive_pair_loss(views(d["zv"])), {"zv": d["zv"]}),
        "negative_pairs": lambda d: (negative_pair_loss(views(d["zv"]), labels(d)), {"zv": d["zv"]}),
        "affectvlm_total": affect,
        "multiviewvlm_total": multiview,
        "smilevlm_total": smile,
    }


def _run_cases(data: dict[str, Tensor], names: list[str]) -> dict[str, dict[str, Tensor]]:
    results = {}
    for name in names:
        leaves = {
            k: (v.clone().requires_grad_(True) if v.is_floating_point() else v) for k, v in data.items()
        }
        loss, wrt = _cases()[name](leaves)
        grads = torch.autograd.grad(loss, list(wrt.values()))
        results[name] = {"loss": loss.detach(), **{k: g.detach() for k, g in zip(wrt, grads, strict=True)}}
    return results


def _ddp_linear(data: dict[str, Tensor], ddp: bool) -> dict[str, Tensor]:
    """A tiny linear image tower (under DistributedDataParallel when ``ddp``) trained with InfoNCE."""
    torch.manual_seed(2)
    model = torch.nn.Linear(D_IN, D).double()
    if ddp:
        model = torch.nn.parallel.DistributedDataParallel(model)
    emb = F.normalize(model(data["x"]), dim=-1)
    loss = info_nce(gather_with_grad(emb), gather_with_grad(data["t"]), 10.0)
    loss.backward()
    inner = model.module if ddp else model
    return {"loss": loss.detach(), **{n: p.grad.detach().clone() for n, p in inner.named_parameters()}}


def _worker(r: int, port: int, out_dir: str) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=r, world_size=WORLD)
    try:
        info = {"rank": rank(), "world_size": world_size(), "is_distributed": is_distributed()}
        data = _global_data()
        even = [n for n in _cases() if n not in UNEVEN_CASES]
        results = _run_cases(_slice(data, *EVEN[r]), even)
        results.update(_run_cases(_slice(data, *UNEVEN[r]), list(UNEVEN_CASES)))
        results["ddp_linear"] = _ddp_linear(_slice(data, *EVEN[r]), ddp=True)
        gathered = gather_no_grad(torch.tensor([10 * r, 10 * r + 1]))
        torch.save({"info": info, "results": results, "gathered": gathered}, Path(out_dir) / f"rank{r}.pt")
    finally:
        dist.destroy_process_group()


def test_single_process_helpers_are_no_ops() -> None:
    assert not is_distributed() and rank() == 0 and world_size() == 1
    x = torch.randn(3, 2, requires_grad=True)
    assert gather_with_grad(x) is x
    assert torch.equal(gather_no_grad(x), x.detach()) and not gather_no_grad(x).requires_grad
    port = free_port()
    assert 0 < port < 65536
    payload = {"labels": torch.tensor([2, 0, 1])}
    assert broadcast_object(payload) is payload


@pytest.mark.ddp
def test_losses_and_gradients_under_two_process_gloo_equal_single_process(tmp_path: Path) -> None:
    mp.spawn(_worker, args=(free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD)]
    for r, out in enumerate(ranks):
        assert out["info"] == {"rank": r, "world_size": WORLD, "is_distributed": True}
        assert out["gathered"].tolist() == [0, 1, 10, 11]

    data = _global_data()
    names = list(_cases())
    full = _run_cases(data, names)
    atol = 1e-6
    for name in names:
        splits = UNEVEN if name in UNEVEN_CASES else EVEN
        for key, expected in full[name].items():
            per_rank = [out["results"][name][key] for out in ranks]
            if key == "loss":
                for got in per_rank:
                    assert torch.allclose(got, expected, atol=atol), (name, got.item(), expected.item())
            elif key.startswith("param:"):
                # DDP averages parameter gradients over ranks.
                assert torch.allclose(torch.stack(per_rank).mean(0), expected, atol=atol), (name, key)
            else:
                dim = BATCH_DIM.get(key, 0)
                for (lo, hi), got in zip(splits, per_rank, strict=True):
                    want = expected.narrow(dim, lo, hi - lo)
                    assert got.shape == want.shape, (name, key)
                    assert torch.allclose(got / WORLD, want, atol=atol), (
                        name,
                        key,
                        (got / WORLD - want).abs().max(),
                    )

    single = _ddp_linear(data, ddp=False)
    for out in ranks:
        for key, expected in single.items():
            assert torch.allclose(out["results"]["ddp_linear"][key], expected, atol=atol), key


# ------------------------------------------------------------------------------------------------
# Pseudo-labels under DDP: one clustering (rank 0), broadcast to every rank.

# Prototype naming: with a random tower the anchored naming's zero-shot anchor is one class for all samples,
# and its tie-broken names would hide the rank-dependent clustering this test needs to see.
PSEUDO_CONFIG = dict(
    method="multiviewvlm",
    prompt_source="pseudo",
    backbone="fervlm-tiny",
    batch_size=8,
    pseudo_naming="prototypes",
)


def _pseudo_method(index: str, perturb: int | None):
    """The method every rank builds (same seed), optionally with rank-dependent weight noise."""
    from fervlm.data import FERDataModule, load_table
    from fervlm.methods import build_method

    table, root = load_table(index)
    torch.manual_seed(0)
    method = build_method(PSEUDO_CONFIG, table)
    if perturb is not None:
        # Stands in for rank-dependent numerics (unsynchronised BatchNorm statistics on CPU processes,
        # reduction order): enough to change a k-means assignment computed on this rank.
        g = torch.Generator().manual_seed(perturb)
        with torch.no_grad():
            for p in method.backbone.visual.parameters():
                p.add_(0.5 * p.std().nan_to_num(1.0) * torch.randn(p.shape, generator=g))
    rows = torch.arange(len(table)).numpy()
    dm = FERDataModule(
        table, root, rows[:18], rows[18:], method.classes, image_size=64, num_workers=0, val_rows=rows[18:21]
    )
    dm.setup()
    return method, dm


def _pseudo_worker(r: int, port: int, out_dir: str, index: str) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=r, world_size=WORLD)
    try:
        method, dm = _pseudo_method(index, perturb=None if r == 0 else 100 + r)
        report = method.recluster(dm.plain_dataloader("train"), dm.plain_dataloader("val"))
        out = {"labels": method.pseudo_labels.clone(), "report": report}
        torch.save(out, Path(out_dir) / f"pseudo{r}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.ddp
def test_pseudo_labels_are_clustered_once_and_identical_on_every_rank(tmp_path: Path) -> None:
    from fervlm.benchmarks.toy import make_toy_table

    index = str(make_toy_table(tmp_path / "toy", n_subjects=4, size=16))
    mp.spawn(_pseudo_worker, args=(free_port(), str(tmp_path), index), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"pseudo{r}.pt") for r in range(WORLD)]
    assert torch.equal(ranks[0]["labels"], ranks[1]["labels"])
    assert ranks[0]["report"] == ranks[1]["report"]
    assert (ranks[0]["labels"][:21] >= 0).all() and (ranks[0]["labels"][21:] == -1).all()  # train + val rows
    # The broadcast assignment is rank 0's clustering; rank 1's own would have differed.
    single = {}
    for name, perturb in (("rank0", None), ("rank1", 101)):
        method, dm = _pseudo_method(index, perturb)
        method.recluster(dm.plain_dataloader("train"), dm.plain_dataloader("val"))
        single[name] = method.pseudo_labels
    assert torch.equal(ranks[0]["labels"], single["rank0"])
    assert not torch.equal(single["rank1"], single["rank0"])
