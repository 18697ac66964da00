"""Does a cache fit a run? One comparison, one error listing every difference."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

COMPAT_KEYS = ("teacher", "grid", "latent_dim", "dtype", "views", "dataset")
"""What :meth:`~salt_vla.cache.store.ShardedCache.check_compatible` can compare."""


class CacheMismatchError(ValueError):
    """The cache was built for something else; ``mismatches`` lists ``"field: cache X, run Y"`` lines."""

    def __init__(self, message: str, mismatches: list[str]) -> None:
        super().__init__(message)
        self.mismatches = mismatches


def _plain(value: Any) -> Any:
    """Tuples to lists, so a run's ``(8, 14, 14)`` equals a cache's ``[8, 14, 14]``."""
    return json.loads(json.dumps(value, default=str))


def differences(actual: Any, expected: Any, name: str, labels: tuple[str, str] = ("cache", "run")) -> list[str]:
    """``"name: cache A, run B"`` for every difference (``labels`` name the two sides); for dicts, only the keys
    ``expected`` has."""
    actual, expected = _plain(actual), _plain(expected)
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = []
        for key, value in expected.items():
            if key not in actual:
                out.append(f"{name}.{key}: {labels[0]} has none, {labels[1]} {value!r}")
            else:
                out.extend(differences(actual[key], value, f"{name}.{key}", labels))
        return out
    return [] if actual == expected else [f"{name}: {labels[0]} {actual!r}, {labels[1]} {expected!r}"]


def check(actual: Mapping[str, Any], expected: Mapping[str, Any], *, what: str, fix: str,
          labels: tuple[str, str] = ("cache", "run")) -> None:
    """Raise :class:`CacheMismatchError` listing every difference between ``actual`` and ``expected``."""
    unknown = sorted(set(expected) - set(actual))
    if unknown:
        raise ValueError(f"Unknown cache fields {unknown}; comparable fields: {sorted(actual)}.")
    mismatches = [line for key in expected for line in differences(actual[key], expected[key], key, labels)]
    if mismatches:
        raise CacheMismatchError(
            f"{what} does not match ({len(mismatches)} difference{'s' * (len(mismatches) > 1)}):\n  - "
            + "\n  - ".join(mismatches) + f"\n{fix}",
            mismatches,
        )


def compat_fields(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The comparable fields (:data:`COMPAT_KEYS`) of a cache's metadata."""
    teacher = metadata.get("teacher") or {}
    return {
        "teacher": teacher.get("fingerprint"),
        "grid": metadata.get("grid"),
        "latent_dim": metadata.get("latent_dim"),
        "dtype": metadata.get("dtype"),
        "views": metadata.get("view_sampling"),
        "dataset": metadata.get("dataset"),
    }


def cache_requirements(*, teacher: Any = None, dataset: Any = None, grid: Any = None, latent_dim: int | None = None,
                       dtype: str | None = None, views_per_video: int | None = None) -> dict[str, Any]:
    """What a run expects of a latent cache, for ``cache.check_compatible``; only given parts are checked.

    Args:
        teacher: a :class:`~salt_vla.interfaces.Teacher` (fingerprint and latent width), or its
            fingerprint string when the run does not build the teacher.
        dataset: the run's :class:`~salt_vla.data.base.VideoDataset` (identity and view sampling).
        grid: the student's token grid ``(t', h', w')``.
        latent_dim: the predictor's output width.
        dtype: the latent storage type.
        views_per_video: views per video the run expects.
    """
    out: dict[str, Any] = {}
    if teacher is not None:
        out["teacher"] = teacher if isinstance(teacher, str) else teacher.fingerprint()
        if not isinstance(teacher, str):
            out["latent_dim"] = int(teacher.latent_dim)
    if dataset is not None:
        out["dataset"] = dataset.describe()
        out["views"] = dataset.sampler.to_dict()
    if views_per_video is not None:
        out.setdefault("views", {})["views_per_video"] = int(views_per_video)
    if grid is not None:
        out["grid"] = list(grid)
    if latent_dim is not None:
        out["latent_dim"] = int(latent_dim)
    if dtype is not None:
        out["dtype"] = dtype
    return out
