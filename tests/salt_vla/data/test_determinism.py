"""Data order, views and masks depend on (seed, epoch, index) only, never on workers."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from torch.utils.data import DataLoader

import salt_vla
from salt_vla.data import MaskCollate, VideoFolderDataset


def epochs(dataset, collate, *, workers: int, persistent: bool = False, count: int = 2) -> list[dict]:
    loader = DataLoader(dataset, batch_size=3, num_workers=workers, collate_fn=collate,
                        persistent_workers=persistent, shuffle=False)
    batches = []
    for epoch in range(count):
        dataset.set_epoch(epoch)
        batches.extend(loader)
    return batches


def assert_same(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert torch.equal(x["video"], y["video"]) and torch.equal(x["index"], y["index"])
        assert x["view"] == y["view"]
        for p, q in zip(x["masks"], y["masks"]):
            assert torch.equal(p.context, q.context) and torch.equal(p.target, q.target)


def test_batches_are_identical_for_any_worker_count(h264_dir: Path) -> None:
    dataset = VideoFolderDataset(h264_dir, frames=4, stride=2, size=(32, 32), seed=1)
    collate = MaskCollate(salt_vla.create_masker("multiblock_vjepa"), grid=(2, 8, 8), seed=2)
    reference = epochs(dataset, collate, workers=0)
    assert_same(reference, epochs(dataset, collate, workers=2))
    # Persistent workers keep their dataset copies: the shared epoch must still reach them.
    assert_same(reference, epochs(dataset, collate, workers=2, persistent=True))
    assert [b["view"] for b in reference[:2]] != [b["view"] for b in reference[2:]]  # epochs differ


def test_items_do_not_depend_on_access_order(h264_dir: Path) -> None:
    dataset = VideoFolderDataset(h264_dir, frames=4, stride=2, size=(32, 32), seed=1)
    forward = [dataset[i]["view"] for i in range(len(dataset))]
    backward = [dataset[i]["view"] for i in reversed(range(len(dataset)))][::-1]
    assert forward == backward
    copy = pickle.loads(pickle.dumps(dataset))
    assert copy[4]["view"] == forward[4]


def test_masks_depend_on_the_batch_indices_only() -> None:
    collate = MaskCollate(salt_vla.create_masker("multiblock_vjepa"), grid=(2, 8, 8), seed=2)
    clone = pickle.loads(pickle.dumps(collate))
    samples = [{"video": torch.zeros(3, 4, 8, 8, dtype=torch.uint8), "index": i, "view": None, "label": {}}
               for i in (5, 9)]
    first, again = collate(samples), clone(samples)
    other = collate([{**s, "index": s["index"] + 1} for s in samples])
    assert all(torch.equal(p.target, q.target) for p, q in zip(first["masks"], again["masks"]))
    assert not all(torch.equal(p.target, q.target) for p, q in zip(first["masks"], other["masks"]))
