"""The base every video dataset shares: views, exact reproduction, epochs and unreadable videos.

A dataset item is ``{"video": uint8 [C, T, H, W], "index": int, "view": ViewParams, "label": dict,
"skipped": int}``. The view of item ``i`` is drawn from a generator seeded by ``(seed, epoch, i)``,
so it does not depend on worker count or order; ``dataset.clip(view)`` gives the identical pixels
again at any later time. ``index`` is always ``i``; ``view.video_index`` names the video actually
used, which differs from ``i`` only when ``i``'s video was unreadable and a substitute served it
(``skipped`` then counts the videos skipped for this item).

A subclass implements ``__len__``, :meth:`VideoDataset.open_source` and
:meth:`VideoDataset.list_hash`, and optionally :meth:`VideoDataset.label`.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from contextlib import AbstractContextManager
from typing import Any, ClassVar, Protocol

import numpy as np
import torch
from torch.utils.data import Dataset

from salt_vla.data.failures import FailureTracker
from salt_vla.data.seeding import VIEW, SharedEpoch, generator
from salt_vla.data.views import VideoInfo, ViewParams, ViewSampler, apply_view

Label = dict[str, int | float]


class FrameSource(Protocol):
    """An opened video: its :class:`VideoInfo` and random access to frames."""

    info: VideoInfo

    def read(self, indices: list[int]) -> np.ndarray:
        """Frames ``indices`` (non-decreasing, each ``< info.num_frames``), ``[T, H, W, 3]`` uint8."""
        ...


class EpochDataset(Dataset):
    """What every salt-vla dataset shares: an epoch that reaches all workers, and skip accounting.

    Args:
        max_failure_fraction: abort when more than this fraction of the videos tried fail to decode.
    """

    def __init__(self, max_failure_fraction: float = 0.5) -> None:
        self._epoch = SharedEpoch()
        self.failures = FailureTracker(type(self).__name__, max_failure_fraction)

    @property
    def epoch(self) -> int:
        return self._epoch.value

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch ``__getitem__`` draws from; reaches persistent DataLoader workers too."""
        self._epoch.set(epoch)

    @property
    def skipped(self) -> int:
        """Items served by a substitute video in this process (batches carry exact counts)."""
        return self.failures.skipped


class VideoDataset(EpochDataset, metaclass=ABCMeta):
    """Base class of salt-vla's video datasets (a ``torch.utils.data.Dataset``).

    Args:
        sampler: how views are drawn.
        seed: the root of every random choice (>= 0).
        max_failure_fraction: abort when more than this fraction of the videos tried fail to decode.
    """

    kind: ClassVar[str] = "video"
    """Registry name of the dataset type, stored in latent-cache metadata."""

    def __init__(self, sampler: ViewSampler, *, seed: int = 0, max_failure_fraction: float = 0.5) -> None:
        if int(seed) < 0:
            raise ValueError(f"seed must be >= 0; got {seed}.")
        super().__init__(max_failure_fraction)
        self.sampler = sampler
        self.seed = int(seed)

    # -- what a subclass provides -------------------------------------------------------------
    @abstractmethod
    def __len__(self) -> int:
        """Number of videos."""

    @abstractmethod
    def open_source(self, index: int) -> AbstractContextManager[FrameSource]:
        """Open video ``index``; raises :class:`~salt_vla.data.decode.VideoDecodeError` if unreadable."""

    @abstractmethod
    def list_hash(self) -> str:
        """A hash of what the dataset contains (its list of videos, or its generator's parameters)."""

    def label(self, view: ViewParams, source: FrameSource | None = None) -> Label:
        """Probe labels of the clip ``view`` (may be empty). ``source`` is the open video, if at hand."""
        return {}

    # -- shared behaviour ---------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """Identity of the dataset as stored in latent-cache metadata: type, size, list hash."""
        return {"type": self.kind, "num_videos": len(self), "list_hash": self.list_hash()}

    def sample_view(self, index: int, view_index: int, generator: torch.Generator) -> ViewParams:
        """Draw a view of video ``index`` with ``generator`` (deterministic given its state)."""
        self._check_index(index)
        with self.open_source(index) as source:
            return self.sampler.sample(index, view_index, source.info, generator)

    def clip(self, view: ViewParams) -> torch.Tensor:
        """The pixels of ``view``: ``[C, T, H, W]`` uint8, identical on every call.

        Raises :class:`~salt_vla.data.decode.VideoDecodeError` if the video cannot be read.
        """
        self._check_index(view.video_index)
        with self.open_source(view.video_index) as source:
            return self._cut(source, view)

    def item(self, index: int, *, epoch: int | None = None, view_index: int = 0) -> dict[str, Any]:
        """Item ``index`` with the view drawn for ``(seed, epoch, index, view_index)``.

        ``__getitem__(i)`` is ``item(i)`` at the current epoch; the latent cache draws its views with
        ``item(i, epoch=0, view_index=v)``.
        """
        self._check_index(index)
        epoch = self.epoch if epoch is None else int(epoch)

        def load(candidate: int, attempt: int) -> tuple[ViewParams, torch.Tensor, Label]:
            with self.open_source(candidate) as source:
                gen = generator(VIEW, self.seed, epoch, index, view_index, attempt)
                view = self.sampler.sample(candidate, view_index, source.info, gen)
                return view, self._cut(source, view), self.label(view, source)

        (view, video, label), skipped = self.failures.load(index, len(self), self.seed, epoch, load)
        return {"video": video, "index": index, "view": view, "label": label, "skipped": skipped}

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.item(int(index))

    def _cut(self, source: FrameSource, view: ViewParams) -> torch.Tensor:
        last = source.info.num_frames - 1
        frames = source.read([min(i, last) for i in view.frame_indices()])
        return apply_view(frames, view)

    def _check_index(self, index: int) -> None:
        if not 0 <= index < len(self):
            raise IndexError(f"{type(self).__name__} has {len(self)} videos; index {index} is out of range.")
