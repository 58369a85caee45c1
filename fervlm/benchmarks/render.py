"""`fervlm bench render`: our `render_views` against a bare open3d `cast_rays` of the same rays.

The bare figure is the floor any ray-casting renderer pays (the Embree traversal itself, scene already built
and committed); ours adds framing, ray generation, normal interpolation, shading and image assembly — and,
on a *cold* call, building the BVH. Both are reported: ``warm`` renders the same mesh again (the scene comes
from `fervlm.render`'s content-checked cache, as when one mesh is rendered in several modes), ``cold``
renders a fresh copy of the mesh each time (prepare's case: every scan is new).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from fervlm.io.mesh import Mesh


def face_like_mesh(vertices: int = 35000, seed: int = 0) -> Mesh:
    """A face-like height field over an ellipse, symmetric in x, with about `vertices` vertices.

    A forward-bulging ellipsoidal cap with a nose ridge, two eye sockets and a mouth groove, in millimetre
    units (≈150 mm wide), facing +z. Triangulated on a regular grid clipped to the ellipse.
    """
    # Grid points inside the ellipse ≈ π/4 of the bounding grid.
    n = max(4, math.ceil(math.sqrt(vertices / (math.pi / 4))))
    xs = np.linspace(-1.0, 1.0, n)
    X, Y = np.meshgrid(xs, xs * 1.3)
    inside = (X**2 + (Y / 1.3) ** 2) <= 1.0
    r2 = X**2 + (Y / 1.3) ** 2
    Z = 40.0 * np.sqrt(np.clip(1.0 - 0.85 * r2, 0.0, None))
    Z += 22.0 * np.exp(-((X / 0.12) ** 2) - ((Y + 0.05) / 0.35) ** 2)  # nose
    for ex in (-0.38, 0.38):
        Z -= 8.0 * np.exp(-(((X - ex) / 0.16) ** 2) - ((Y - 0.35) / 0.1) ** 2)  # eye sockets
    Z -= 4.0 * np.exp(-((X / 0.3) ** 2) - ((Y + 0.6) / 0.05) ** 2)  # mouth
    if seed:
        Z += np.random.default_rng(seed).normal(0.0, 0.05, Z.shape)
    ids = -np.ones(X.shape, dtype=np.int64)
    ids[inside] = np.arange(int(inside.sum()))
    verts = np.stack([X[inside] * 75.0, Y[inside] * 75.0, Z[inside]], axis=1)
    a, b, c, d = ids[:-1, :-1], ids[:-1, 1:], ids[1:, :-1], ids[1:, 1:]
    tris = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([b, d, c], -1).reshape(-1, 3)])
    tris = tris[(tris >= 0).all(axis=1)]
    return Mesh(vertices=verts, faces=tris)


def _best_times(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Best-of-`repeats` seconds per function, interleaving the functions in every round so that load from
    other processes hits all of them alike (the ratios are what matters)."""
    best = dict.fromkeys(fns, math.inf)
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def bench_render(vertices: int = 35000, size: int = 224, views: int = 3, repeats: int = 5) -> dict:
    """Time `render_views` per view (warm and cold) against a bare `RaycastingScene.cast_rays`.

    Args:
        vertices: approximate vertex count of the face-like test mesh.
        size: image size in pixels.
        views: number of views, spread evenly over −30..+30 degrees (1 view = frontal).
        repeats: timed repetitions; the best is reported (least disturbed by other processes).

    Returns:
        A dict with the mesh size, ``bare_ms_per_view``, ``warm_ms_per_view``, ``cold_ms_per_view``,
        ``warm_ratio`` and ``cold_ratio`` (ours / bare), ``build_ms`` (one scene build + commit) and
        ``cold_vs_bare_cold_ratio`` (a cold render against a bare build + cast of the same rays).
    """
    import open3d as o3d

    from fervlm import render
    from fervlm.render.camera import _framing, _rays

    mesh = face_like_mesh(vertices)
    yaws = [0.0] if views == 1 else list(np.linspace(-30.0, 30.0, views))
    framing = _framing(mesh, yaws, 1.08, 1.35)
    rays, _ = _rays(framing, yaws, size, "orthographic", 30.0)
    rays_t = o3d.core.Tensor(rays)

    def build() -> object:
        scene = o3d.t.geometry.RaycastingScene()
        scene.add_triangles(o3d.core.Tensor(mesh.vertices), o3d.core.Tensor(mesh.faces.astype(np.uint32)))
        return scene

    scene = build()
    scene.cast_rays(rays_t)  # the first cast commits (builds) the BVH: keep it out of the bare timing
    one_ray = o3d.core.Tensor(rays[:1, :1, :1])

    def cold() -> None:
        render.clear_cache()
        render.render_views(mesh, yaws, size)

    render.clear_cache()
    render.render_views(mesh, yaws, size)  # warm-up: imports, caches
    t = _best_times(
        {
            "bare": lambda: scene.cast_rays(rays_t),
            "warm": lambda: render.render_views(mesh, yaws, size),
            "build": lambda: build().cast_rays(one_ray),
            "cold": cold,
        },
        repeats,
    )
    render.clear_cache()
    bare, warm, cold_s, build_s = t["bare"], t["warm"], t["cold"], t["build"]
    per = 1000.0 / len(yaws)
    return {
        "vertices": len(mesh.vertices),
        "faces": len(mesh.faces),
        "size": size,
        "views": len(yaws),
        "bare_ms_per_view": bare * per,
        "warm_ms_per_view": warm * per,
        "cold_ms_per_view": cold_s * per,
        "warm_ratio": warm / bare,
        "cold_ratio": cold_s / bare,
        "build_ms": build_s * 1000.0,
        # The fair reference for a cold render is a bare build + cast of the same rays.
        "bare_cold_ms_per_view": (build_s + bare) * per,
        "cold_vs_bare_cold_ratio": cold_s / (build_s + bare),
    }


def format_table(result: dict) -> str:
    """A small fixed-width table of a `bench_render` result."""
    rows = [
        ("bare cast_rays", result["bare_ms_per_view"], 1.0),
        ("render_views (warm scene)", result["warm_ms_per_view"], result["warm_ratio"]),
        ("render_views (cold, incl. BVH build)", result["cold_ms_per_view"], result["cold_ratio"]),
        (
            "bare BVH build + cast_rays",
            result["bare_cold_ms_per_view"],
            result["bare_cold_ms_per_view"] / result["bare_ms_per_view"],
        ),
    ]
    head = (
        f"render benchmark: {result['vertices']} vertices / {result['faces']} faces, "
        f"{result['views']} views at {result['size']} px (BVH build {result['build_ms']:.1f} ms)"
    )
    lines = [head, f"{'':38s} {'ms/view':>9s} {'× bare':>7s}"]
    lines += [f"{name:38s} {ms:9.2f} {ratio:7.2f}" for name, ms, ratio in rows]
    lines.append(f"cold render / (bare build + cast): {result['cold_vs_bare_cold_ratio']:.2f}x")
    return "\n".join(lines)
