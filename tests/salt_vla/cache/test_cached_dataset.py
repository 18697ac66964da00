"""Cached training items: exactly the cached view for the student, the cached latents as targets."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

import salt_vla
from salt_vla.cache import CachedClipDataset, ClipCache, build_clip_cache, build_latent_cache
from salt_vla.data import CorruptVideoWarning, MaskCollate, VideoFolderDataset, write_videos


def test_items_pair_the_recorded_view_with_its_latents(teacher, dataset, tmp_path: Path) -> None:
    cache = build_latent_cache(teacher, dataset, tmp_path, views_per_video=3, progress=False)
    cached = CachedClipDataset(dataset, cache)
    assert len(cached) == 6
    used = set()
    for epoch in range(4):
        cached.set_epoch(epoch)
        for index in range(len(cached)):
            item = cached[index]
            entry = cached.entry(index, epoch)
            assert entry // 3 == index and item["view"] == cache.view(entry)
            assert torch.equal(item["video"], dataset.clip(cache.view(entry)))
            assert torch.equal(item["latents"], cache[entry])
            assert item["label"] == dataset.label(item["view"]) and item["skipped"] == 0
            used.add(entry)
    assert len(used) > 6  # epochs use different cached views


def test_the_clip_cache_serves_the_same_pixels_without_decoding(teacher, dataset, tmp_path: Path) -> None:
    cache = build_latent_cache(teacher, dataset, tmp_path / "latents", views_per_video=2, progress=False)
    clips = build_clip_cache(dataset, tmp_path / "clips", views_from=cache, shard_entries=5, progress=False)
    assert isinstance(clips, ClipCache) and (clips.views == cache.views).all()
    decoded, stored = CachedClipDataset(dataset, cache), CachedClipDataset(dataset, cache, clips=clips)
    for index in range(len(decoded)):
        a, b = decoded[index], stored[index]
        assert torch.equal(a["video"], b["video"]) and torch.equal(a["latents"], b["latents"])
    clips.verify()
    unpaired = build_clip_cache(dataset, tmp_path / "other", progress=False)
    with pytest.raises(ValueError, match="does not hold the views of latent cache .* views_from="):
        CachedClipDataset(dataset, cache, clips=unpaired)


def test_cached_batches_do_not_depend_on_workers(teacher, dataset, tmp_path: Path) -> None:
    cache = build_latent_cache(teacher, dataset, tmp_path, views_per_video=2, progress=False)
    cached = CachedClipDataset(dataset, cache)
    collate = MaskCollate(salt_vla.create_masker("random_tube", ratio=0.5), grid=cache.grid, seed=0)

    def run(workers: int) -> list[dict]:
        loader = DataLoader(cached, batch_size=4, num_workers=workers, collate_fn=collate)
        batches = []
        for epoch in range(2):
            cached.set_epoch(epoch)
            batches.extend(loader)
        return batches

    for a, b in zip(run(0), run(2)):
        assert torch.equal(a["latents"], b["latents"]) and torch.equal(a["video"], b["video"])
        assert a["latents"].shape == (a["video"].shape[0], 8, 32)
        assert torch.equal(a["masks"].pairs[0].target, b["masks"].pairs[0].target)


def test_an_unreadable_cached_video_is_replaced_with_another_entry(teacher, tmp_path: Path, dataset) -> None:
    videos = tmp_path / "videos"
    write_videos(dataset, videos, progress=False)
    folder = VideoFolderDataset(videos, frames=4, stride=2, size=(16, 16), seed=1)
    cache = build_latent_cache(teacher, folder, tmp_path / "cache", progress=False)
    (videos / "000002.mp4").write_bytes(b"damaged after the cache was built")
    cached = CachedClipDataset(VideoFolderDataset(videos, frames=4, stride=2, size=(16, 16), seed=1), cache)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CorruptVideoWarning)
        item = cached[2]
    assert item["skipped"] == 1 and item["index"] == 2 and item["view"].video_index != 2
    assert torch.equal(item["latents"], cache[item["view"].video_index])
