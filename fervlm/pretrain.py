"""`fervlm pretrain`: the project's own vision-language prior, trained the way CLIP was (both towers, the
symmetric contrastive loss) on FACS-captioned synthetic faces.

Why: every method of this compendium rests on a *pretrained* language-image prior — CLIP relates face images
to words before any fine-tuning, which is what makes prompts, zero-shot prediction and pseudo-label naming
mean something (docs/methods.md §1). No CLIP weights can be had offline, so we make one from data we can
generate (`fervlm.prior.corpus`, captions from `fervlm.prior.captions`): a tiny open_clip model
(`fervlm-tiny-rn`, `fervlm/model_configs/`) trained with open_clip's own `ClipLoss`,

    L = ½ [ CE(s · I Tᵀ, diag) + CE(s · T Iᵀ, diag) ],   s = exp(logit_scale) ≤ 100,

(Radford et al., "Learning Transferable Visual Models From Natural Language Supervision", ICML 2021, Fig. 3),
with AdamW, linear warm-up and a cosine learning-rate decay.

Properties (tested in `tests/test_pretrain.py`):

* **deterministic** for a seed: batch order, caption choice and augmentation are pure functions of
  (seed, epoch, batch index), so a run interrupted at any step and resumed ends with the same weights;
* **resumable**: a resume file (model, optimiser, step, history) is written atomically every
  `checkpoint_every` steps next to the checkpoint and removed when the run finishes;
* **bounded memory**: the corpus images are a memory map; a batch is read, augmented and dropped;
* the result is a state dict `data/weights/facs-<backbone>.pt` that the weights rule of
  `fervlm.backbones` loads by the name ``facs``, and a JSON card next to it (corpus seed and size, steps,
  losses, git hash, times, machine load).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

# The weights folder and a prior's file name belong to `fervlm.backbones`, which loads priors by name;
# they are re-exported here because `fervlm pretrain` writes what `backbones` reads.
from fervlm.backbones import prior_path, weights_dir
from fervlm.prior.captions import CaptionStyle, captions
from fervlm.prior.corpus import PRIOR_NAMESPACE, Corpus, CorpusConfig, build_corpus
from fervlm.utils import atomic_write, atomic_write_text

__all__ = [
    "PRESETS",
    "PretrainConfig",
    "caption_table",
    "card_path",
    "ensure_prior",
    "load_card",
    "pretrain",
    "prior_path",
    "weights_dir",
]

_CAPTION_STREAM = 0xCA9  # keeps caption draws apart from every other stream of the same seed


@dataclass(frozen=True)
class PretrainConfig:
    """Everything that determines a prior (its card records it; the same config gives the same weights).

    Attributes:
        backbone: open_clip architecture (both towers are trained).
        corpus: the corpus to render (`fervlm.prior.corpus.CorpusConfig`).
        captions: how captions are written (`fervlm.prior.captions.CaptionStyle`).
        captions_per_face: captions written per face; one is drawn per image and epoch.
        epochs, batch_size, lr, weight_decay, warmup_steps: the optimisation (AdamW, cosine decay).
        augment: random horizontal flip and ±`shift` pixel translation per image.
        seed: seed of weights, batch order, caption choice and augmentation.
    """

    backbone: str = "fervlm-tiny-rn"
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    captions: CaptionStyle = field(default_factory=CaptionStyle)
    captions_per_face: int = 6
    epochs: int = 6
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 0.1
    warmup_steps: int = 40
    augment: bool = True
    shift: int = 4
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("captions_per_face", "epochs"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"pretrain {name}={getattr(self, name)}: must be >= 1")
        if self.batch_size < 2:
            raise ValueError(f"pretrain batch_size={self.batch_size}: the contrastive loss needs >= 2")
        if not self.lr > 0 or self.weight_decay < 0 or self.warmup_steps < 0 or self.shift < 0:
            raise ValueError("pretrain: lr must be > 0; weight_decay, warmup_steps, shift >= 0")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["corpus"] = self.corpus.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PretrainConfig:
        d = dict(d)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"pretrain: unknown key(s) {unknown}; valid: {sorted(known)}")
        if isinstance(d.get("corpus"), dict):
            d["corpus"] = CorpusConfig.from_dict(d["corpus"])
        if isinstance(d.get("captions"), dict):
            d["captions"] = CaptionStyle(**d["captions"])
        return cls(**d)

    def replace(self, **changes: Any) -> PretrainConfig:
        """A copy with top-level fields, or ``corpus_<field>`` / ``captions_<field>`` changed."""
        own = {f.name for f in dataclasses.fields(self)}
        top, corpus, style = {}, {}, {}
        for key, value in changes.items():
            if key in own:
                top[key] = value
            elif key.startswith("corpus_"):
                corpus[key[len("corpus_") :]] = value
            elif key.startswith("captions_"):
                style[key[len("captions_") :]] = value
            else:
                raise ValueError(f"pretrain: unknown setting {key!r}")
        return dataclasses.replace(
            self,
            corpus=dataclasses.replace(self.corpus, **corpus),
            captions=dataclasses.replace(self.captions, **style),
            **top,
        )


#: Named sizes. ``default`` fits the 6-minute budget on 2 cores (the card records the measured time);
#: ``smoke`` takes seconds (tests, notebook smoke runs).
PRESETS: dict[str, PretrainConfig] = {
    "default": PretrainConfig(),
    "smoke": PretrainConfig(
        corpus=CorpusConfig(identities=8, faces_per_identity=12, size=32, resolution=2000),
        epochs=3,
        batch_size=48,
        lr=2e-3,
        warmup_steps=2,
        captions_per_face=3,
    ),
}


# --------------------------------------------------------------------------------------------- paths


def card_path(checkpoint: str | Path) -> Path:
    """The JSON card next to a prior checkpoint."""
    return Path(checkpoint).with_suffix(".json")


def load_card(checkpoint: str | Path) -> dict[str, Any]:
    """The card of a prior checkpoint.

    Raises:
        FileNotFoundError: no card next to the checkpoint.
    """
    path = card_path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"prior card {path} does not exist; build the prior with `fervlm pretrain`")
    return json.loads(path.read_text())


# ------------------------------------------------------------------------------------------ captions


def caption_table(
    corpus: Corpus, style: CaptionStyle, per_face: int, seed: int, tokenizer: Any
) -> tuple[list[list[str]], torch.Tensor]:
    """Write `per_face` captions of every face and tokenize them once.

    Returns:
        (texts [N][K], tokens (N, K, context) long; empty when `tokenizer` is None).
    """
    texts = []
    for i, act in enumerate(corpus.activations):
        rng = np.random.default_rng([seed, _CAPTION_STREAM, i])
        texts.append(captions(act, rng, per_face, style))
    if tokenizer is None:  # captions only (figures)
        return texts, torch.zeros(0, dtype=torch.long)
    flat = [t for row in texts for t in row]
    tokens = tokenizer(flat)
    return texts, tokens.reshape(len(texts), per_face, -1)


# ------------------------------------------------------------------------------------------ training


def _epoch_plan(
    n_faces: int, n_views: int, per_face: int, seed: int, epoch: int
) -> tuple[np.ndarray, np.ndarray]:
    """(order of the N·V (face, view) images, caption index of each) for one epoch."""
    rng = np.random.default_rng([seed, epoch, 0x0E])
    order = rng.permutation(n_faces * n_views)
    choice = rng.integers(per_face, size=n_faces * n_views)
    return order, choice


def _augment(x: torch.Tensor, gen: torch.Generator, shift: int) -> torch.Tensor:
    """Random horizontal flip and ±`shift` px translation per image (replicate padding), (B, 3, H, W)."""
    B, _, H, W = x.shape
    flip = torch.rand(B, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    if shift > 0:
        padded = torch.nn.functional.pad(x, (shift, shift, shift, shift), mode="replicate")
        dx = torch.randint(0, 2 * shift + 1, (B,), generator=gen)
        dy = torch.randint(0, 2 * shift + 1, (B,), generator=gen)
        rows = (dy[:, None] + torch.arange(H)[None, :])[:, None, :, None].expand(B, 3, H, W + 2 * shift)
        x = padded.gather(2, rows)
        cols = (dx[:, None] + torch.arange(W)[None, :])[:, None, None, :].expand(B, 3, H, W)
        x = x.gather(3, cols)
    return x


def _lr_at(step: int, total: int, config: PretrainConfig) -> float:
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, total - config.warmup_steps)
    return config.lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def _optimizer(model: torch.nn.Module, config: PretrainConfig) -> torch.optim.Optimizer:
    # CLIP practice: no weight decay on gains, biases, embeddings' scale or the temperature.
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "logit_scale" in name or "bn" in name or "ln" in name else decay).append(p)
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr,
        betas=(0.9, 0.98),
        eps=1e-6,
    )


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
    workers: int = 1,
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
        workers: corpus render processes.
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

    from fervlm.backbones import register_model_configs, save_checkpoint
    from fervlm.data import normalization_of

    config = config or PRESETS["default"]
    checkpoint = Path(checkpoint) if checkpoint is not None else prior_path(config.backbone)
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    if corpus_dir is None:
        corpus_dir = checkpoint.parent / f"corpus-{checkpoint.stem}"
    corpus_dir = Path(corpus_dir)
    t0 = time.perf_counter()
    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")

    corpus = build_corpus(config.corpus, corpus_dir, workers=workers, progress=progress)
    t_corpus = time.perf_counter() - t0

    register_model_configs()
    torch.set_num_threads(int(threads or default_threads()))
    torch.manual_seed(config.seed)
    model, _, preprocess = open_clip.create_model_and_transforms(config.backbone, pretrained=None)
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
        x = (x - mean_t) / std_t
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
    workers: int = 1,
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
