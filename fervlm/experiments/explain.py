"""Notebook 07's experiment (`notebooks/07_explainability.ipynb`): its config, one trained fold per tower.

`train_fold` trains (or resumes, or reads back) an AffectVLM fold with `fervlm.train.fit_fold` and returns the
trained method; `load_trained_method` loads a finished fold back from its checkpoint. What is explained and
scored is `fervlm.explain.fold`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fervlm.datasets.registry import dataset_spec
from fervlm.profiles import quick_default

if TYPE_CHECKING:
    from fervlm.methods.base import FERMethod
    from fervlm.methods.config import TrainConfig


@dataclass
class ExplainConfig:
    """The validated parameters of notebook 07 (see its `parameters` cell for their meaning)."""

    profile: str = "quick"
    dataset: str = "synthetic_bu3dfe"
    dataset_root: str = "data/synthetic/bu3dfe"
    vit_backbone: str = "fervlm-quick"
    resnet_backbone: str = "fervlm-tiny-rn"
    weights: str = field(default_factory=quick_default("weights"))
    image_size: int = field(default_factory=quick_default("image_size"))
    views: list[int] = field(default_factory=quick_default("views"))
    epochs: int = field(default_factory=quick_default("epochs"))
    batch_size: int = field(default_factory=quick_default("batch_size"))
    lr: float = field(default_factory=quick_default("lr"))
    k_folds: int = field(default_factory=quick_default("k_folds"))
    run_folds: list[int] | str = field(default_factory=quick_default("run_folds"))
    accelerator: str = field(default_factory=quick_default("accelerator"))
    devices: int = field(default_factory=quick_default("devices"))
    num_workers: int = field(default_factory=quick_default("num_workers"))
    synthetic_subjects: int = field(default_factory=quick_default("synthetic_subjects"))
    n_show: int = 3
    cam: str = "hirescam"
    resnet_stage: str = "auto"
    tolerance_px: float = 0.0
    seed: int = field(default_factory=quick_default("seed"))
    output_dir: str = "outputs/quick/07_explainability"

    def __post_init__(self) -> None:
        if not dataset_spec(self.dataset).is_synthetic:
            raise ValueError(
                f"dataset={self.dataset!r}: the pointing game needs the AU masks that only the synthetic "
                "datasets carry; use a synthetic_* dataset"
            )
        if self.image_size < 16:
            raise ValueError(f"image_size={self.image_size}: too small to show a face (min 16)")
        if not self.views:
            raise ValueError("views: give at least one yaw angle")
        if self.k_folds < 2:
            raise ValueError(f"k_folds={self.k_folds}: need at least 2 folds")
        if isinstance(self.run_folds, str) and self.run_folds != "all":
            raise ValueError(f"run_folds={self.run_folds!r}: a list of fold numbers or 'all'")
        if isinstance(self.run_folds, list) and not self.run_folds:
            raise ValueError("run_folds: give at least one fold")
        if not 0 <= self.fold < self.k_folds:
            raise ValueError(f"run_folds={self.run_folds}: fold {self.fold} outside 0..{self.k_folds - 1}")
        if self.n_show < 1:
            raise ValueError(f"n_show={self.n_show}: show at least one sample")
        from fervlm.explain.gradcam import CAM_METHODS
        from fervlm.explain.layers import RESNET_STAGES

        if self.cam not in CAM_METHODS:
            raise ValueError(f"cam={self.cam!r}: choose one of {sorted(CAM_METHODS)}")
        if self.resnet_stage not in (*RESNET_STAGES, "auto"):
            raise ValueError(f"resnet_stage={self.resnet_stage!r}: choose one of {[*RESNET_STAGES, 'auto']}")
        if self.tolerance_px < 0:
            raise ValueError(f"tolerance_px={self.tolerance_px}: must be >= 0")

    @property
    def fold(self) -> int:
        """The fold that is trained and explained: the first of `run_folds` ("all" means fold 0)."""
        return 0 if isinstance(self.run_folds, str) else int(self.run_folds[0])

    @property
    def backbones(self) -> dict[str, str]:
        """Tower kind → backbone name, e.g. ``{"vit": "fervlm-quick", "resnet": "fervlm-tiny-rn"}``."""
        return {"vit": self.vit_backbone, "resnet": self.resnet_backbone}

    def tower_weights(self, backbone: str) -> str:
        """The weights the tower `backbone` starts from.

        One rule for every tower: `weights` applies as given (``none``, an open_clip pretrained tag, a
        checkpoint file; a tag or file that does not fit the architecture is an error when the tower is
        built), except the FACS prior. ``facs`` is not a name but a file that `fervlm pretrain` builds *per
        architecture* (`fervlm.pretrain.prior_path`); a tower whose architecture has no prior built starts
        from random weights (``none``). The quick profile's sweep builds the prior of its `backbone`, the
        ResNet tower, only: tiny ViTs do not learn from scratch within a CPU budget (docs/methods.md §2), so
        in that profile the ViT tower is the random-weights comparison. `towers` shows what each tower gets.
        """
        if str(self.weights).strip().lower() == "facs":
            from fervlm.pretrain import prior_path

            return self.weights if prior_path(backbone).is_file() else "none"
        return self.weights

    @property
    def towers(self) -> dict[str, str]:
        """Tower kind → ``"<backbone> (weights <w>)"``, the weights after `tower_weights`' rule."""
        return {kind: f"{name} (weights {self.tower_weights(name)})" for kind, name in self.backbones.items()}

    def train_config(self, backbone: str) -> TrainConfig:
        """AffectVLM's quick-profile training config for one backbone, at the backbone's own input size.

        The views are rendered at `image_size` and resized to the tower's `image_size` by the data loader
        (`image_size=None` in the config): a ModifiedResNet's attention pool only accepts its own size.
        """
        from fervlm.methods.config import load_config

        return load_config(
            profile="quick",
            method="affectvlm",
            backbone=backbone,
            weights=self.tower_weights(backbone),
            views=tuple(str(v) for v in self.views),
            batch_size=self.batch_size,
            folds=self.k_folds,
            seed=self.seed,
            accelerator=self.accelerator,
            devices=self.devices,
            num_workers=self.num_workers,
            **({"epochs": self.epochs} if self.epochs else {}),  # 0: the profile's default
            **({"lr": self.lr} if self.lr else {}),  # 0: the profile's rate for AffectVLM
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# Loading a trained fold back


def load_trained_method(fold_dir: str | Path) -> FERMethod:
    """The method a `fit_fold` run trained, with its final weights (``fold_dir/last.ckpt``), in eval mode.

    A thin view on `fervlm.inference.load_predictor`, which rebuilds the method from ``config.json`` and loads
    the checkpoint strictly, with the class prototypes recomputed from the loaded text tower.
    """
    from fervlm.inference import load_predictor

    return load_predictor(fold_dir).method


def _keep_method_callback() -> Any:
    """A Lightning callback that keeps the module it trained (saves rebuilding it from the checkpoint)."""
    from pytorch_lightning import Callback

    class KeepMethod(Callback):
        method: Any = None

        def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
            self.method = pl_module

    return KeepMethod()


def train_fold(
    cfg: ExplainConfig, backbone: str, index_csv: str | Path, run_dir: str | Path
) -> tuple[dict[str, Any], FERMethod]:
    """Train (or resume, or read back) one AffectVLM fold with `fervlm.train.fit_fold`; return its metrics
    and the trained method, loaded from ``last.ckpt`` when the fold had already finished."""
    from fervlm.train import fit_fold, fold_dir

    keep = _keep_method_callback()
    metrics = fit_fold(cfg.train_config(backbone), index_csv, cfg.fold, run_dir, callbacks=[keep])
    method = keep.method
    if method is None:  # the fold was finished before: rebuild it from its checkpoint
        method = load_trained_method(fold_dir(run_dir, cfg.fold))
    return metrics, method.to("cpu").eval()
