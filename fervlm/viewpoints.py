"""The three camera viewpoints of the multiview methods, and the one map between their names and yaws.

All three papers render each face from the left, the front and the right; we place the camera at yaw
−30°, 0° and +30° (docs/design.md, "Conventions"). Configs, file names and run folders say
``left``/``front``/``right``; the renderer and the prepared tables speak in degrees. Every module that
translates between the two imports this one, so the map has a single home.
"""

from __future__ import annotations

#: View name → yaw angle in degrees, in the order the methods stack views (left, front, right).
YAW_BY_NAME: dict[str, int] = {"left": -30, "front": 0, "right": 30}
#: The view names in stacking order.
VIEW_NAMES: tuple[str, str, str] = ("left", "front", "right")
#: Their yaw angles in degrees, in the same order.
VIEW_YAWS: tuple[int, int, int] = (-30, 0, 30)


def yaw_of(view: str | float) -> float:
    """The yaw in degrees of a view given by name (``"left"``) or by angle (``-30``, ``"-30"``).

    Raises:
        ValueError: naming the value, when it is neither a view name nor a number.
    """
    text = str(view).strip()
    if text in YAW_BY_NAME:
        return float(YAW_BY_NAME[text])
    try:
        return float(text)
    except ValueError:
        raise ValueError(
            f"views: {view!r} is neither a view name {sorted(YAW_BY_NAME)} nor a yaw angle in degrees"
        ) from None


def view_name(view: str | float) -> str:
    """File-friendly name of a view: ``left``/``front``/``right`` for −30/0/+30, else ``yaw<angle>``.

    Args:
        view: a yaw in degrees, or a view name / yaw as text.
    """
    yaw = yaw_of(view)
    for name, known in YAW_BY_NAME.items():
        if yaw == known:
            return name
    return f"yaw{yaw:g}"
