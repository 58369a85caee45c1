"""`pretrain`: the prior's training loop (both towers, open_clip's `ClipLoss`), resumable and deterministic,
which writes the checkpoint and its card; `ensure_prior` builds a prior once and reuses it."""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fervlm.backbones import prior_path
from fervlm.pretrain.batches import _augment, _epoch_plan, caption_table
from fervlm.pretrain.cards import card_path, load_card
from fervlm.pretrain.config import PRESETS, PretrainConfig
from fervlm.pretrain.schedule import _lr_at, _optimizer
from fervlm.prior.corpus import PRIOR_NAMESPACE, build_corpus
from fervlm.utils import atomic_write, atomic_write_text


def _resume_path(checkpoint: Path) -> Path:
    return checkpoint.with_suffix(".resume.pt")


def _save_atomic(obj: Any, path: Path) -> None:
    with atomic_write(path) as tmp:
        torch.save(obj, tmp)


def pretrain(
    config: PretrainConfig | None = None,
    checkpoint: str | Path | None = None,
    corpus_dir: str | Path | None = None,
    progress: bool = True,
    resume: bool = True,
    workers: int | None = None,
    checkpoint_every: int = 50,
    stop_after_steps: int | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Build the corpus (or reuse it) and train the prior; write the checkpoint and its card.

    Args:
        config: what to train (default `PRESETS["default"]`).
        checkpoint: output file (default `prior_path(config.backbone)`: ``data/weights/facs-<backbone>.pt``).
        corpus_dir: where the corpus is rendered (default ``<checkpoint folder>/corpus-<checkpoint stem>``).
        progress: tqdm bars (corpus, steps with the running loss).
        resume: continue from the resume file of an interrupted run with the same config.
        workers: corpus render processes (None = `default_threads()`: the corpus of the default prior renders
            in 22 s with 2 processes instead of 46 s with one, on our 2-core machine).
        checkpoint_every: steps between resume files (and one at every epoch end).
        stop_after_steps: stop (leaving the resume file) after this many steps in total: an interruption,
            for tests and for splitting a long run.
        threads: torch CPU threads (None = `default_threads()`: 1 on a machine already busier than its
            cores, where OpenMP threads waiting on each other made a step 5-8x slower in our measurement).

    Returns:
        The card (also written as JSON next to the checkpoint). An interrupted run returns
        ``{"finished": False, "step": ...}`` and writes no checkpoint.
    """
    import open_clip
    from open_clip.loss import ClipLoss
    from tqdm.auto import tqdm

    from fervlm.backbones import register_model_configs, save_checkpoint, use_channels_last
    from fervlm.data import normalization_of

    config = config or PRESETS["default"]
    checkpoint = Path(checkpoint) if checkpoint is not None else prior_path(config.backbone)
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    if corpus_dir is None:
        corpus_dir = checkpoint.parent / f"corpus-{checkpoint.stem}"
    corpus_dir = Path(corpus_dir)
    t0 = time.perf_counter()
    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")

    corpus = build_corpus(
        config.corpus, corpus_dir, workers=int(workers or default_threads()), progress=progress
    )
    t_corpus = time.perf_counter() - t0

    register_model_configs()
    torch.set_num_threads(int(threads or default_threads()))
    torch.manual_seed(config.seed)
    model, _, preprocess = open_clip.create_model_and_transforms(config.backbone, pretrained=None)
    use_channels_last(model)  # faster convolutions on CPU (see its docstring)
    model.train()
    tokenizer = open_clip.get_tokenizer(config.backbone)
    texts, tokens = caption_table(corpus, config.captions, config.captions_per_face, config.seed, tokenizer)
    mean, std = normalization_of(preprocess)
    mean_t = torch.tensor(mean).view(1, 3, 1, 1)
    std_t = torch.tensor(std).view(1, 3, 1, 1)
    size = int(
        model.visual.image_size[0]
        if isinstance(model.visual.image_size, (tuple, list))
        else model.visual.image_size
    )

    N, V = len(corpus), corpus.config.n_views
    steps_per_epoch = (N * V) // config.batch_size
    if steps_per_epoch < 1:
        raise ValueError(
            f"pretrain: the corpus has {N * V} images, fewer than batch_size={config.batch_size}"
        )
    total = steps_per_epoch * config.epochs
    optimizer = _optimizer(model, config)
    loss_fn = ClipLoss()
    history: list[dict[str, float]] = []
    step = 0
    resume_file = _resume_path(checkpoint)
    if resume and resume_file.is_file():
        state = torch.load(resume_file, map_location="cpu", weights_only=False)
        if state.get("config") == config.to_dict():
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            step, history = int(state["step"]), list(state["history"])
            if progress:
                print(f"pretrain: resuming {checkpoint.name} at step {step}/{total}")

    def save_resume() -> None:
        _save_atomic(
            {
                "config": config.to_dict(),
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "step": step,
                "history": history,
            },
            resume_file,
        )

    t_train0 = time.perf_counter()
    bar = tqdm(total=total, initial=step, desc="pretrain", unit="step", disable=not progress)
    interrupted = False
    while step < total:
        epoch, b = divmod(step, steps_per_epoch)
        order, choice = _epoch_plan(N, V, config.captions_per_face, config.seed, epoch)
        idx = np.sort(order[b * config.batch_size : (b + 1) * config.batch_size])  # sorted: memmap reads
        face, view = idx // V, idx % V
        images = torch.from_numpy(np.ascontiguousarray(corpus.images[face, view]))  # (B, H, W, 3) uint8
        x = images.permute(0, 3, 1, 2).float().div_(255.0)
        if x.shape[-1] != size:
            x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True)
        if config.augment:
            key = np.random.SeedSequence([config.seed, epoch, b]).generate_state(1)[0]
            gen = torch.Generator().manual_seed(int(key))
            x = _augment(x, gen, config.shift)
        x = ((x - mean_t) / std_t).contiguous(memory_format=torch.channels_last)
        text = tokens[torch.from_numpy(face), torch.from_numpy(choice[idx])]
        for group in optimizer.param_groups:
            group["lr"] = _lr_at(step, total, config)
        image_features = model.encode_image(x, normalize=True)
        text_features = model.encode_text(text, normalize=True)
        loss = loss_fn(image_features, text_features, model.logit_scale.exp())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():  # CLIP clips the temperature at 100 to keep training stable
            model.logit_scale.clamp_(0, math.log(100))
        step += 1
        history.append(
            {
                "step": step,
                "epoch": epoch,
                "loss": float(loss.detach()),
                "lr": optimizer.param_groups[0]["lr"],
                "logit_scale": float(model.logit_scale.detach().exp()),
            }
        )
        bar.update()
        bar.set_postfix(loss=f"{history[-1]['loss']:.3f}", epoch=epoch)
        if step % checkpoint_every == 0 or step % steps_per_epoch == 0:
            save_resume()
        if stop_after_steps is not None and step >= stop_after_steps and step < total:
            save_resume()
            interrupted = True
            break
    bar.close()
    if interrupted:
        return {"finished": False, "step": step, "total_steps": total}

    from fervlm.project import git_hash

    model.eval()
    save_checkpoint(model, checkpoint)
    t_train = time.perf_counter() - t_train0
    per_epoch = [
        float(np.mean([h["loss"] for h in history if h["epoch"] == e])) for e in range(config.epochs)
    ]
    card = {
        "name": "facs",
        "finished": True,
        "file": checkpoint.name,
        "backbone": config.backbone,
        "config": config.to_dict(),
        "corpus": {
            "folder": str(corpus_dir),
            "seed": config.corpus.seed,
            "namespace": f"SeedSequence(seed, spawn_key=({PRIOR_NAMESPACE:#x}, identity))",
            "identities": [
                config.corpus.first_identity,
                config.corpus.first_identity + config.corpus.identities,
            ],
            "faces": N,
            "images": N * V,
            "captions": N * config.captions_per_face,
            "seconds": round(corpus.seconds, 2),
            "example_captions": texts[0][:3] + texts[1][:2],
        },
        "steps": total,
        "steps_per_epoch": steps_per_epoch,
        "epochs": config.epochs,
        "loss_first": history[0]["loss"],
        "loss_last": history[-1]["loss"],
        "epoch_losses": per_epoch,
        "history": history,
        "git": git_hash(),
        "seconds_total": round(time.perf_counter() - t0, 2),
        "seconds_corpus_step": round(t_corpus, 2),
        "seconds_train": round(t_train, 2),
        "torch_threads": torch.get_num_threads(),
        "load_average_start": round(load_start, 2),
        "load_average_end": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "open_clip": open_clip.__version__,
    }
    atomic_write_text(card_path(checkpoint), json.dumps(card, indent=1))
    resume_file.unlink(missing_ok=True)
    return card


def default_threads() -> int:
    """CPU threads for training: all cores, or 1 when the load average already exceeds the core count."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return 1 if load > cpus else cpus


def ensure_prior(
    config: PretrainConfig | None = None,
    checkpoint: str | Path | None = None,
    progress: bool = True,
    workers: int | None = None,
    corpus_dir: str | Path | None = None,
) -> dict[str, Any]:
    """The card of the prior at `checkpoint` (default `prior_path(config.backbone)`), training it first when
    it is missing or was trained with a different config (a finished prior is built once and reused).
    `corpus_dir` lets two priors share one rendered corpus (`pretrain`)."""
    config = config or PRESETS["default"]
    checkpoint = Path(checkpoint) if checkpoint is not None else prior_path(config.backbone)
    if checkpoint.is_file() and card_path(checkpoint).is_file():
        card = load_card(checkpoint)
        if card.get("config") == config.to_dict():
            return card
    return pretrain(config, checkpoint, corpus_dir=corpus_dir, progress=progress, workers=workers)
