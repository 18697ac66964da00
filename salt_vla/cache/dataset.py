"""Training from a cache: the recorded view's clip for the student, the cached latents as targets."""

from __future__ import annotations

from typing import Any

import numpy as np

from salt_vla.cache.store import ClipCache, LatentCache
from salt_vla.data.base import EpochDataset, VideoDataset
from salt_vla.data.seeding import CACHED_VIEW, generator, randint


class CachedClipDataset(EpochDataset):
    """Items ``{"video", "latents", "index", "view", "label", "skipped"}`` from a latent cache.

    Item ``i`` is video ``i`` of the cache: with ``V`` views per video, the view of ``set_epoch``'s
    epoch is drawn from ``(seed, epoch, i)``. ``video`` (``[C, T, H, W]`` uint8) is exactly the cached view:
    ``dataset.clip(view)``, or the clip cache's record when ``clips`` is given (no decoding at all).
    ``latents`` is ``[N, D]`` (see :class:`~salt_vla.cache.store.LatentCache`). No teacher is built.

    Args:
        dataset: the dataset the cache was built from (checked by its list hash); decodes views and
            gives labels.
        cache: the latent cache.
        clips: optional clip cache built with ``views_from=cache``.
        seed: for the per-epoch view choice and substitutes (default: the dataset's seed).
    """

    def __init__(self, dataset: VideoDataset, cache: LatentCache, *, clips: ClipCache | None = None,
                 seed: int | None = None) -> None:
        cache.check_compatible({"dataset": dataset.describe()})
        if clips is not None and (len(clips) != len(cache) or not np.array_equal(clips.views, cache.views)):
            raise ValueError(
                f"Clip cache {clips.path} does not hold the views of latent cache {cache.path}. Build it with "
                f"build_clip_cache(dataset, out_dir, views_from=<the latent cache>)."
            )
        super().__init__(dataset.failures.max_failure_fraction)
        self.dataset, self.cache, self.clips = dataset, cache, clips
        self.seed = dataset.seed if seed is None else int(seed)

    def __len__(self) -> int:
        return self.cache.num_videos

    def entry(self, index: int, epoch: int) -> int:
        """The cache entry video ``index`` uses in ``epoch``."""
        views = self.cache.views_per_video
        if views == 1:
            return index
        return index * views + randint(generator(CACHED_VIEW, self.seed, epoch, index), 0, views - 1)

    def __getitem__(self, index: int) -> dict[str, Any]:
        index = int(index)
        if not 0 <= index < len(self):
            raise IndexError(f"CachedClipDataset has {len(self)} videos; index {index} is out of range.")
        epoch = self.epoch

        def load(candidate: int, attempt: int) -> tuple[int, Any, Any]:
            entry = self.entry(candidate, epoch)
            view = self.cache.view(entry)
            return entry, view, self.clips[entry] if self.clips is not None else self.dataset.clip(view)

        (entry, view, video), skipped = self.failures.load(index, len(self), self.seed, epoch, load)
        return {"video": video, "latents": self.cache[entry], "index": index, "view": view,
                "label": self.dataset.label(view), "skipped": skipped}
