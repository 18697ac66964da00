"""Mask index sets and the one helper that applies them.

Masks are index tensors, never boolean maps: a context index ``[B, Kc]`` lists the tokens the
student sees, a target index ``[B, Kt]`` the tokens the predictor must fill in. A masker can return
several pairs per clip (V-JEPA's small-block and large-block sets); each pair is one prediction
problem with its own loss term.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from salt_vla.grid import Grid


def apply_masks(tokens: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Gather the tokens named by ``index``.

    Args:
        tokens: ``[B, N, D]``.
        index: ``[B, K]`` int64 indices into ``N``.

    Returns:
        ``[B, K, D]``.
    """
    if index.ndim != 2 or index.shape[0] != tokens.shape[0]:
        raise ValueError(
            f"apply_masks expects index [B, K] with B={tokens.shape[0]}; got index shape {tuple(index.shape)}."
        )
    return torch.gather(tokens, 1, index.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))


@dataclass(frozen=True)
class MaskPair:
    """One prediction problem: ``context: [B, Kc]`` visible and ``target: [B, Kt]`` masked token indices."""

    context: torch.Tensor
    target: torch.Tensor

    def to(self, device: torch.device | str, non_blocking: bool = False) -> MaskPair:
        return MaskPair(
            self.context.to(device, non_blocking=non_blocking), self.target.to(device, non_blocking=non_blocking)
        )

    def pin_memory(self) -> MaskPair:
        return MaskPair(self.context.pin_memory(), self.target.pin_memory())


@dataclass(frozen=True)
class MaskBatch:
    """The masks for one batch: one or more :class:`MaskPair` over a token ``grid``."""

    pairs: tuple[MaskPair, ...]
    grid: Grid

    def __post_init__(self) -> None:
        if not self.pairs:
            raise ValueError("MaskBatch needs at least one (context, target) pair.")
        batch = self.pairs[0].context.shape[0]
        for i, pair in enumerate(self.pairs):
            for role, index in (("context", pair.context), ("target", pair.target)):
                if index.ndim != 2 or index.shape[0] != batch or index.shape[1] == 0:
                    raise ValueError(
                        f"mask pair {i} {role} must be a non-empty [B={batch}, K] index; got {tuple(index.shape)}."
                    )
                if index.dtype != torch.int64:
                    raise ValueError(f"mask pair {i} {role} must be int64; got {index.dtype}.")
        # Index ranges are checked by `validate`, which needs a host-device sync.

    def __len__(self) -> int:
        return len(self.pairs)

    def __iter__(self) -> Iterator[MaskPair]:
        return iter(self.pairs)

    @property
    def batch_size(self) -> int:
        return int(self.pairs[0].context.shape[0])

    def to(self, device: torch.device | str, non_blocking: bool = False) -> MaskBatch:
        return MaskBatch(tuple(p.to(device, non_blocking) for p in self.pairs), self.grid)

    def pin_memory(self) -> MaskBatch:
        """Called by ``DataLoader(pin_memory=True)`` on custom batch members."""
        return MaskBatch(tuple(p.pin_memory() for p in self.pairs), self.grid)

    def validate(self) -> None:
        """Check index ranges and context/target disjointness (host sync; for tests and debugging)."""
        total = self.grid[0] * self.grid[1] * self.grid[2]
        for i, pair in enumerate(self.pairs):
            for role, index in (("context", pair.context), ("target", pair.target)):
                low, high = int(index.min()), int(index.max())
                if low < 0 or high >= total:
                    raise ValueError(f"mask pair {i} {role} indices span [{low}, {high}]; grid {self.grid} has {total}.")
            seen = torch.zeros(pair.context.shape[0], total, dtype=torch.bool)
            seen.scatter_(1, pair.context.cpu(), True)
            if seen.gather(1, pair.target.cpu()).any():
                raise ValueError(f"mask pair {i}: context and target share tokens.")
