"""Numbers that summarise whiskers: spread, smoothness, faithfulness to the executed path, goal distances.

All functions are pure NumPy on end-effector paths in metres (world frame). A *whisker bundle* is the
``[K, P, 3]`` array of ``K`` sampled predicted paths of ``P`` points each; point 0 is where the gripper
was when the chunk was predicted, point ``i`` where it would be after the chunk's ``i``-th action.
"""

from __future__ import annotations

import numpy as np


def _bundle(paths: np.ndarray) -> np.ndarray:
    paths = np.asarray(paths, dtype=np.float64)
    if paths.ndim != 3 or paths.shape[-1] != 3 or paths.shape[1] < 1:
        raise ValueError(f"A whisker bundle is [K, P, 3] (samples, points, xyz); got shape {paths.shape}.")
    return paths


def spread(paths: np.ndarray) -> float:
    """Mean pairwise distance (metres) between the samples' end points; 0 for one sample.

    Args:
        paths: ``[K, P, 3]`` whisker bundle.
    """
    ends = _bundle(paths)[:, -1]
    k = len(ends)
    if k < 2:
        return 0.0
    distances = np.linalg.norm(ends[:, None] - ends[None], axis=-1)
    return float(distances.sum() / (k * (k - 1)))


def jerk(paths: np.ndarray, dt: float) -> float | None:
    """Mean squared jerk (m²/s⁶) of the predicted paths: third finite difference over ``dt³``, squared norm,
    averaged over points and samples. ``None`` when a path has fewer than 4 points.

    Args:
        paths: ``[K, P, 3]`` whisker bundle, points ``dt`` seconds apart.
        dt: control period in seconds.
    """
    if dt <= 0:
        raise ValueError(f"jerk needs a positive control period dt; got {dt}.")
    paths = _bundle(paths)
    if paths.shape[1] < 4:
        return None
    third = np.diff(paths, n=3, axis=1) / dt**3
    return float(np.mean(np.sum(third**2, axis=-1)))


def deviation(paths: np.ndarray, executed: np.ndarray) -> tuple[float | None, int]:
    """Mean distance (metres) between the predicted and the executed path where both exist.

    Args:
        paths: ``[K, P, 3]`` whisker bundle predicted at control step ``t``.
        executed: ``[E, 3]`` gripper positions actually reached at steps ``t, t+1, ...`` (``E >= 1``).

    Returns:
        ``(mean distance over samples and the overlapping points 1..min(P, E)-1, overlap length)``;
        ``(None, 0)`` when nothing overlaps (the episode ended before the chunk's first action).
    """
    paths = _bundle(paths)
    executed = np.asarray(executed, dtype=np.float64)
    overlap = min(paths.shape[1], len(executed)) - 1
    if overlap < 1:
        return None, 0
    gaps = np.linalg.norm(paths[:, 1:overlap + 1] - executed[None, 1:overlap + 1], axis=-1)
    return float(gaps.mean()), int(overlap)


def end_distance(paths: np.ndarray, target: np.ndarray, *, horizontal: bool = False) -> float:
    """Mean distance (metres) from the samples' end points to ``target`` ``[3]``; only x, y if ``horizontal``."""
    ends = _bundle(paths)[:, -1]
    offset = ends - np.asarray(target, dtype=np.float64)
    if horizontal:
        offset = offset[:, :2]
    return float(np.linalg.norm(offset, axis=-1).mean())


def summarise(values: list[float | None]) -> dict[str, float | None]:
    """``{"mean", "median", "max"}`` of the non-``None`` values (all ``None`` when there are none)."""
    present = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if present.size == 0:
        return {"mean": None, "median": None, "max": None}
    return {"mean": float(present.mean()), "median": float(np.median(present)), "max": float(present.max())}
