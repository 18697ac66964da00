"""Datasets of encoded video files on disk, decoded with PyAV.

:class:`FileVideoDataset` holds the file list and the labels in a few NumPy arrays rather than
Python lists of strings and dicts: forked DataLoader workers share those pages for good, whereas
touching millions of Python objects (reference counts) copies them into every worker, the usual
cause of data pipelines whose memory grows until the kernel kills them.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from salt_vla.data.base import FrameSource, Label, VideoDataset
from salt_vla.data.decode import VideoReader
from salt_vla.data.views import ViewParams, ViewSampler


def labels_to_columns(labels: Sequence[Mapping[str, int | float]], where: str) -> dict[str, np.ndarray]:
    """Per-video label dicts as one array per key (int64 if every value is an int, else float64)."""
    keys = sorted({k for row in labels for k in row})
    for i, row in enumerate(labels):
        if sorted(row) != keys:
            raise ValueError(f"{where}: video {i} has labels {sorted(row)}; every video needs the same keys {keys}.")
    columns = {}
    for key in keys:
        values = [row[key] for row in labels]
        if not all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in values):
            raise ValueError(f"{where}: label {key!r} must be int or float for every video.")
        integral = all(isinstance(v, (int, np.integer)) for v in values)
        columns[key] = np.asarray(values, dtype=np.int64 if integral else np.float64)
    return columns


class FileVideoDataset(VideoDataset):
    """Videos ``root / path`` for each relative path, with optional per-video labels.

    Args:
        root: directory the paths are relative to.
        paths: relative paths, in dataset order.
        sampler: view sampling.
        labels: per-key arrays of length ``len(paths)`` (see :func:`labels_to_columns`), or ``None``.
        seed, max_failure_fraction: see :class:`~salt_vla.data.base.VideoDataset`.
        decode_threads: PyAV decoder threads per video (1 when DataLoader workers use the cores).
    """

    def __init__(self, root: str | os.PathLike[str], paths: Sequence[str], sampler: ViewSampler, *,
                 labels: Mapping[str, np.ndarray] | None = None, seed: int = 0, decode_threads: int = 1,
                 max_failure_fraction: float = 0.5) -> None:
        super().__init__(sampler, seed=seed, max_failure_fraction=max_failure_fraction)
        self.root = Path(root)
        self._paths = np.array([p.encode("utf-8") for p in paths], dtype=np.bytes_)
        self._labels = {k: np.asarray(v) for k, v in (labels or {}).items()}
        for key, column in self._labels.items():
            if column.shape != (len(paths),):
                raise ValueError(f"label {key!r} has shape {column.shape}; expected ({len(paths)},).")
        self.decode_threads = int(decode_threads)

    def __len__(self) -> int:
        return int(self._paths.shape[0])

    def path(self, index: int) -> Path:
        """The file of video ``index``."""
        self._check_index(index)
        return self.root / self._paths[index].decode("utf-8")

    @contextmanager
    def open_source(self, index: int) -> Iterator[FrameSource]:
        with VideoReader(self.path(index), threads=self.decode_threads) as reader:
            yield reader

    def list_hash(self) -> str:
        return hashlib.sha256(b"\n".join(self._paths.tolist())).hexdigest()

    def label(self, view: ViewParams, source: FrameSource | None = None) -> Label:
        return {key: column[view.video_index].item() for key, column in self._labels.items()}
