"""Caches of teacher latents and decoded clips: memory-mapped shards with a ``metadata.json``.

Build once with :func:`build_latent_cache` (and :func:`build_clip_cache` when decoding cannot keep
up), train with :class:`CachedClipDataset`; the teacher is never built in cached training. The
format is documented in docs/data.md.
"""

from __future__ import annotations

from salt_vla.cache.build import build_clip_cache, build_latent_cache
from salt_vla.cache.compat import CacheMismatchError, cache_requirements
from salt_vla.cache.dataset import CachedClipDataset
from salt_vla.cache.records import LATENT_DTYPES
from salt_vla.cache.shards import CacheIntegrityError, CacheRebuildWarning
from salt_vla.cache.store import ClipCache, LatentCache

__all__ = [
    "LATENT_DTYPES",
    "CacheIntegrityError",
    "CacheMismatchError",
    "CacheRebuildWarning",
    "CachedClipDataset",
    "ClipCache",
    "LatentCache",
    "build_clip_cache",
    "build_latent_cache",
    "cache_requirements",
]
