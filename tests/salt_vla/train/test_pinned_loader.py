"""The pinned-memory cache loader yields exactly the DataLoader's batches, masks included."""

from __future__ import annotations

import torch

import salt_vla
from salt_vla.cache import CachedClipDataset, ClipCache, LatentCache, build_clip_cache, build_latent_cache
from salt_vla.data import MaskCollate
from salt_vla.models import EncoderTeacher, VideoViT, VideoViTConfig
from salt_vla.train.pinned_loader import PinnedCacheLoader
from salt_vla.train.sampler import ResumableBatchSampler


def test_pinned_loader_matches_dataloader(tmp_path):
    dataset = salt_vla.create_dataset("synthetic_physics", num_videos=12, frames=4, size=32)
    teacher = EncoderTeacher(VideoViT(VideoViTConfig(embed_dim=32, depth=1, num_heads=2, patch_size=8,
                                                     tubelet_size=2, num_frames=4, img_size=32)))
    latents = build_latent_cache(teacher, dataset, tmp_path / "latents", views_per_video=2, progress=False)
    build_clip_cache(dataset, tmp_path / "clips", views_from=latents, progress=False)
    cached = CachedClipDataset(dataset, LatentCache(tmp_path / "latents"), clips=ClipCache(tmp_path / "clips"))
    collate = MaskCollate(salt_vla.create_masker("multiblock_vjepa"), (2, 4, 4), seed=3)

    def batches(loader_kind: str, epoch: int):
        sampler = ResumableBatchSampler(len(cached), 4, seed=1)
        sampler.set_position(epoch, 1)  # resume mid-epoch: the first batch is skipped
        cached.set_epoch(epoch)
        if loader_kind == "pinned":
            return list(PinnedCacheLoader(cached, sampler, collate, threads=2, prefetch=1))
        return list(torch.utils.data.DataLoader(cached, batch_sampler=sampler, collate_fn=collate))

    for epoch in (0, 1):
        fast, reference = batches("pinned", epoch), batches("dataloader", epoch)
        assert len(fast) == len(reference) == 2
        for a, b in zip(fast, reference):
            assert torch.equal(a["index"], b["index"])
            assert torch.equal(a["video"], b["video"]) and torch.equal(a["latents"], b["latents"])
            for pa, pb in zip(a["masks"], b["masks"]):
                assert torch.equal(pa.context, pb.context) and torch.equal(pa.target, pb.target)
