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

**Submodules** (one concept each; every public name is re-exported here, so ``from fervlm.pretrain import X``
works):

- `fervlm.pretrain.config` — ``PretrainConfig`` (everything that determines a prior) and the ``PRESETS``.
- `fervlm.pretrain.cards` — the JSON card next to a prior checkpoint: ``card_path``, ``load_card``.
- `fervlm.pretrain.batches` — what one step sees: ``caption_table``, the epoch's image order and caption
  choice, the flip-and-shift augmentation (all pure functions of the seed).
- `fervlm.pretrain.schedule` — AdamW parameter groups and the warm-up + cosine learning rate.
- `fervlm.pretrain.loop` — ``pretrain`` (the resumable training loop, the card) and ``ensure_prior``
  (build once, reuse).
"""

from __future__ import annotations

# The weights folder and a prior's file name belong to `fervlm.backbones`, which loads priors by name;
# they are re-exported here because `fervlm pretrain` writes what `backbones` reads.
from fervlm.backbones import prior_path, weights_dir
from fervlm.pretrain.batches import caption_table
from fervlm.pretrain.cards import card_path, load_card
from fervlm.pretrain.config import PRESETS, PretrainConfig
from fervlm.pretrain.loop import default_threads, ensure_prior, pretrain

__all__ = [
    "PRESETS",
    "PretrainConfig",
    "caption_table",
    "card_path",
    "default_threads",
    "ensure_prior",
    "load_card",
    "pretrain",
    "prior_path",
    "weights_dir",
]
