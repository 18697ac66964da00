"""ACT's action chunk served from cached columns instead of LeRobot's row query (see :func:`enable_column_queries`)."""

from __future__ import annotations

from typing import Any

from salt_vla.lerobot_compat.versions import require_lerobot


def _query_owner() -> type:
    """The class whose ``_query_hf_dataset`` serves a sample's extra frames (LeRobot >= 0.5: ``DatasetReader``)."""
    require_lerobot()
    try:
        from lerobot.datasets.dataset_reader import DatasetReader
    except ImportError:
        from lerobot.datasets.lerobot_dataset import LeRobotDataset as DatasetReader
    return DatasetReader


def enable_column_queries() -> None:
    """Serve ``delta_timestamps`` queries of numeric features (ACT's action chunk) from a cached column.

    LeRobot reads the chunk as ``hf_dataset[key][indices]``; with the ``datasets`` versions LeRobot installs that
    raises, and its fallback ``hf_dataset[indices][key]`` fetches whole rows: in a dataset whose frames are
    images every one of the chunk's rows decodes both camera images first (measured on an H200: 71 ms a sample
    for ACT's 50-action chunk, so 10 loader workers fed 2 steps/s to a 23 steps/s model).

    After this call every dataset reader built in this process is a :class:`ColumnCachedReader`, which reads
    each numeric column once (a ``[frames, ...]`` tensor per process) and indexes it; image and video
    features keep LeRobot's own path, and the values are LeRobot's (tested against its own query). The class
    travels with the dataset when LeRobot pickles it to spawned dataloader workers (LeRobot >= 0.5 spawns
    them), so the workers, which never ran this function, use it too.
    """
    owner = _query_owner()
    if getattr(owner.__init__, "_salt_vla_columns", False):
        return
    original_init = owner.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        if type(self) is owner:
            self.__class__ = column_cached_reader()

    __init__._salt_vla_columns = True  # type: ignore[attr-defined]
    owner.__init__ = __init__


_COLUMN_CACHED: type | None = None


def column_cached_reader() -> type:
    """The installed LeRobot's dataset reader with numeric ``delta_timestamps`` queries served from columns."""
    global _COLUMN_CACHED
    if _COLUMN_CACHED is not None:
        return _COLUMN_CACHED
    import numpy as np
    import torch

    owner = _query_owner()

    def _query_hf_dataset(self: Any, query_indices: dict[str, list[int]]) -> dict:
        features = (getattr(self, "_meta", None) or self.meta).features
        numeric = {k: v for k, v in query_indices.items()
                   if features.get(k, {}).get("dtype") not in ("image", "video", "string")}
        rest = {k: v for k, v in query_indices.items() if k not in numeric}
        result = owner._query_hf_dataset(self, rest) if rest else {}
        cache = self.__dict__.setdefault("_salt_vla_columns", {})
        mapping = self._absolute_to_relative_idx
        for key, indices in numeric.items():
            if key not in cache:
                rows = self.hf_dataset.select_columns([key]).with_format("numpy")[:][key]
                cache[key] = torch.from_numpy(np.stack(rows) if rows.dtype == object else np.asarray(rows))
            result[key] = cache[key][indices if mapping is None else [mapping[i] for i in indices]]
        return result

    def __getstate__(self: Any) -> dict:
        state = self.__dict__.copy()
        state.pop("_salt_vla_columns", None)  # each process reads its own columns, nothing large is pickled
        return state

    _COLUMN_CACHED = type("ColumnCachedReader", (owner,), {
        "__module__": __name__, "__qualname__": "ColumnCachedReader",
        "_query_hf_dataset": _query_hf_dataset, "__getstate__": __getstate__,
        "__doc__": "LeRobot's dataset reader; numeric delta queries read a cached column (enable_column_queries).",
    })
    return _COLUMN_CACHED


def __getattr__(name: str) -> Any:
    # Unpickling a reader in a spawned dataloader worker looks the class up by name.
    if name == "ColumnCachedReader":
        return column_cached_reader()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
