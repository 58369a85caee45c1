"""Dynamic images: a whole frame sequence summarised in one image by (approximate) rank pooling.

Bilen, Fernando, Gavves, Vedaldi, "Dynamic Image Networks for Action Recognition", CVPR 2016 / TPAMI 2017;
exact rank pooling after Fernando et al., "Modeling Video Evolution for Action Recognition" (VideoDarwin),
CVPR 2015 / TPAMI 2017. Conventions follow the official MATLAB code (hbilen/dynamic-image-nets), see
docs/algorithms.md §1: frames are pooled as they are (no mean subtraction, no time averaging), per pixel and
channel, and mapped to 8 bits by one global min–max.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from fervlm.io.mesh import Mesh
    from fervlm.render import Framing

METHODS = ("approximate", "exact")


def arp_coefficients(T: int) -> np.ndarray:
    """Approximate-rank-pooling weights α_1..α_T (float64) for frames in temporal order.

    α_t = Σ_{s=t..T} (2s − T − 1)/s  (Bilen et al. TPAMI 2017, Eq. 3; equal to the closed form
    2(T − t + 1) − (T + 1)(H_T − H_{t−1}) with harmonic numbers H). The weights sum to zero for T ≥ 2, so a
    constant added to every frame leaves the dynamic image unchanged. For T = 1 the formula gives α = [0];
    like the official code (`vl_nnarpooltemporal.m`) we return α = [1] instead, so a single frame is its
    own dynamic image.

    Args:
        T: number of frames (≥ 1).

    Returns:
        (T,) float64 weights.
    """
    T = int(T)
    if T < 1:
        raise ValueError(f"T={T}: rank pooling needs at least one frame")
    if T == 1:
        return np.ones(1, dtype=np.float64)
    s = np.arange(1, T + 1, dtype=np.float64)
    terms = (2.0 * s - T - 1.0) / s
    # Suffix sums: α_t = Σ_{s ≥ t} terms_s.
    return np.cumsum(terms[::-1])[::-1].copy()


def approximate_rank_pooling(frames: Any) -> Any:
    """Dynamic image d = Σ_t α_t I_t over axis 0 (Bilen et al. TPAMI 2017, Eq. 3).

    Args:
        frames: (T, ...) frames in temporal order — a numpy array (any dtype; uint8 frames are used as
            0..255 values without rescaling, as in the official code) or a torch tensor (then the result is a
            tensor on the same device and differentiable: ∂d/∂I_t = α_t).

    Returns:
        The dynamic image with the frame shape: float64 numpy array, or a floating torch tensor.
    """
    if _is_tensor(frames):
        import torch

        dtype = frames.dtype if frames.is_floating_point() else torch.float32
        alpha = torch.as_tensor(arp_coefficients(frames.shape[0]), dtype=dtype, device=frames.device)
        return torch.tensordot(alpha, frames.to(dtype), dims=([0], [0]))
    frames = np.asarray(frames)
    if frames.ndim < 1 or frames.shape[0] < 1:
        raise ValueError(f"frames: expected shape (T, ...) with T ≥ 1, got {frames.shape}")
    alpha = arp_coefficients(frames.shape[0])
    return np.tensordot(alpha, frames.astype(np.float64, copy=False), axes=([0], [0]))


def to_uint8(image: np.ndarray, atol: float = 1e-9) -> np.ndarray:
    """The official 8-bit display mapping of a dynamic image (`visualize_approximate_dynamic_images.m`).

    Subtract the global minimum (over all pixels *and* channels), scale by 255 / the shifted maximum and
    round half up (MATLAB's `uint8` cast), so the output spans exactly 0..255. A constant image (where the
    official code divides by zero) maps to zeros — including a *numerically* constant one (range ≤ `atol`):
    a static sequence pools to Σα·I ≈ 1e-15·I, and stretching that rounding noise would show the frame.
    """
    x = np.asarray(image, dtype=np.float64)
    if not np.isfinite(x).all():
        raise ValueError("image: NaN or infinite values cannot be mapped to 8 bits")
    x = x - x.min() if x.size else x
    top = x.max() if x.size else 0.0
    if top <= atol:
        return np.zeros(x.shape, dtype=np.uint8)
    return np.clip(np.floor(x * (255.0 / top) + 0.5), 0, 255).astype(np.uint8)


def exact_rank_pooling(frames: np.ndarray, C: float = 1.0, epsilon: float = 0.1) -> np.ndarray:
    """Exact rank pooling (Fernando et al. VideoDarwin, CVPR 2015): the linear function that orders the
    frames in time, as a frame-shaped array.

    Following the released code: time-varying means m_t = (1/t) Σ_{τ≤t} x_τ, signed square root
    sign(m)·√|m|, per-step L2 normalisation, then an L2-regularised squared-ε-insensitive linear SVR without
    bias onto the targets t = 1..T (liblinear `-s 11`, here `sklearn.svm.LinearSVR`), docs/algorithms.md §1.6.

    Args:
        frames: (T, ...) frames in temporal order.
        C: SVR regularisation constant (1 in VideoDarwin, 10 in Fernando's dynamic-image code).
        epsilon: insensitivity of the loss.

    Returns:
        The SVR weight vector u reshaped to the frame shape (float64).
    """
    from sklearn.svm import LinearSVR

    x = np.asarray(frames, dtype=np.float64)
    if x.ndim < 2 or x.shape[0] < 2:
        raise ValueError(f"frames: exact rank pooling needs (T, ...) with T ≥ 2, got shape {x.shape}")
    T = x.shape[0]
    flat = x.reshape(T, -1)
    means = np.cumsum(flat, axis=0) / np.arange(1, T + 1, dtype=np.float64)[:, None]
    v = np.sign(means) * np.sqrt(np.abs(means))
    v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    svr = LinearSVR(
        loss="squared_epsilon_insensitive", epsilon=epsilon, fit_intercept=False, dual=False, C=C, tol=1e-3
    )
    svr.fit(v, np.arange(1, T + 1, dtype=np.float64))
    return svr.coef_.reshape(x.shape[1:])


def pool(frames: np.ndarray, method: str = "approximate") -> np.ndarray:
    """Rank-pool (T, ...) frames with `method` ('approximate' or 'exact')."""
    if method == "approximate":
        return approximate_rank_pooling(frames)
    if method == "exact":
        return exact_rank_pooling(frames)
    raise ValueError(f"method={method!r}: expected one of {METHODS}")


def dynamic_views(
    mesh_frames: Sequence[Mesh | str | Path],
    yaws: Sequence[float] = (-30, 0, 30),
    size: int = 224,
    mode: str = "shaded",
    method: str = "approximate",
    **render_options: Any,
) -> np.ndarray:
    """One dynamic image per view of a 4D sequence: render every frame's views, rank-pool each view over
    time, map to 8 bits with `to_uint8`.

    Args:
        mesh_frames: the frames in temporal order, as `Mesh` objects or mesh file paths (read with
            `fervlm.io.load_mesh`; paths are loaded one at a time so long sequences stay small in memory).
        yaws, size, mode: as in `fervlm.render.render_views`.
        method: 'approximate' (Bilen et al.) or 'exact' (Fernando et al.) rank pooling.
        **render_options: passed on to `render_views` (e.g. projection).

    Returns:
        uint8 (V, H, W, 3).
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r}: expected one of {METHODS}")
    rendered, _ = render_sequence(mesh_frames, yaws, size, mode, **render_options)
    return np.stack([to_uint8(pool(rendered[:, v], method)) for v in range(rendered.shape[1])])


def render_sequence(
    mesh_frames: Sequence[Mesh | str | Path],
    yaws: Sequence[float] = (-30, 0, 30),
    size: int = 224,
    mode: str = "shaded",
    on_frame: Callable[[int, Mesh], None] | None = None,
    **render_options: Any,
) -> tuple[np.ndarray, Framing]:
    """Render every frame of a sequence with *one* camera framing, taken from the first frame (unless a
    ``framing`` is given): a per-frame framing would shift the face as its extent changes and put spurious
    motion into the dynamic image.

    Args:
        mesh_frames, yaws, size, mode, **render_options: as in `dynamic_views`.
        on_frame: called with (t, mesh) after each frame is rendered (e.g. to pick an apex frame).

    Returns:
        uint8 (T, V, H, W, 3) renders and the framing used (to render more of the sequence alike).
    """
    from fervlm.render import frame_views, render_views

    if len(mesh_frames) == 0:
        raise ValueError("mesh_frames: the sequence has no frames")
    rendered = np.empty((len(mesh_frames), len(yaws), size, size, 3), dtype=np.uint8)
    options = dict(render_options)
    for t, frame in enumerate(mesh_frames):
        mesh = _as_mesh(frame)
        if options.get("framing") is None:
            margins = {k: options[k] for k in ("margin", "landmark_margin") if k in options}
            options["framing"] = frame_views(mesh, yaws, **margins)
        rendered[t] = render_views(mesh, yaws, size, mode, **options)
        if on_frame is not None:
            on_frame(t, mesh)
    return rendered, options["framing"]


def _as_mesh(frame: Mesh | str | Path) -> Mesh:
    if isinstance(frame, (str, Path)):
        from fervlm.io import load_mesh

        return load_mesh(frame)
    return frame


def _is_tensor(x: Any) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "requires_grad")
