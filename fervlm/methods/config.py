"""The flat training configuration shared by `fervlm train`, `fervlm cv`, the notebooks and the tests.

One dataclass, validated *before any work starts*: unknown keys are errors that list the valid
keys (docs/design.md: "unknown names are errors"), and bad values (an unknown method, a batch too small
for batch-wide losses, a prompt source a method cannot use, ...) raise ``ValueError`` naming the
parameter. Views are checked against the table in :func:`check_views_in_table` once the table is
known.

Field defaults are the papers' loss weights with small-machine trainer settings. A profile overrides them
(``fervlm train --profile``, :func:`profile_training`): ``quick`` (synthetic data, a tiny backbone, 2-core
CPU) and ``paper`` (real data, pretrained ViT-B/16 on a GPU, lr 1e-4 as in the papers). Their values, and
the reasons for them, are written once, in ``fervlm/resources/profiles/<profile>.yaml``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from fervlm.method_names import METHOD_NAMES, TRAINED_METHODS

__all__ = [
    "METHOD_NAMES",
    "PROFILE_TRAIN_KEYS",
    "TrainConfig",
    "check_views_in_table",
    "load_config",
    "parse_set",
    "profile_training",
]

#: Loss-term names each method's loss accepts in ``disabled_losses`` (ablations).
LOSS_TERMS = {
    "affectvlm": ("align", "mc", "mt"),
    "multiviewvlm": ("con", "mv", "pos", "neg"),
    "smilevlm": ("bt", "align", "red"),
    "zeroshot": (),
    "linearprobe": (),
    "pixels": (),
    "ceiling": (),
}

#: The profile keys that are `TrainConfig` fields with the same meaning, so a profile's value applies to
#: training (its `image_size` and `views` are the *rendered* views, not the model's input).
PROFILE_TRAIN_KEYS = ("backbone", "weights", "batch_size", "lr", "num_workers")


def profile_training(profile: str | Path, method: str = "affectvlm") -> dict[str, Any]:
    """The `TrainConfig` values a profile (`fervlm/resources/profiles/<name>.yaml`, or a profile file) sets
    for one method: its `PROFILE_TRAIN_KEYS`, then its ``training`` values, then its
    ``method_training[method]``, then its ``epochs`` and ``lr`` unless 0 (0 = the method's value from the two
    before).

    The profiles' YAML files are the one source of these values (and of the reasons for them, written next to
    them); ``weights: none`` means random towers (None).
    """
    from fervlm.profiles import load_profile

    prof = load_profile(profile)
    given = [*prof.training, *(k for per_method in prof.method_training.values() for k in per_method)]
    unknown = sorted(set(given) - set(TrainConfig.valid_keys()))
    if unknown:
        raise ValueError(
            f"profile {prof.name!r}: training key(s) {unknown} are not TrainConfig fields; "
            f"valid: {TrainConfig.valid_keys()}"
        )
    values: dict[str, Any] = {key: getattr(prof, key) for key in PROFILE_TRAIN_KEYS if key != "lr"}
    if str(values["weights"]).strip().lower() in ("none", ""):
        values["weights"] = None
    values.update(prof.training)
    values.update(prof.method_training.get(method, {}))
    # `epochs` and `lr` of 0 mean "each method's value from `training` / `method_training`".
    if prof.epochs:
        values["epochs"] = prof.epochs
    if prof.lr:
        values["lr"] = prof.lr
    return values


@dataclass
class TrainConfig:
    """Everything a training run needs, flat (one ``--set key=value`` per field).

    Attributes:
        method: one of ``affectvlm, multiviewvlm, smilevlm, zeroshot, linearprobe, pixels, ceiling``
            (``ceiling``: the cross-entropy ceiling of the tower, `fervlm.methods.ceiling`, a diagnostic).
        backbone, weights: `fervlm.backbones.create_backbone` name and weights (None = random).
        unlocked_visual_groups: None trains the whole image tower; k locks all but its last k groups.
        views: view names (``left``/``front``/``right``) or yaws; ``("front",)`` is the single-view variant.
        image_size: None = the backbone's own input size.
        prompt_bank: bank name or YAML path; None picks the shipped bank that defines the labels.
        prompt_source: ``"label"`` (the papers' protocol) or ``"pseudo"`` (strictly label-free,
            docs/methods.md §1); AffectVLM is supervised and accepts only ``"label"``.
        prompt_metadata: metadata-augmented prompts (AffectVLM); None = on for AffectVLM only.
        augment: ``"mixed"`` (AffectVLM mixed-view), ``"same"`` or ``"none"``.
        epochs, batch_size (global, over all processes), lr, weight_decay, schedule (``cosine``/``constant``).
        seed: seed of everything (weights, shuffling, augmentation, prompt draws, k-means).
        folds, fold_seed: k of the subject-independent k-fold and its seed.
        val_fraction: share of training subjects held out for validation curves (0 = none).
        lambda_*: loss weights; margin_init (AffectVLM α); tau_p (MultiviewVLM);
            alpha/beta/gamma/lambd (SMILE-VLM).
        margin_mode: AffectVLM's margin α, ``"learnable"`` (the paper: ``α = sigmoid(a)``, ``a``
            trained with the image tower) or ``"fixed"`` (α stays at ``margin_init``; an ablation).
        con_targets: positives of MultiviewVLM's InfoNCE ``L_con`` (eq. 1–3): ``"label"`` (the
            paper: negatives are prompts of a *different* emotion, so samples of the same prompt
            class are positives) or ``"sample"`` (only a sample's own prompt is positive; the other
            samples' prompts are negatives even when they are the same text).
        align_targets: positives of SMILE-VLM's alignment ``L_vl-align`` (eq. 6): ``"pair"`` (the
            paper's one-to-one InfoNCE: a sample's own prompt is its positive) or ``"class"``
            (every sample whose prompt has the same class is a positive).
        disabled_losses: loss-term names switched off (ablations), see ``LOSS_TERMS``.
        pseudo_init: round-0 pseudo-labels, ``"zeroshot"`` or ``"kmeans"``; recluster_every (epochs);
            kmeans_n_init (restarts).
        pseudo_naming: how the k-means clusters of the pseudo-labelling rounds are named, both label-free
            (docs/methods.md §3): ``"anchor"`` (default) by a Hungarian assignment maximising the overlap with
            the zero-shot labels of the frozen prior (computed in round 0, before any training step);
            ``"prototypes"`` by a Hungarian match of cluster centroids to the text prototypes (MultiviewVLM
            §II-F read literally; its names drift as the image tower moves away from the frozen text tower:
            0.86 → 0.46-0.50 naming accuracy on synthetic data).
        probe_c: inverse regularisation of the linear probe (scikit-learn ``C``).
        pixels_size, pixels_pca, pixels_c: the ``pixels`` baseline (`fervlm.methods.pixels`): side length
            of the grey-scale views, number of PCA components, inverse regularisation of its classifier.
        accelerator, devices, strategy, num_nodes, precision: Lightning trainer settings;
            ``devices > 1`` or ``num_nodes > 1`` means DDP (``strategy`` ``"ddp"`` or ``"ddp_spawn"``).
        num_workers: loader workers (None = min(2, CPUs)).
        deterministic: deterministic algorithms (CPU: exact; GPU: warn only).
        progress_bar: show Lightning's progress bar.
        limit_train_batches: Lightning's limit (1.0 = the whole epoch); for smoke runs.
        classes: restrict/fix the class list (cross-dataset); None = the labels of the table.
    """

    method: str = "affectvlm"
    backbone: str = "fervlm-quick"
    weights: str | None = None
    unlocked_visual_groups: int | None = None
    views: tuple[str, ...] = ("left", "front", "right")
    image_size: int | None = None
    prompt_bank: str | None = None
    prompt_source: str = "label"
    prompt_metadata: bool | None = None
    augment: str = "mixed"
    epochs: int = 8
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.05
    schedule: str = "cosine"
    seed: int = 0
    folds: int = 10
    fold_seed: int = 0
    val_fraction: float = 0.0
    # AffectVLM
    lambda_align: float = 1.0
    lambda_mc: float = 1.0
    lambda_mt: float = 1.0
    margin_init: float = 0.2
    margin_mode: str = "learnable"
    # MultiviewVLM
    lambda_mv: float = 1.0
    lambda_pn: float = 1.0
    tau_p: float = 0.1
    con_targets: str = "label"
    pseudo_init: str = "kmeans"
    pseudo_naming: str = "anchor"
    recluster_every: int = 2
    kmeans_n_init: int = 4
    # SMILE-VLM
    alpha: float = 1.0
    beta: float = 1.0
    gamma: float = 1.0
    lambd: float = 0.0051
    align_targets: str = "pair"
    disabled_losses: tuple[str, ...] = ()
    # Linear probe
    probe_c: float = 1.0
    # Pixel baseline (fervlm.methods.pixels)
    pixels_size: int = 32
    pixels_pca: int = 60
    pixels_c: float = 0.1
    # Trainer
    accelerator: str = "auto"
    devices: int | str = 1
    strategy: str = "auto"
    num_nodes: int = 1
    precision: str = "32-true"
    num_workers: int | None = None
    deterministic: bool = True
    progress_bar: bool = False
    limit_train_batches: float | int = 1.0
    classes: tuple[str, ...] | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def valid_keys(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None = None, **overrides: Any) -> TrainConfig:
        """Build and validate; unknown keys raise ``ValueError`` listing the valid ones."""
        merged = {**dict(values or {}), **overrides}
        valid = cls.valid_keys()
        unknown = sorted(k for k in merged if k not in valid)
        if unknown:
            raise ValueError(f"unknown configuration key(s) {unknown}; valid keys: {valid}")
        for key in ("views", "disabled_losses", "classes"):
            value = merged.get(key)
            if isinstance(value, str):
                merged[key] = tuple(v.strip() for v in value.split(",") if v.strip())
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                merged[key] = (str(value),)  # `--set views=0` (YAML reads a number): one yaw
            elif value is not None and key in merged and not isinstance(value, (list, tuple)):
                raise ValueError(f"config {key}={value!r}: expected a list or a comma-separated text")
            elif value is not None and key in merged:
                merged[key] = tuple(str(v) for v in value)
        for f in fields(cls):
            if f.name in merged:
                merged[f.name] = _coerce(f.name, str(f.type), merged[f.name])
        config = cls(**merged)
        config.validate()
        return config

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    def replace(self, **changes: Any) -> TrainConfig:
        return TrainConfig.from_dict(self.to_dict(), **changes)

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Check every value; raise ``ValueError`` naming the parameter and the problem."""

        def bad(name: str, problem: str) -> ValueError:
            return ValueError(f"config {name}={getattr(self, name)!r}: {problem}")

        if self.method not in METHOD_NAMES:
            raise bad("method", f"unknown method; choose one of {list(METHOD_NAMES)}")
        if self.prompt_source not in ("label", "pseudo"):
            raise bad("prompt_source", "must be 'label' or 'pseudo'")
        if self.method == "affectvlm" and self.prompt_source != "label":
            raise bad("prompt_source", "AffectVLM is supervised; its prompts come from the labels ('label')")
        if self.method == "ceiling" and self.prompt_source != "label":
            raise bad("prompt_source", "the cross-entropy ceiling is supervised: 'label' only")
        if self.augment not in ("mixed", "same", "none"):
            raise bad("augment", "must be 'mixed', 'same' or 'none'")
        if self.schedule not in ("cosine", "constant"):
            raise bad("schedule", "must be 'cosine' or 'constant'")
        if self.pseudo_init not in ("kmeans", "zeroshot"):
            raise bad("pseudo_init", "must be 'kmeans' or 'zeroshot'")
        if self.pseudo_naming not in ("anchor", "prototypes"):
            raise bad("pseudo_naming", "must be 'anchor' or 'prototypes'")
        if self.margin_mode not in ("learnable", "fixed"):
            raise bad("margin_mode", "must be 'learnable' (the paper) or 'fixed'")
        if self.con_targets not in ("label", "sample"):
            raise bad("con_targets", "must be 'label' (the paper) or 'sample'")
        if self.align_targets not in ("pair", "class"):
            raise bad("align_targets", "must be 'pair' (the paper) or 'class'")
        if not self.views:
            raise bad("views", "at least one view is needed")
        if len(set(self.views)) != len(self.views):
            raise bad("views", "a view is listed twice")
        ints_min = {
            "epochs": 1,
            "batch_size": 1,
            "folds": 2,
            "recluster_every": 1,
            "kmeans_n_init": 1,
            "num_nodes": 1,
            "pixels_size": 4,
            "pixels_pca": 1,
        }
        for name, low in ints_min.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise bad(name, f"must be an integer >= {low}")
        if self.method in TRAINED_METHODS and self.batch_size < 2:
            raise bad("batch_size", f"{self.method} uses batch-wide losses (negatives): need >= 2")
        if self.image_size is not None and (not isinstance(self.image_size, int) or self.image_size < 16):
            raise bad("image_size", "must be None (the backbone's size) or an integer >= 16")
        for name in ("lr", "tau_p", "probe_c", "pixels_c"):
            if not float(getattr(self, name)) > 0:
                raise bad(name, "must be > 0")
        for name in (
            "weight_decay",
            "lambda_align",
            "lambda_mc",
            "lambda_mt",
            "lambda_mv",
            "lambda_pn",
            "alpha",
            "beta",
            "gamma",
            "lambd",
        ):
            if float(getattr(self, name)) < 0:
                raise bad(name, "must be >= 0")
        if not 0.0 < float(self.margin_init) < 1.0:
            raise bad("margin_init", "the learnable margin is sigmoid-parameterised: must be in (0, 1)")
        if not 0.0 <= float(self.val_fraction) < 1.0:
            raise bad("val_fraction", "must be in [0, 1)")
        valid_terms = LOSS_TERMS[self.method]
        unknown = sorted(set(self.disabled_losses) - set(valid_terms))
        if unknown:
            raise bad(
                "disabled_losses", f"unknown term(s) {unknown} for {self.method}; valid: {list(valid_terms)}"
            )
        if valid_terms and set(valid_terms) <= set(self.disabled_losses):
            raise bad("disabled_losses", "every loss term is disabled; nothing would be trained")
        if self.accelerator not in ("auto", "cpu", "gpu", "cuda"):
            raise bad("accelerator", "must be 'auto', 'cpu', 'gpu' or 'cuda'")
        if self.strategy not in ("auto", "ddp", "ddp_spawn"):
            raise bad("strategy", "must be 'auto', 'ddp' or 'ddp_spawn'")
        if not (self.devices == "auto" or (isinstance(self.devices, int) and self.devices >= 1)):
            raise bad("devices", "must be 'auto' or an integer >= 1")
        if self.unlocked_visual_groups is not None and self.unlocked_visual_groups < 0:
            raise bad("unlocked_visual_groups", "must be None or >= 0")
        if self.num_workers is not None and self.num_workers < 0:
            raise bad("num_workers", "must be None or >= 0")

    @property
    def uses_metadata_prompts(self) -> bool:
        return self.method == "affectvlm" if self.prompt_metadata is None else bool(self.prompt_metadata)

    @property
    def world_size(self) -> int:
        devices = self.devices if isinstance(self.devices, int) else 1
        return devices * self.num_nodes


def _coerce(name: str, annotation: str, value: Any) -> Any:
    """Text given for a numeric or optional field becomes a number / None (YAML reads ``3e-3`` as text)."""
    if not isinstance(value, str):
        return value
    if "None" in annotation and value.strip().lower() in ("none", "null", "~"):
        return None
    kinds = [k for k in annotation.replace(" ", "").split("|") if k in ("int", "float")]
    for kind in sorted(kinds, key=lambda k: k != "int"):  # "2" stays an int for `float | int`
        try:
            return int(value) if kind == "int" else float(value)
        except ValueError:
            continue
    if kinds and "str" not in annotation:
        raise ValueError(f"config {name}={value!r}: expected a number")
    return value


def check_views_in_table(config: TrainConfig, table: Any, where: str = "index") -> None:
    """Raise ``ValueError`` when a configured view has no image column in ``table``."""
    from fervlm.data import resolve_view_columns

    try:
        resolve_view_columns(table, config.views)
    except ValueError as err:
        raise ValueError(f"config views={list(config.views)} and {where}: {err}") from None


def parse_set(items: Sequence[str]) -> dict[str, Any]:
    """``["lr=1e-3", "views=front", "weights=null"]`` → typed dict (values parsed as YAML scalars/lists)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--set {item!r}: expected key=value")
        key, value = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


def load_config(
    path: str | Path | None = None, sets: Sequence[str] = (), profile: str | None = None, **overrides: Any
) -> TrainConfig:
    """A validated config: a profile (``quick``/``paper`` or a profile file, :func:`profile_training`), then a
    YAML file, ``--set`` items, overrides."""
    import yaml

    from fervlm.profiles import profile_path

    if profile is not None:
        try:
            profile_path(profile)
        except (ValueError, FileNotFoundError) as err:
            raise ValueError(f"profile={profile!r}: {err}") from None
    loaded: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} does not exist")
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
            problem = getattr(exc, "problem", None) or type(exc).__name__
            raise ValueError(f"config file {path}: not valid YAML{where}: {problem}") from None
        if not isinstance(loaded, dict):
            raise ValueError(f"config file {path}: expected a mapping of key: value")
    given = {**loaded, **parse_set(sets), **{k: v for k, v in overrides.items() if v is not None}}
    method = given.get("method", TrainConfig.method)
    values: dict[str, Any] = profile_training(profile, method) if profile else {}
    values.update(given)
    return TrainConfig.from_dict(values)
