"""A cache built for something else is refused with one message listing every mismatch."""

from __future__ import annotations

from pathlib import Path

import pytest

from salt_vla.cache import CachedClipDataset, CacheMismatchError, build_latent_cache, cache_requirements
from salt_vla.data import SyntheticPhysicsDataset


def test_every_mismatching_field_is_listed_in_one_error(teacher, dataset, make_teacher, tmp_path: Path) -> None:
    cache = build_latent_cache(teacher, dataset, tmp_path, progress=False)
    cache.check_compatible(cache_requirements(teacher=teacher, dataset=dataset, grid=(2, 2, 2), dtype="float16"))
    cache.check_compatible(cache_requirements(teacher=teacher.fingerprint(), views_per_video=1))

    other_data = SyntheticPhysicsDataset(num_videos=6, frames=4, size=(16, 16), seed=4, video_frames=12, stride=1)
    run = cache_requirements(teacher=make_teacher(dim=16, seed=1), dataset=other_data, grid=(4, 2, 2),
                             dtype="bfloat16")
    with pytest.raises(CacheMismatchError) as caught:
        cache.check_compatible(run)
    fields = [line.split(":")[0] for line in caught.value.mismatches]
    assert fields == ["teacher", "latent_dim", "dataset.list_hash", "views.stride", "grid", "dtype"]
    message = str(caught.value)
    assert "6 differences" in message and "views.stride: cache 2, run 1" in message
    assert "grid: cache [2, 2, 2], run [4, 2, 2]" in message and "Rebuild the cache" in message
    with pytest.raises(ValueError, match=r"Unknown cache fields \['teacher_name'\]; comparable fields"):
        cache.check_compatible({"teacher_name": "x"})
    with pytest.raises(CacheMismatchError, match="dataset.list_hash"):
        CachedClipDataset(other_data, cache)


def test_resuming_with_other_settings_is_refused(teacher, dataset, tmp_path: Path) -> None:
    build_latent_cache(teacher, dataset, tmp_path, shard_entries=3, progress=False)
    with pytest.raises(CacheMismatchError, match=r"(?s)other settings.*dtype: cache 'float16', run 'bfloat16'.*"
                                                 r"shard_entries: cache 3, run 2.*Use a new output directory"):
        build_latent_cache(teacher, dataset, tmp_path, dtype="bfloat16", shard_entries=2, progress=False)
