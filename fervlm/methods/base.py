"""The LightningModule shared by every method: embedding, prompts, pseudo-labels, prediction, logging.

Subclasses implement :meth:`FERMethod.compute_loss` (the method's loss parts for one batch) and, when
they fuse views or project embeddings differently, :meth:`FERMethod.embed_views` /
:meth:`FERMethod.fuse`. Everything else is here, once:

* **Prediction** for every method (docs/methods.md §1): ``ŷ = argmax_c sim(z_fused, p_c)`` against the
  class prototypes ``p_c`` of the frozen text tower (:meth:`predict_step` returns predictions,
  scores and the fused embeddings).
* **Prompt source** (docs/methods.md §1): a sample's prompt class is its label (``"label"``) or its
  current pseudo-label (``"pseudo"``). Pseudo-labels (MultiviewVLM §II-F) are re-assigned at the
  start of every ``recluster_every``-th epoch from the view-aggregated embeddings of all training
  samples *without augmentation*: round 0 by ``pseudo_init`` (zero-shot or k-means) on the frozen prior,
  later rounds by k-means; k-means clusters are named by a Hungarian match to the frozen prior's zero-shot
  labels (``pseudo_naming="anchor"``) or of centroids to prototypes (``"prototypes"``). Validation rows take
  the class of their nearest named centroid; under DDP rank 0 clusters and broadcasts. The accuracy
  of each round against the true labels is recorded **for reporting only** and never used in training.
* **Per-epoch history** (loss parts, accuracy, learning rate, pseudo-label accuracy) kept in the
  module and its checkpoints, so a resumed run still writes complete loss curves.
* A non-finite loss part stops training with a ``FloatingPointError`` naming the part and step.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor

from fervlm.distributed import gather_no_grad
from fervlm.evaluate import prototype_predict
from fervlm.losses import total_loss
from fervlm.methods.config import TrainConfig
from fervlm.methods.prompting import PromptTable
from fervlm.pseudo import aggregate_views
from fervlm.utils import atomic_write_text

__all__ = ["FERMethod"]


class FERMethod(pl.LightningModule):
    """Base class of all methods.

    Args:
        config: the run's validated :class:`~fervlm.methods.config.TrainConfig`.
        backbone: a `fervlm.backbones.Backbone` (open_clip CLIP with a frozen text tower).
        classes: class names, in label-id order.
        prompt_table: precomputed prompt embeddings and per-(sample, class) choices.
        prototypes: ``(C, D)`` class prototypes ``p_c`` (docs/methods.md §1).
        n_samples: rows of the index table (size of the pseudo-label buffer).
    """

    #: False for baselines that are not trained by gradient descent.
    trainable: bool = True

    def __init__(
        self,
        config: TrainConfig,
        backbone: torch.nn.Module,
        classes: list[str],
        prompt_table: PromptTable,
        prototypes: Tensor,
        n_samples: int,
    ) -> None:
        super().__init__()
        self.config = config
        self.classes = list(classes)
        self.save_hyperparameters({"config": config.to_dict(), "classes": self.classes})
        self.backbone = backbone
        self.prompt_table = prompt_table
        self.register_buffer("prototypes", F.normalize(prototypes.float(), dim=-1), persistent=False)
        # -1 = not assigned yet. Persistent: a resumed run continues with the pseudo-labels it had.
        self.register_buffer("pseudo_labels", torch.full((n_samples,), -1, dtype=torch.long))
        # Zero-shot labels of the frozen prior (computed in round 0), which k-means clusters are named against
        # (``pseudo_naming="anchor"``, docs/methods.md §3). Persistent for resumed runs.
        self.register_buffer("pseudo_anchor", torch.full((n_samples,), -1, dtype=torch.long))
        self.history: list[dict[str, Any]] = []
        self.pseudo_rounds: list[dict[str, Any]] = []
        self.run_dir: Path | None = None  # set by fervlm.train: where history.csv goes
        self._sums: dict[str, float] = defaultdict(float)
        self._counts: dict[str, int] = defaultdict(int)

    # ------------------------------------------------------------------ embeddings
    @property
    def uses_pseudo_labels(self) -> bool:
        return self.config.prompt_source == "pseudo"

    def logit_scale(self) -> Tensor:
        """CLIP's multiplicative logit scale ``exp(t)``, clamped at 100 (docs/methods.md §1)."""
        return self.backbone.logit_scale.exp().clamp(max=100.0)

    def encode_views(self, images: Tensor) -> Tensor:
        """``(B, V, 3, H, W)`` → ``(V, B, D)`` raw image-tower outputs (one encoder shared by all views)."""
        B, V = images.shape[:2]
        z = self.backbone.encode_image(images.flatten(0, 1), normalize=False)
        return z.view(B, V, -1).transpose(0, 1)

    def embed_views(self, images: Tensor) -> Tensor:
        """``(B, V, 3, H, W)`` → ``(V, B, D)`` L2-normalised view embeddings ``z'``."""
        return F.normalize(self.encode_views(images), dim=-1)

    def fuse(self, z: Tensor) -> Tensor:
        """``(V, B, D)`` → ``(B, D)`` fused embedding ``normalize(mean_v z'_v)`` (AffectVLM, MultiviewVLM).

        The same function (`fervlm.pseudo.aggregate_views`) aggregates views for pseudo-labelling.
        """
        return aggregate_views(z)

    @torch.no_grad()
    def embed(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Evaluation embeddings: (fused ``(B, D)``, views ``(V, B, D)``)."""
        z = self.embed_views(images)
        return self.fuse(z), z

    # ------------------------------------------------------------------ prompts and classes
    def class_of(self, batch: dict[str, Any]) -> Tensor:
        """The class each sample's prompt is drawn from: its label or its current pseudo-label."""
        if self.uses_pseudo_labels:
            cls = self.pseudo_labels[batch["index"].to(self.pseudo_labels.device)]
            if (cls < 0).any():
                raise RuntimeError("pseudo-labels are not assigned for some samples of this batch")
            return cls.to(batch["label"].device)
        if (batch["label"] < 0).any():
            raise ValueError("a training sample's label is not among the configured classes")
        return batch["label"]

    def prompt_key(self) -> int:
        """Key of this epoch's prompt draws (validation uses a fixed key so curves are comparable)."""
        return int(self.current_epoch) if self.training else -1

    # ------------------------------------------------------------------ the step
    def compute_loss(self, batch: dict[str, Any]) -> tuple[dict[str, Tensor], Tensor]:
        """The method's loss parts (``*_loss`` keys weighted) and the batch's fused embeddings."""
        raise TypeError(f"{type(self).__name__} is not trained by gradient descent")

    def _check_finite(self, parts: dict[str, Tensor], mode: str) -> None:
        for name, value in parts.items():
            if not torch.isfinite(value).all():
                raise FloatingPointError(
                    f"{type(self).__name__}: loss part {name!r} is {value.item()} at {mode} step "
                    f"{self.global_step} (epoch {self.current_epoch}); "
                    f"lower lr={self.config.lr} or check the data"
                )

    def _step(self, batch: dict[str, Any], mode: str) -> Tensor:
        """Loss parts → total, accuracy of the fused embedding against the prototypes, logging."""
        parts, fused = self.compute_loss(batch)
        self._check_finite(parts, mode)
        loss = total_loss(parts)
        self._check_finite({"total_loss": loss}, mode)
        with torch.no_grad():
            pred, _ = self.scores(fused.detach())  # the method's own classifier (prototypes or a head)
            # Accuracy over the global batch, so every rank logs the same number.
            correct = gather_no_grad((pred == batch["label"]).float())
        n = int(correct.numel())
        values = {**{k: v.detach() for k, v in parts.items()}, "loss": loss.detach(), "acc": correct.mean()}
        for key, value in values.items():
            self._sums[f"{mode}_{key}"] += float(value) * n
            self._counts[f"{mode}_{key}"] += n
        self.log_dict(
            {f"{mode}_{k}": v for k, v in values.items()},
            on_step=False,
            on_epoch=True,
            batch_size=n,
            prog_bar=False,
        )
        return loss

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        return self._step(batch, "val")

    def predict_step(self, batch: dict[str, Any], batch_idx: int = 0) -> dict[str, Tensor]:
        """Prototype prediction (docs/methods.md §1): ``pred`` (B,), ``scores`` (B, C), ``embeddings``
        (B, D)."""
        fused, _ = self.embed(batch["images"])
        pred, scores = self.scores(fused)
        return {"pred": pred, "scores": scores, "embeddings": fused}

    def scores(self, fused: Tensor) -> tuple[Tensor, Tensor]:
        """``(pred, scores)`` of fused embeddings (overridden by the linear probe)."""
        return prototype_predict(fused, self.prototypes)

    # ------------------------------------------------------------------ optimisation
    def configure_optimizers(self) -> Any:
        """AdamW; no weight decay on gains, biases and scalars (CLIP practice); optional cosine decay."""
        decay, no_decay = [], []
        for _, p in self.named_parameters():
            if p.requires_grad:
                (decay if p.ndim >= 2 else no_decay).append(p)
        groups = [{"params": decay, "weight_decay": self.config.weight_decay}]
        if no_decay:
            groups.append({"params": no_decay, "weight_decay": 0.0})
        optimizer = torch.optim.AdamW(groups, lr=self.config.lr)
        if self.config.schedule == "constant":
            return optimizer
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, self.config.epochs))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}

    # ------------------------------------------------------------------ pseudo-labels
    @torch.no_grad()
    def embed_loader(self, loader: Any) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Embed every sample of a loader: (views ``(V, N, D)``, fused ``(N, D)``, labels, table rows)."""
        was_training = self.training
        self.eval()
        views, fused, labels, rows = [], [], [], []
        try:
            for batch in loader:
                f, z = self.embed(batch["images"].to(self.device))
                views.append(z.cpu())
                fused.append(f.cpu())
                labels.append(batch["label"])
                rows.append(batch["index"])
        finally:
            self.train(was_training)
        return torch.cat(views, dim=1), torch.cat(fused), torch.cat(labels), torch.cat(rows)

    def recluster(self, loader: Any, val_loader: Any = None) -> dict[str, Any]:
        """One pseudo-labelling round on the (non-augmented) training samples of ``loader``.

        MultiviewVLM §II-F / docs/methods.md §3. Samples of ``val_loader`` (a validation split) are not
        clustered; they get the class of their nearest named centroid of this round
        (`fervlm.pseudo.label_like_round`), so validation losses use prompts chosen without labels.
        Under DDP the round runs once, on rank 0, and its assignment is broadcast
        (`fervlm.distributed.broadcast_object`): every rank trains on one assignment, whatever
        rank-dependent numerics (unsynchronised BatchNorm statistics on CPU, reduction order) would
        have made of separate clusterings. Returns the round's report (true labels used for
        reporting only).
        """
        from fervlm.distributed import broadcast_object, rank

        payload = self._pseudo_round(loader, val_loader) if rank() == 0 else None
        rows, assigned, report, anchor = broadcast_object(payload)
        self.pseudo_labels[rows.to(self.pseudo_labels.device)] = assigned.to(self.pseudo_labels.device)
        if anchor is not None:  # round 0: the frozen prior's zero-shot labels, which name every round
            anchor_rows, anchor_labels = anchor
            device = self.pseudo_anchor.device
            self.pseudo_anchor[anchor_rows.to(device)] = anchor_labels.to(device)
        self.pseudo_rounds.append(report)
        return report

    def _pseudo_round(
        self, loader: Any, val_loader: Any = None
    ) -> tuple[Tensor, Tensor, dict[str, Any], tuple[Tensor, Tensor] | None]:
        """Embed, cluster and name (rank 0): (table rows, their pseudo-labels, the round's report, and in
        round 0 of ``pseudo_naming="anchor"`` the (rows, zero-shot labels) that anchor the naming)."""
        from fervlm.pseudo import (
            aggregate_views,
            assign_pseudo_labels,
            label_like_round,
            pseudo_label_report,
            zero_shot_labels,
        )

        views, _, labels, rows = self.embed_loader(loader)
        first = not self.pseudo_rounds
        init = self.config.pseudo_init if first else "kmeans"
        anchor, new_anchor = None, None
        if self.config.pseudo_naming == "anchor":
            if first:  # the frozen prior's zero-shot labels, before any training step
                anchor = zero_shot_labels(aggregate_views(views), self.prototypes.cpu())
                new_anchor = (rows.cpu(), anchor.cpu())
            else:
                anchor = self.pseudo_anchor.cpu()[rows.cpu()]
                if (anchor < 0).any():  # resumed from a checkpoint written before the anchor existed
                    anchor = None
        pseudo = assign_pseudo_labels(
            views,
            self.prototypes.cpu(),
            init=init,
            seed=self.config.seed + len(self.pseudo_rounds),
            n_init=self.config.kmeans_n_init,
            anchor=anchor,
        )
        report = pseudo_label_report(pseudo, labels)
        report = {"round": len(self.pseudo_rounds), "epoch": int(self.current_epoch), **report}
        assigned = pseudo.labels.cpu()
        if val_loader is not None:
            val_views, _, val_labels, val_rows = self.embed_loader(val_loader)
            val_assigned = label_like_round(val_views, pseudo, self.prototypes.cpu()).cpu()
            report["val_accuracy"] = float((val_assigned == val_labels).float().mean())
            rows, assigned = torch.cat([rows, val_rows]), torch.cat([assigned, val_assigned])
        return rows.cpu(), assigned, report, new_anchor

    def on_train_epoch_start(self) -> None:
        # The learning rate this epoch trains with (epoch-interval schedulers step before epoch end).
        optimizers = self.trainer.optimizers if self.trainer is not None else []
        self._epoch_lr = float(optimizers[0].param_groups[0]["lr"]) if optimizers else math.nan
        if not self.uses_pseudo_labels:
            return
        unassigned = not self.pseudo_rounds
        if unassigned or self.current_epoch % self.config.recluster_every == 0:
            if self.pseudo_rounds and self.pseudo_rounds[-1]["epoch"] == self.current_epoch:
                return  # already done for this epoch (resumed right after it)
            datamodule = getattr(self.trainer, "datamodule", None)
            if datamodule is None or not hasattr(datamodule, "plain_dataloader"):
                raise RuntimeError("prompt_source='pseudo' needs a FERDataModule (for re-clustering)")
            has_val = getattr(datamodule, "val_rows", None) is not None
            self.recluster(
                datamodule.plain_dataloader("train"), datamodule.plain_dataloader("val") if has_val else None
            )

    # ------------------------------------------------------------------ history
    def epoch_scalars(self) -> dict[str, float]:
        """Learned scalars recorded in ``history.csv`` at the end of every epoch (e.g. AffectVLM's α)."""
        return {}

    def on_train_epoch_end(self) -> None:
        row: dict[str, Any] = {"epoch": int(self.current_epoch), "step": int(self.global_step)}
        for key in sorted(self._sums):
            row[key] = self._sums[key] / max(1, self._counts[key])
        row["lr"] = getattr(self, "_epoch_lr", math.nan)
        row.update(self.epoch_scalars())
        if self.pseudo_rounds and self.pseudo_rounds[-1]["epoch"] == self.current_epoch:
            row["pseudo_acc"] = float(self.pseudo_rounds[-1]["accuracy"])
            self.log("pseudo_acc", row["pseudo_acc"], on_epoch=True, sync_dist=False)
        self.history.append(row)
        self._sums.clear()
        self._counts.clear()
        if self.run_dir is not None and self.trainer.is_global_zero:
            write_history(Path(self.run_dir) / "history.csv", self.history)

    def _load_from_state_dict(
        self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any
    ) -> None:
        # Checkpoints written before anchored naming have no anchor: load them (strictly) with none set.
        key, labels = prefix + "pseudo_anchor", prefix + "pseudo_labels"
        if key not in state_dict and labels in state_dict:
            state_dict[key] = torch.full_like(state_dict[labels], -1)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["fervlm"] = {"history": list(self.history), "pseudo_rounds": list(self.pseudo_rounds)}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("fervlm", {})
        self.history = list(state.get("history", []))
        self.pseudo_rounds = list(state.get("pseudo_rounds", []))


def write_history(path: Path, history: list[dict[str, Any]]) -> None:
    """Per-epoch rows → CSV (atomically), the union of all keys as columns."""
    columns: list[str] = []
    for row in history:
        columns.extend(k for k in row if k not in columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    for row in history:
        writer.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()})
    atomic_write_text(path, buffer.getvalue())
