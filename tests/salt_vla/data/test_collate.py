from __future__ import annotations

import pytest
import torch

from salt_vla.data import SyntheticPhysicsDataset, collate_clips


def test_collate_stacks_videos_keeps_views_and_types_labels() -> None:
    dataset = SyntheticPhysicsDataset(num_videos=3, frames=4, size=16)
    samples = [dataset[i] for i in range(3)]
    batch = collate_clips(samples)
    assert batch["video"].shape == (3, 3, 4, 16, 16) and batch["video"].dtype == torch.uint8
    assert batch["index"].tolist() == [0, 1, 2] and batch["view"] == [s["view"] for s in samples]
    assert batch["label"]["num_balls"].dtype == torch.int64 and batch["label"]["speed"].dtype == torch.float32
    assert int(batch["skipped"]) == 0 and "latents" not in batch
    with_latents = collate_clips([{**s, "latents": torch.ones(8, 4)} for s in samples])
    assert with_latents["latents"].shape == (3, 8, 4)


def test_collate_refuses_inconsistent_samples() -> None:
    sample = {"video": torch.zeros(3, 2, 4, 4, dtype=torch.uint8), "index": 0, "view": None, "label": {"a": 1}}
    with pytest.raises(ValueError, match=r"sample 1 \(index 0\) has labels \[\]"):
        collate_clips([sample, {**sample, "label": {}}])
    with pytest.raises(ValueError, match="1 of 2 samples carry latents"):
        collate_clips([sample, {**sample, "latents": torch.zeros(2, 2)}])
    with pytest.raises(ValueError, match="one shape and dtype"):
        collate_clips([sample, {**sample, "video": torch.zeros(3, 2, 4, 5, dtype=torch.uint8)}])
