"""The pointing game against ground-truth regions, and its chance level.

**Pointing game** (Zhang et al., "Top-down neural attention by excitation backprop", ECCV 2016 / IJCV 2018,
§5.1): a map scores a hit when its maximum falls inside the ground-truth region (here: the AU-displacement
masks of the synthetic faces, docs/design.md "Ground truth for explanations"); the score is the hit rate over
maps. Its chance level is the hit rate of uniformly random maps, whose maximum is a uniformly random pixel, so
the expected hit rate is the mean mask-area fraction (`random_baseline`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

_TIE_RULES = ("any", "fraction")


def _as_maps(name: str, arr: Any) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim < 2:
        raise ValueError(f"{name}: expected (..., H, W) maps, got shape {arr.shape}")
    return arr.reshape(-1, *arr.shape[-2:])


def _check_masks(masks: Any, shape: tuple[int, ...] | None = None, name: str = "masks") -> np.ndarray:
    m = _as_maps(name, masks)
    if m.dtype != np.bool_:
        raise ValueError(f"{name}: must be boolean, got dtype {m.dtype}")
    if shape is not None and m.shape != shape:
        raise ValueError(f"{name}: shape {m.shape} (flattened) does not match the maps' {shape}")
    return m


def _dilate(masks: np.ndarray, tolerance_px: float) -> np.ndarray:
    """Pixels within `tolerance_px` (Euclidean) of each mask (the original pointing game uses 15 px)."""
    if tolerance_px < 0:
        raise ValueError(f"tolerance_px must be >= 0, got {tolerance_px}")
    if tolerance_px == 0:
        return masks
    from scipy.ndimage import distance_transform_edt

    out = np.zeros_like(masks)
    for i, m in enumerate(masks):
        if m.any():
            out[i] = distance_transform_edt(~m) <= tolerance_px
    return out


def pointing_game(cams: Any, masks: Any, ties: str = "any", tolerance_px: float = 0.0) -> dict[str, Any]:
    """Pointing-game hit rate (Zhang et al. 2016, §5.1): the fraction of maps whose maximum lies in the mask.

    Maps whose mask is empty have no answer and are skipped (counted in `n_skipped_empty`).

    Args:
        cams: (..., H, W) saliency maps (flattened to (N, H, W)).
        masks: bool, same shape: the ground-truth regions.
        ties: what a hit means when several pixels share the maximum. "any" (default): a hit when *any*
            maximal pixel lies in the mask. "fraction": the fraction of maximal pixels in the mask, i.e. the
            expected hit under uniform random tie-breaking (a constant map then scores its mask fraction
            instead of 1). Either way, `n_tied` reports how many maps had tied maxima.
        tolerance_px: a maximum within this Euclidean distance of the mask also counts (Zhang et al. use 15 px
            at full resolution); 0 = strictly inside.

    Returns:
        dict with `hit_rate` (NaN when nothing could be evaluated), `n_hits`, `n_evaluated`,
        `n_skipped_empty`, `n_tied`, `ties`, `tolerance_px`, and `hits` ((N,) per map, NaN where skipped).
    """
    c = _as_maps("cams", cams).astype(np.float64)
    m = _dilate(_check_masks(masks, c.shape), tolerance_px)
    if ties not in _TIE_RULES:
        raise ValueError(f"ties must be one of {_TIE_RULES}, got {ties!r}")
    if not np.isfinite(c).all():
        raise ValueError("cams: contain NaN or inf")
    valid = m.any(axis=(1, 2))
    is_max = c == c.max(axis=(1, 2), keepdims=True)
    n_max = is_max.sum(axis=(1, 2))
    n_max_in = (is_max & m).sum(axis=(1, 2))
    hit = (n_max_in > 0).astype(np.float64) if ties == "any" else n_max_in / n_max
    hits = np.where(valid, hit, np.nan)
    n_eval = int(valid.sum())
    return {
        "hit_rate": float(hits[valid].mean()) if n_eval else float("nan"),
        "n_hits": float(hits[valid].sum()),
        "n_evaluated": n_eval,
        "n_skipped_empty": int((~valid).sum()),
        "n_tied": int((n_max[valid] > 1).sum()),
        "ties": ties,
        "tolerance_px": float(tolerance_px),
        "hits": hits,
    }


def random_baseline(
    masks: Any,
    n_draws: int = 1000,
    seed: int = 0,
    foreground: Any = None,
    tolerance_px: float = 0.0,
) -> dict[str, Any]:
    """Pointing-game score of uniformly random maps: the chance level for `pointing_game`.

    A map of i.i.d. continuous random values has its maximum at a uniformly random pixel (of the foreground,
    when the random maps are restricted to it), so its expected hit rate is, exactly,
    `mean_i |mask_i ∩ F_i| / |F_i|` — the mean mask-area fraction over the image (F = all pixels) or over
    the foreground. **`hit_rate` is this analytic value.** The simulation (`n_draws` uniform maximum
    positions per map, the same distribution as the arg-max of a random map) is reported beside it as a
    check, with its Monte-Carlo standard error. Empty masks are skipped, as in `pointing_game`.

    Args:
        masks: bool (..., H, W) ground-truth regions.
        n_draws: random maps simulated per mask.
        seed: seed of the simulation.
        foreground: optional bool masks of the same shape (e.g. the face pixels of a rendered view); each must
            be non-empty where the mask is.
        tolerance_px: as in `pointing_game` (the masks are dilated the same way).

    Returns:
        dict with `hit_rate` (analytic), `hit_rate_simulated`, `simulated_se`, `n_draws`, `n_evaluated`,
        `n_skipped_empty`, `region` ("image" or "foreground"), `method`, and `fractions` ((N,), NaN where
        skipped).
    """
    m = _dilate(_check_masks(masks), tolerance_px)
    if n_draws < 1:
        raise ValueError(f"n_draws must be >= 1, got {n_draws}")
    region = np.ones_like(m) if foreground is None else _check_masks(foreground, m.shape, name="foreground")
    valid = m.any(axis=(1, 2))
    empty_fg = valid & ~region.any(axis=(1, 2))
    if empty_fg.any():
        raise ValueError(f"foreground: empty for maps {np.flatnonzero(empty_fg).tolist()} whose mask is not")
    inside = m & region
    fractions = np.where(valid, inside.sum(axis=(1, 2)) / np.maximum(region.sum(axis=(1, 2)), 1), np.nan)
    n_eval = int(valid.sum())
    rng = np.random.default_rng(seed)
    sim_hits = np.zeros((n_eval, n_draws), dtype=bool)
    for row, i in enumerate(np.flatnonzero(valid)):
        pixels = np.flatnonzero(region[i])
        draws = pixels[rng.integers(0, pixels.size, size=n_draws)]
        sim_hits[row] = inside[i].reshape(-1)[draws]
    per_draw = sim_hits.mean(axis=0) if n_eval else np.full(n_draws, np.nan)
    return {
        "hit_rate": float(np.nanmean(fractions)) if n_eval else float("nan"),
        "hit_rate_simulated": float(per_draw.mean()),
        "simulated_se": float(per_draw.std(ddof=1) / np.sqrt(n_draws)) if n_draws > 1 else float("nan"),
        "n_draws": int(n_draws),
        "n_evaluated": n_eval,
        "n_skipped_empty": int((~valid).sum()),
        "region": "image" if foreground is None else "foreground",
        "method": "analytic: mean mask-area fraction (simulation reported alongside as a check)",
        "fractions": fractions,
    }


def pointing_game_report(
    cams: Any,
    masks: Any,
    ties: str = "any",
    tolerance_px: float = 0.0,
    foreground: Any = None,
    n_draws: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Pointing game of `cams` against `masks` beside its random baseline, on the same (non-empty) masks.

    Returns:
        dict with `pointing_game` (see `pointing_game`), `random_baseline` (see `random_baseline`), `ratio`
        = hit rate / analytic baseline (NaN if the baseline is 0 or nothing was evaluated) and `gain` = their
        difference.
    """
    pg = pointing_game(cams, masks, ties=ties, tolerance_px=tolerance_px)
    rb = random_baseline(masks, n_draws=n_draws, seed=seed, foreground=foreground, tolerance_px=tolerance_px)
    base = rb["hit_rate"]
    ratio = pg["hit_rate"] / base if np.isfinite(base) and base > 0 else float("nan")
    return {
        "pointing_game": pg,
        "random_baseline": rb,
        "ratio": float(ratio),
        "gain": float(pg["hit_rate"] - base),
    }
