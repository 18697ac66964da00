"""Shared memory for DataLoader workers: check it before it runs out.

Worker processes hand batches to the trainer through ``/dev/shm``. When it is full, a worker writing
a batch is killed by ``SIGBUS`` ("Bus error", "DataLoader worker ... killed by signal: Bus error"),
which is what the seed runs hit at batch 64: a Docker container gets 64 MiB of ``/dev/shm`` by
default, and 64 clips of cached latents (``[1568, 768]`` fp16) and ``16x224x224`` clips are about
0.29 GiB a batch (0.14 GiB each), times ``num_workers x prefetch_factor`` batches in flight.

:func:`check_shared_memory` turns that crash into an error with the arithmetic and the fixes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch

SHM_PATH = "/dev/shm"
GIB = 1 << 30


class SharedMemoryError(RuntimeError):
    """Not enough shared memory for the DataLoader configuration."""


def nbytes(batch: Any) -> int:
    """Bytes of all tensors in a (nested) batch."""
    if isinstance(batch, torch.Tensor):
        return batch.numel() * batch.element_size()
    if isinstance(batch, Mapping):
        return sum(nbytes(v) for v in batch.values())
    if isinstance(batch, Sequence) and not isinstance(batch, (str, bytes)):
        return sum(nbytes(v) for v in batch)
    return 0


def shared_memory_needed(batch_bytes: int, num_workers: int, prefetch_factor: int = 2, margin: float = 1.25) -> int:
    """Bytes of shared memory ``num_workers`` workers with ``prefetch_factor`` batches each can hold at once."""
    if num_workers <= 0:
        return 0
    return int(batch_bytes * num_workers * prefetch_factor * margin)


def check_shared_memory(batch_bytes: int, num_workers: int, prefetch_factor: int = 2, *,
                        path: str | os.PathLike[str] = SHM_PATH) -> dict[str, float]:
    """Raise :class:`SharedMemoryError` if ``path`` cannot hold the batches the workers keep in flight.

    Args:
        batch_bytes: size of one batch (:func:`nbytes` of a collated batch).
        num_workers, prefetch_factor: the DataLoader's.
        path: the shared-memory filesystem.

    Returns:
        ``{"needed_gib": ..., "free_gib": ...}`` when it fits (``free_gib`` is ``inf`` where ``path``
        does not exist, e.g. macOS, which uses no shared-memory filesystem for this).
    """
    needed = shared_memory_needed(batch_bytes, num_workers, prefetch_factor)
    try:
        stats = os.statvfs(path)
    except (OSError, AttributeError):
        return {"needed_gib": needed / GIB, "free_gib": float("inf")}
    free = stats.f_bavail * stats.f_frsize
    if needed > free:
        raise SharedMemoryError(
            f"DataLoader workers need about {needed / GIB:.2f} GiB of shared memory ({num_workers} workers x "
            f"{prefetch_factor} prefetched batches x {batch_bytes / GIB:.3f} GiB per batch, +25%), but {path} "
            f"has {free / GIB:.2f} GiB free; workers would die with 'Bus error'. Fix one of: give the "
            f"container more (docker run --shm-size=16g), lower num_workers or prefetch_factor, or use a "
            f"smaller batch (gradient accumulation keeps the effective batch)."
        )
    return {"needed_gib": needed / GIB, "free_gib": free / GIB}
