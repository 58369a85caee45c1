"""open_clip factory: architecture by name, weights by one rule, frozen text tower by default.

Architectures are data: every JSON file in `fervlm/model_configs/` is registered with
`open_clip.add_model_config` under its file stem (`fervlm-tiny`, `fervlm-quick`, `fervlm-tiny-rn`) the first
time this module is imported, next to open_clip's built-ins (`ViT-B-32`, `RN50`, ...). See
docs/algorithms.md §3.

**The weights rule** (`create_backbone(name, weights=...)`), applied in this order:

1. `None` or `"none"` → random initialisation (explicit; nothing is downloaded or read).
1b. `"facs"` → the project's own FACS-captioned prior of that architecture, `data/weights/facs-<name>.pt`
   (or under ``$FERVLM_WEIGHTS``), built by `fervlm pretrain` (`fervlm.pretrain`); a missing file is a
   `ValueError` that says how to build it.
2. a pretrained tag that open_clip knows *for that architecture* (`open_clip.list_pretrained_tags_by_model`)
   → open_clip loads it, downloading on first use (only possible on a connected machine).
3. the path of an existing local file → loaded into the architecture **strictly**: a state dict that does not
   match raises `ValueError` naming the file (never a silently half-loaded model).
4. anything else → `ValueError` listing the valid tags for the architecture and saying no local file exists.

A model name written `local-dir:/path/to/folder` is open_clip's own schema: config (`open_clip_config.json`)
and weights come from that folder, so `weights` must then be `None`/`"none"`; a folder without weights is an
error.

Freezing (docs/methods.md §1: the text encoder `f_t` is frozen by default): the text tower gets
`requires_grad=False`; `logit_scale` stays trainable (it belongs to neither tower). Optionally the visual
tower is locked except its last `unlocked_visual_groups` groups (open_clip's `lock_image_tower`; ViT only — a
ModifiedResNet tower can only be locked whole).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pickle
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import open_clip
import torch
from torch import nn

from fervlm.utils import atomic_write

CONFIG_DIR = Path(__file__).resolve().parent / "model_configs"
#: Parameter-name prefixes that do not belong to the text tower of a standard open_clip CLIP.
_NON_TEXT_PREFIXES = ("visual.", "logit_scale", "logit_bias")

_registered = False


def register_model_configs() -> list[str]:
    """Register our JSON configs with open_clip (idempotent) and return their names.

    open_clip's registry is process-local, so this runs at import; calling it again is a no-op.
    """
    global _registered
    if not _registered:
        open_clip.add_model_config(CONFIG_DIR)
        _registered = True
    return our_model_names()


def our_model_names() -> list[str]:
    """Names (file stems) of the configs shipped in `fervlm/model_configs/`, sorted."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.json"))


def _is_text_param(name: str) -> bool:
    return not name.startswith(_NON_TEXT_PREFIXES)


class Backbone(nn.Module):
    """An open_clip CLIP model plus its tokenizer and transforms, with the methods fervlm uses.

    Attributes:
        model: the open_clip model (`CLIP` or `CustomTextCLIP`).
        name: architecture name (as given to `create_backbone`).
        weights: the weights argument as resolved (`"none"`, a tag, a file path, or the local-dir).
        tokenizer: open_clip tokenizer (callable: list[str] -> LongTensor (N, context_length)).
        preprocess_train / preprocess_val: open_clip image transforms (PIL image -> tensor).
    """

    def __init__(
        self,
        model: nn.Module,
        name: str,
        weights: str,
        tokenizer: Callable[..., torch.Tensor],
        preprocess_train: Callable[..., Any],
        preprocess_val: Callable[..., Any],
    ) -> None:
        super().__init__()
        self.model = model
        self.name = name
        self.weights = weights
        self.tokenizer = tokenizer
        self.preprocess_train = preprocess_train
        self.preprocess_val = preprocess_val
        # `use_channels_last` stores a ResNet tower channels-last; its input is converted to match.
        self._channels_last = _is_resnet(model.visual)

    @property
    def visual(self) -> nn.Module:
        """The image tower (a target for Grad-CAM)."""
        return self.model.visual

    @property
    def logit_scale(self) -> nn.Parameter:
        """CLIP's learnable log inverse temperature (init log(1/0.07))."""
        return self.model.logit_scale

    @property
    def image_size(self) -> int:
        size = self.model.visual.image_size
        return int(size[0] if isinstance(size, (tuple, list)) else size)

    @property
    def embed_dim(self) -> int:
        return int(self.model_config()["embed_dim"])

    @property
    def context_length(self) -> int:
        return int(self.model.context_length)

    def model_config(self) -> dict[str, Any]:
        """The open_clip config dict of this architecture (from the folder's JSON for `local-dir:` names)."""
        if self.name.startswith("local-dir:"):
            import json

            folder = Path(self.name[len("local-dir:") :])
            return json.loads((folder / "open_clip_config.json").read_text())["model_cfg"]
        return open_clip.get_model_config(self.name)

    def text_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """Named parameters of the text tower (everything but the visual tower and the logit scale/bias)."""
        return [(n, p) for n, p in self.model.named_parameters() if _is_text_param(n)]

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        return self.tokenizer(list(texts))

    def encode_image(self, x: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """(B, 3, H, W) images -> (B, D) embeddings (L2-normalised when `normalize`)."""
        if self._channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.model.encode_image(x, normalize=normalize)

    def encode_text(self, texts: Sequence[str] | torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """A list of prompts or (N, L) token ids -> (N, D) embeddings (L2-normalised when `normalize`)."""
        tokens = texts if isinstance(texts, torch.Tensor) else self.tokenize(texts)
        device = next(self.model.parameters()).device
        return self.model.encode_text(tokens.to(device), normalize=normalize)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode_image(x, normalize=True)

    def num_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.model.parameters() if p.requires_grad or not trainable_only)

    def text_fingerprint(self) -> str:
        """A cheap identity of the text tower's current weights, for caching prompt embeddings.

        Hashes the architecture name and, per text parameter, its name, shape and a few float64 summaries
        (sum, sum of squares, a strided sample). Any training or reloading of the text tower changes it in
        practice; hashing every byte of a ViT-B text tower would cost ~0.5 s per lookup.
        """
        h = hashlib.sha1(self.name.encode())
        with torch.no_grad():
            for n, p in self.text_parameters():
                flat = p.detach().reshape(-1).double().cpu()
                step = max(1, flat.numel() // 64)
                summary = torch.cat([flat.sum()[None], flat.square().sum()[None], flat[::step][:64]])
                h.update(n.encode())
                h.update(str(tuple(p.shape)).encode())
                h.update(summary.numpy().tobytes())
        return h.hexdigest()


def _is_resnet(visual: nn.Module) -> bool:
    from open_clip.modified_resnet import ModifiedResNet

    return isinstance(visual, ModifiedResNet)


def use_channels_last(model: nn.Module) -> None:
    """Store a ResNet image tower channels-last (`Backbone.encode_image` converts its input to match).

    oneDNN's channels-last convolutions are faster on CPU: forward and backward of `fervlm-tiny-rn` on a batch
    of 256 64-px images took 0.29 s instead of 0.42 s on our 2-core machine. A ViT tower is left as it is.
    """
    if _is_resnet(model.visual):
        model.visual.to(memory_format=torch.channels_last)


def _freeze_text(model: nn.Module) -> None:
    if hasattr(model, "lock_text_tower"):
        model.lock_text_tower(unlocked_layers=0, freeze_layer_norm=True)
    else:  # open_clip < 3.1: standard CLIP has no lock_text_tower (docs/algorithms.md §3.4)
        for n, p in model.named_parameters():
            if _is_text_param(n):
                p.requires_grad_(False)
    # logit_scale belongs to neither tower; keep it explicitly trainable.
    model.logit_scale.requires_grad_(True)


def _lock_visual(model: nn.Module, name: str, unlocked_groups: int) -> None:
    if unlocked_groups < 0:
        raise ValueError(f"unlocked_visual_groups must be >= 0, got {unlocked_groups}")
    from open_clip.modified_resnet import ModifiedResNet

    if isinstance(model.visual, ModifiedResNet) and unlocked_groups != 0:
        raise ValueError(
            f"backbone {name!r} has a ModifiedResNet image tower, which open_clip can only lock whole: "
            "unlocked_visual_groups must be 0 (lock everything) or None (train everything), "
            f"got {unlocked_groups}"
        )
    model.lock_image_tower(unlocked_groups=unlocked_groups)


def resolve_weights(name: str, weights: str | os.PathLike[str] | None) -> tuple[str, str | None]:
    """Apply the weights rule (module docstring) without loading anything.

    Returns:
        (kind, value): kind is "none", "tag" or "file"; value the tag or the file path (None for "none").

    Raises:
        ValueError: `weights` is neither a tag of `name` nor an existing file.
    """
    if weights is None or str(weights).strip().lower() == "none":
        return "none", None
    text = str(weights)
    if text.strip().lower() == FACS_PRIOR:
        return "file", str(facs_prior_file(name))
    tags = open_clip.list_pretrained_tags_by_model(name)
    if text in tags:
        return "tag", text
    if Path(text).expanduser().is_file():
        return "file", str(Path(text).expanduser())
    raise ValueError(
        f"weights={text!r} for backbone {name!r} is not a known pretrained tag and no local file exists at "
        f"{str(Path(text).expanduser().resolve())!r}. Valid tags for {name!r}: {tags or '(none)'}; "
        "or pass 'none' for random weights, or the path of a checkpoint file."
    )


def weights_dir() -> Path:
    """Where named priors live: ``$FERVLM_WEIGHTS``, else ``data/weights`` in the project folder
    (`fervlm.project.project_root`: the repository, or the working directory of an installed copy)."""
    from fervlm.project import project_root

    return Path(os.environ.get("FERVLM_WEIGHTS") or project_root() / "data" / "weights")


def prior_path(
    backbone: str = "fervlm-tiny-rn", variant: str = "", directory: str | Path | None = None
) -> Path:
    """The checkpoint file of the FACS prior of `backbone` (``facs-<backbone>[-<variant>].pt``)."""
    folder = Path(directory) if directory is not None else weights_dir()
    return folder / f"facs-{backbone}{'-' + variant if variant else ''}.pt"


FACS_PRIOR = "facs"
"""The weights name of the project's own vision-language prior (`fervlm pretrain`)."""


def facs_prior_file(name: str) -> Path:
    """The checkpoint of the FACS prior of architecture `name`.

    Raises:
        ValueError: it has not been built (the message names the command that builds it).
    """
    path = prior_path(name)
    if not path.is_file():
        raise ValueError(
            f"weights='facs' for backbone {name!r}: the FACS prior {str(path)!r} does not exist. Build it "
            f"once with `fervlm pretrain --backbone {name}` (a few minutes on a CPU; `make demo` does it), "
            "or pass weights=none for a random prior."
        )
    return path


def create_backbone(
    name: str = "fervlm-tiny",
    weights: str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
    freeze_text: bool = True,
    unlocked_visual_groups: int | None = None,
    precision: str = "fp32",
) -> Backbone:
    """Build an open_clip backbone by architecture name and weights (module docstring: the weights rule).

    Args:
        name: an open_clip architecture (`open_clip.list_models()`, which includes ours) or `local-dir:PATH`.
        weights: None/"none", a pretrained tag of `name`, or a local checkpoint file.
        device: torch device.
        freeze_text: freeze the text tower (logit_scale stays trainable). docs/methods.md §1.
        unlocked_visual_groups: None trains the whole image tower; k >= 0 locks all but its last k groups
            (open_clip `lock_image_tower`; for ViT, k=1 leaves only the projection trainable).
        precision: open_clip precision string ("fp32", "bf16", "fp16", "amp", ...).

    Raises:
        ValueError: unknown architecture, bad weights, or a checkpoint that does not match the architecture.
    """
    register_model_configs()
    if name.startswith("local-dir:"):
        if resolve_weights_is_set(weights):
            raise ValueError(
                f"backbone {name!r} takes its weights from the folder; pass weights=None, not {weights!r}"
            )
        folder = Path(name[len("local-dir:") :])
        if not (folder / "open_clip_config.json").is_file():
            raise ValueError(f"backbone {name!r}: {folder / 'open_clip_config.json'} not found")
        try:
            model, pre_train, pre_val = open_clip.create_model_and_transforms(
                name, precision=precision, device=device, pretrained_text=False, weights_only=True
            )
            # create_model_and_transforms does not accept require_pretrained; check ourselves.
            from open_clip.factory import _find_checkpoint_in_dir

            if _find_checkpoint_in_dir(folder) is None:
                raise RuntimeError("no checkpoint (*.safetensors, *.bin, *.pth) in the folder")
        except RuntimeError as err:
            raise ValueError(f"backbone {name!r}: could not load: {err}") from err
        weights_str = name
    else:
        name = name.replace("/", "-")  # open_clip's own normalisation ("ViT-B/32" -> "ViT-B-32")
        known = open_clip.list_models()
        if name not in known:
            raise ValueError(f"unknown backbone architecture {name!r}; known: {known}")
        kind, value = resolve_weights(name, weights)
        # Without a tag open_clip warns that the model is "initialized randomly": wrong when our own file is
        # loaded right below, and no news when random weights were asked for.
        quiet = _RandomInitNotice() if kind != "tag" else contextlib.nullcontext()
        with quiet:
            model, pre_train, pre_val = open_clip.create_model_and_transforms(
                name,
                pretrained=value if kind == "tag" else None,
                precision=precision,
                device=device,
                pretrained_text=False,  # never fetch HF text weights implicitly (no network here)
            )
        if kind == "file":
            load_weights_file(model, value, name)
        weights_str = value if value is not None else "none"

    use_channels_last(model)
    tokenizer = open_clip.get_tokenizer(name)
    if freeze_text:
        _freeze_text(model)
    if unlocked_visual_groups is not None:
        _lock_visual(model, name, unlocked_visual_groups)
    return Backbone(model, name, weights_str, tokenizer, pre_train, pre_val)


class _RandomInitNotice(logging.Filter):
    """Drops open_clip's "No pretrained weights loaded … initialized randomly" while installed on the root
    logger (open_clip logs it with `logging.warning`); every other record passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("No pretrained weights loaded")

    def __enter__(self) -> _RandomInitNotice:
        logging.getLogger().addFilter(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger().removeFilter(self)


def resolve_weights_is_set(weights: object) -> bool:
    """True when `weights` asks for something other than random initialisation."""
    return weights is not None and str(weights).strip().lower() != "none"


def load_weights_file(model: nn.Module, path: str | os.PathLike[str], name: str = "") -> None:
    """Load a checkpoint file into `model` strictly (open_clip `load_checkpoint`, strict=True).

    Raises:
        ValueError: the file does not hold a matching state dict (missing/unexpected keys, shape mismatch) or
            cannot be read; the message names the file.
    """
    try:
        open_clip.load_checkpoint(model, str(path), strict=True, weights_only=True)
    except (RuntimeError, KeyError, ValueError, OSError, EOFError, pickle.UnpicklingError) as err:
        raise ValueError(
            f"checkpoint {str(path)!r} does not match backbone {name!r} (strict loading): {err}"
        ) from err


def save_checkpoint(backbone: Backbone | nn.Module, path: str | os.PathLike[str]) -> Path:
    """Save the model's state dict to `path` atomically; reload with `create_backbone(name, weights=path)`."""
    model = backbone.model if isinstance(backbone, Backbone) else backbone
    path = Path(path)
    # Contiguous copies: a channels-last tower (`use_channels_last`) would otherwise save its strides too.
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    with atomic_write(path) as tmp:
        torch.save(state, tmp)
    return path


register_model_configs()
