"""Explaining trained models: Grad-CAM per view and the pointing game.

One submodule per concept; every public name is re-exported here, so ``from fervlm.explain import X`` works.
This is the computing layer: the figures that draw its results are `fervlm.viz.explain`. Training and loading
the fold a notebook explains is an experiment (`fervlm.experiments.explain`), and so is re-embedding a
fold's test split (`fervlm.experiments.embeddings`); this package only takes a loaded method.

- `fervlm.explain.layers` — which layer Grad-CAM reads per tower type (`target_layer`) and the token-to-map
  reshape for ViTs (`reshape_transform_for`); docs/algorithms.md §2.3-2.4.
- `fervlm.explain.gradcam` — `gradcam_views`: Grad-CAM (Selvaraju et al., ICCV 2017, eq. 1-2) or HiResCAM
  (Draelos & Carin, 2020) of every view for the target `y = cos(f_v(x), p_c)` (`PrototypeSimilarityTarget`).
- `fervlm.explain.display` — `to_uint8`, `overlay` (arrays for display).
- `fervlm.explain.pointing` — the pointing game (Zhang et al., ECCV 2016, §5.1) and its random baseline.
- `fervlm.explain.groundtruth` — the AU regions of a sample's expression on the synthetic faces.
- `fervlm.explain.fold` — `explain_fold`: Grad-CAM and the pointing game over a trained fold's test views.
"""

from __future__ import annotations

from fervlm.explain.display import overlay, to_uint8
from fervlm.explain.fold import ExplainSet, explain_fold, load_explain_set, pointing_table
from fervlm.explain.gradcam import PrototypeSimilarityTarget, gradcam_views
from fervlm.explain.groundtruth import FACE_REGIONS, active_region_mask, region_masks, resize_nearest
from fervlm.explain.layers import reshape_transform_for, target_layer
from fervlm.explain.pointing import pointing_game, pointing_game_report, random_baseline

__all__ = [
    "FACE_REGIONS",
    "ExplainSet",
    "PrototypeSimilarityTarget",
    "active_region_mask",
    "explain_fold",
    "gradcam_views",
    "load_explain_set",
    "overlay",
    "pointing_game",
    "pointing_game_report",
    "pointing_table",
    "random_baseline",
    "region_masks",
    "reshape_transform_for",
    "resize_nearest",
    "target_layer",
    "to_uint8",
]
