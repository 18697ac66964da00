"""Random streams that are pure functions of their coordinates, and an epoch every worker sees.

Every random choice in the data layer (a clip's view, a substitute for a corrupt video, a batch's
masks, the cached view picked in an epoch) comes from a generator seeded by :func:`derive_seed`
over a tuple such as ``(VIEW, seed, epoch, index, view_index, attempt)``. Nothing depends on which
worker process serves an item, on how many workers there are, or on what was drawn before, so data
order and resume are exact.
"""

from __future__ import annotations

import numpy as np
import torch

# Stream tags keep the purposes apart: the same (seed, epoch, index) never feeds two of them.
VIEW = 1
SUBSTITUTE = 2
MASKS = 3
CACHED_VIEW = 4
VIDEO = 5


def derive_seed(*parts: int) -> int:
    """A 63-bit seed mixed from non-negative integers (NumPy's ``SeedSequence`` hash)."""
    for part in parts:
        if int(part) < 0:
            raise ValueError(f"Seed parts must be non-negative integers; got {parts}. Use a seed >= 0.")
    low, high = np.random.SeedSequence([int(p) for p in parts]).generate_state(2, np.uint32)
    return (int(high) << 31) ^ int(low)


def generator(*parts: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded by :func:`derive_seed` over ``parts``."""
    return torch.Generator().manual_seed(derive_seed(*parts))


def randint(gen: torch.Generator, low: int, high: int) -> int:
    """An integer in ``[low, high]`` (both inclusive) from ``gen``."""
    if high < low:
        raise ValueError(f"randint: empty range [{low}, {high}].")
    return int(torch.randint(low, high + 1, (), generator=gen))


def uniform(gen: torch.Generator, low: float, high: float) -> float:
    """A float in ``[low, high)`` from ``gen``."""
    return low + (high - low) * float(torch.rand((), generator=gen, dtype=torch.float64))


class SharedEpoch:
    """An epoch counter in shared memory: ``set`` in the main process, read in every worker.

    A ``DataLoader`` with ``persistent_workers=True`` keeps its copies of the dataset between epochs,
    so a plain attribute set in the main process would never reach them. This counter lives in a
    shared-memory tensor, which forked workers inherit and spawned workers receive by handle.
    """

    def __init__(self, epoch: int = 0) -> None:
        self._value = torch.zeros((), dtype=torch.int64).share_memory_()
        self.set(epoch)

    def set(self, epoch: int) -> None:
        if int(epoch) < 0:
            raise ValueError(f"epoch must be >= 0; got {epoch}.")
        self._value.fill_(int(epoch))

    @property
    def value(self) -> int:
        return int(self._value)
