"""Training runs: one fold, k-fold cross-validation, cross-dataset — resumable, CPU / GPU / DDP.

Run folders (docs/design.md "Run folders")::

    out_dir/
      folds.json            the subject-independent folds used (fervlm.folds.save_folds)
      fold-00/
        config.json         the resolved configuration
        last.ckpt           the latest checkpoint (end of every epoch)
        history.csv         per-epoch loss parts and metrics (loss curves)
        predictions.csv     per test sample: label, prediction, class scores
        pixels.npz          the fitted pixel baseline (method "pixels" only; fervlm.methods.pixels)
        metrics.json        written last: its presence marks the fold as finished
        logs/               Lightning's CSVLogger
      folds.csv, summary.json   (run_cv: per-fold scalars, mean ± std)

* A fold whose ``metrics.json`` exists is skipped; a fold with ``last.ckpt`` but no metrics resumes
  from that checkpoint (epoch, optimiser, pseudo-labels, history and global random states included).
  Both only when the fold's ``config.json`` records the same result-changing settings
  (`fervlm.fingerprint`); otherwise the run is refused in one line naming the differing keys, and
  ``force=True`` (``--force``) starts the fold again from scratch. A ``last.ckpt`` that does not load
  is renamed ``last.ckpt.corrupt`` and the fold restarts (`fervlm.checkpoints`).
* Deterministic for a seed on CPU: ``seed_everything(seed, workers=True)``, deterministic
  algorithms, a data order that depends only on the seed and the epoch
  (:class:`fervlm.data.GlobalBatchSampler`), augmentation draws keyed on (seed, epoch, row), and
  prompt draws keyed on (seed, epoch, sample, view). Hence a fold killed after epoch ``k`` and
  resumed writes the same ``history.csv`` and ``predictions.csv``, byte for byte, as one never
  interrupted (tested on CPU).

**Devices.** The trainer follows what is present and configured: CPU, one GPU, or DDP when
``devices > 1`` or ``num_nodes > 1`` — NCCL on GPUs, gloo on CPU processes (``accelerator="cpu",
devices=N``). ``strategy="ddp"`` re-launches the current command once per extra process (use it from
the ``fervlm`` command line); ``strategy="ddp_spawn"`` spawns them (inside a Jupyter kernel on CPU
it forks: the only start method Lightning allows there). A free ``MASTER_PORT`` is chosen
automatically on a single node. ``batch_size`` is the *global* batch: every process gets
``batch_size / world_size`` samples and the losses gather the global batch, so results match a single
process (tested).

**Multi-node.** Start one process per GPU with the cluster's launcher and let Lightning read the
environment; every process runs the same command, e.g. with torchrun on 2 nodes × 4 GPUs::

    torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint HOST:29500 \\
        -m fervlm.cli cv --method affectvlm --index index.csv --out runs/affect \\
        --set devices=4 --set num_nodes=2 --set strategy=ddp

or under SLURM (``#SBATCH --nodes=2 --ntasks-per-node=4 --gpus-per-node=4``)::

    srun fervlm cv --method affectvlm --index index.csv --out runs/affect \\
        --set devices=4 --set num_nodes=2 --set strategy=ddp

(Lightning's SLURM/torchelastic environments supply ranks and the master address; ``MASTER_PORT``
is then left to the launcher.) Only global rank 0 writes files.

**Submodules** (one concept each; every public name is re-exported here, so ``from fervlm.train import X``
works):

- `fervlm.train.rundir` — the run folder: ``fold_dir``, which process writes (global rank 0), JSON writes.
- `fervlm.train.trainer` — ``build_trainer``: the Lightning ``Trainer`` for CPU, one GPU or DDP (free
  ``MASTER_PORT``, start method inside Jupyter).
- `fervlm.train.evaluation` — ``evaluate_method``: predictions and the metrics of docs/methods.md §5.
- `fervlm.train.split` — one train/test split end to end: refuse/skip/resume, data, fit, evaluate, write.
- `fervlm.train.datamodule` — ``make_datamodule``: the data module a config describes for a built method
  (also used by `fervlm.timing` and `fervlm bench data`).
- `fervlm.train.cv` — subject-independent k-fold cross-validation: ``fit_fold``, ``run_cv``, ``folds.json``.
- `fervlm.train.cross` — ``cross_dataset``: train on one table, test on another on shared classes.
"""

from __future__ import annotations

from fervlm.train.cross import cross_dataset
from fervlm.train.cv import fit_fold, run_cv
from fervlm.train.evaluation import evaluate_method
from fervlm.train.rundir import fold_dir
from fervlm.train.trainer import build_trainer

__all__ = ["build_trainer", "cross_dataset", "evaluate_method", "fit_fold", "fold_dir", "run_cv"]
