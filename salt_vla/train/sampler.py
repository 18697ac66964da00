"""Deterministic, resumable, rank-aware batch order.

Epoch ``e``'s order is a permutation drawn from ``(seed, e)``; each rank takes every ``world_size``-th
batch-sized slice. A run resumed at ``(epoch, batch)`` continues with exactly the batches the
uninterrupted run would have used, whatever the number of DataLoader workers.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

from salt_vla.data.seeding import generator

ORDER = 6  # stream tag, distinct from the data layer's


class ResumableBatchSampler(Sampler[list[int]]):
    """Batches of dataset indices for one rank.

    Args:
        length: dataset size.
        batch_size: indices per batch (per rank).
        seed: root seed of the order.
        shuffle: permute each epoch (else 0..length-1 in order).
        rank, world_size: this process's share; every rank gets the same number of batches.
    """

    def __init__(self, length: int, batch_size: int, *, seed: int = 0, shuffle: bool = True,
                 rank: int = 0, world_size: int = 1) -> None:
        if length < batch_size * world_size:
            raise ValueError(
                f"A dataset of {length} clips cannot fill one global batch of {batch_size} x {world_size} processes; "
                "use more data or a smaller batch_size."
            )
        self.length, self.batch_size, self.seed, self.shuffle = length, batch_size, seed, shuffle
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self.start_batch = 0

    def __len__(self) -> int:
        """Batches per epoch for this rank (incomplete global batches are dropped)."""
        return self.length // (self.batch_size * self.world_size)

    def set_position(self, epoch: int, batch: int) -> None:
        """Start the next iteration at ``batch`` of ``epoch`` (batches already consumed are skipped)."""
        if not 0 <= batch <= len(self):
            raise ValueError(f"batch {batch} is outside epoch length {len(self)}.")
        self.epoch, self.start_batch = epoch, batch

    def order(self, epoch: int) -> torch.Tensor:
        if self.shuffle:
            return torch.randperm(self.length, generator=generator(ORDER, self.seed, epoch))
        return torch.arange(self.length)

    def __iter__(self) -> Iterator[list[int]]:
        order = self.order(self.epoch)
        global_batch = self.batch_size * self.world_size
        for batch in range(self.start_batch, len(self)):
            start = batch * global_batch + self.rank * self.batch_size
            yield order[start:start + self.batch_size].tolist()
        self.start_batch = 0
