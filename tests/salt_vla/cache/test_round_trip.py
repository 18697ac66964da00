"""Property: whatever the shapes, dtype, views and sharding, a cache returns exactly what was stored."""

from __future__ import annotations

import math
import tempfile

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salt_vla.cache import build_latent_cache
from salt_vla.cache.records import LatentCodec
from salt_vla.data import SyntheticPhysicsDataset


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    dtype=st.sampled_from(["float16", "bfloat16", "float8_e4m3"]),
    dim=st.integers(1, 24),
    patch=st.sampled_from([(1, 4, 4), (2, 4, 4), (2, 8, 8), (1, 8, 4)]),
    frames=st.sampled_from([2, 4]),
    size=st.sampled_from([(8, 8), (8, 16)]),
    num_videos=st.integers(1, 4),
    views_per_video=st.integers(1, 2),
    shard_entries=st.integers(1, 5),
    batch_size=st.integers(1, 3),
)
def test_cache_round_trip(elementwise_teacher, dtype, dim, patch, frames, size, num_videos, views_per_video, shard_entries, batch_size):
    teacher = elementwise_teacher(dim, patch)
    dataset = SyntheticPhysicsDataset(num_videos=num_videos, frames=frames, size=size, stride=1, video_frames=6,
                                      seed=num_videos)
    with tempfile.TemporaryDirectory() as out:
        cache = build_latent_cache(teacher, dataset, out, views_per_video=views_per_video, dtype=dtype,
                                   batch_size=batch_size, shard_entries=shard_entries, progress=False)
        codec = LatentCodec(dtype, math.prod(teacher.grid(frames, *size)), dim)
        assert len(cache) == num_videos * views_per_video
        assert len(cache.metadata["shards"]) == math.ceil(len(cache) / shard_entries)
        for entry in range(len(cache)):
            live = teacher.targets(dataset.clip(cache.view(entry))[None].float() / 255)
            assert torch.equal(cache[entry], codec.decode(codec.encode(live))[0])
