"""V-JEPA 3D multi-block masking.

Each :class:`BlockSpec` yields one ``(context, target)`` pair per clip: ``num_blocks`` spatio-temporal
boxes of one sampled size are placed at random; their union is the target, the rest of the grid
(restricted to the first ``max_temporal_keep`` of the frames) is the context. The block size is drawn
once per batch and the positions per clip, as in V-JEPA; sizes are then equalised across the batch by
random subsampling (not truncation, which would bias targets toward early tokens).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from salt_vla.interfaces import Grid
from salt_vla.masking import MaskBatch, MaskPair

_MAX_TRIES = 100


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


@dataclass(frozen=True)
class BlockSpec:
    """One mask set.

    Attributes:
        spatial_scale: ``(low, high)`` fraction of the ``h' x w'`` token plane one block covers.
        temporal_scale: ``(low, high)`` fraction of the ``t'`` token frames one block spans.
        aspect_ratio: ``(low, high)`` block height / width.
        num_blocks: blocks per clip; their union is the target.
        max_temporal_keep: fraction of frames (from the start) the context may use; 1.0 = all.
    """

    spatial_scale: tuple[float, float] = (0.15, 0.15)
    temporal_scale: tuple[float, float] = (1.0, 1.0)
    aspect_ratio: tuple[float, float] = (0.75, 1.5)
    num_blocks: int = 8
    max_temporal_keep: float = 1.0

    def __post_init__(self) -> None:
        for name in ("spatial_scale", "temporal_scale", "aspect_ratio"):
            value = tuple(getattr(self, name))
            object.__setattr__(self, name, value)
            if len(value) != 2 or not value[0] <= value[1]:
                raise ValueError(f"BlockSpec.{name} must be (low, high) with low <= high; got {value}.")
        for name in ("spatial_scale", "temporal_scale"):
            low, high = getattr(self, name)
            if not 0.0 < low <= high <= 1.0:
                raise ValueError(f"BlockSpec.{name} must lie in (0, 1]; got {(low, high)}.")
        if self.aspect_ratio[0] <= 0:
            raise ValueError(f"BlockSpec.aspect_ratio must be positive; got {self.aspect_ratio}.")
        if self.num_blocks < 1:
            raise ValueError(f"BlockSpec.num_blocks must be >= 1; got {self.num_blocks}.")
        if not 0.0 < self.max_temporal_keep <= 1.0:
            raise ValueError(f"BlockSpec.max_temporal_keep must lie in (0, 1]; got {self.max_temporal_keep}.")

    def block_size(self, grid: Grid, generator: torch.Generator) -> tuple[int, int, int]:
        """Draw one block size ``(t, h, w)`` in tokens, each at least 1 and at most the grid."""
        frames, height, width = grid
        t = max(1, min(frames, round(frames * _uniform(generator, *self.temporal_scale))))
        area = height * width * _uniform(generator, *self.spatial_scale)
        ratio = _uniform(generator, *self.aspect_ratio)
        h = max(1, min(height, round(math.sqrt(area * ratio))))
        w = max(1, min(width, round(math.sqrt(area / ratio))))
        return t, h, w

    def context_frames(self, grid: Grid) -> int:
        return int(grid[0] * self.max_temporal_keep)

    def check(self, grid: Grid) -> None:
        """Raise ``ValueError`` naming the parameter if this spec can never give a context and a target."""
        frames, height, width = grid
        if self.context_frames(grid) < 1:
            raise ValueError(
                f"BlockSpec.max_temporal_keep={self.max_temporal_keep} leaves no context frame on a grid with "
                f"{frames} token frames; use at least {1 / frames:.3g}."
            )
        t_min = max(1, min(frames, round(frames * self.temporal_scale[0])))
        area_min = height * width * self.spatial_scale[0]
        # The smallest block over all aspect ratios: if even it covers the whole grid, no context is possible.
        if t_min >= frames and area_min >= height * width:
            raise ValueError(
                f"BlockSpec spatial_scale={self.spatial_scale} with temporal_scale={self.temporal_scale} makes one "
                f"block cover the whole {grid} grid, so the context is always empty; lower spatial_scale."
            )


VJEPA_SPECS: tuple[BlockSpec, ...] = (
    BlockSpec(spatial_scale=(0.15, 0.15), temporal_scale=(1.0, 1.0), aspect_ratio=(0.75, 1.5), num_blocks=8),
    BlockSpec(spatial_scale=(0.7, 0.7), temporal_scale=(1.0, 1.0), aspect_ratio=(0.75, 1.5), num_blocks=2),
)
"""V-JEPA's default pair of mask sets (short-range: 8 small blocks; long-range: 2 large blocks).

Measured target ratio on an 8x14x14 grid (16x224x224 clips, tubelet 2x16x16), 200 draws: per clip
short-range 0.63 (0.42-0.83), long-range 0.81 (0.66-0.97); after equalising sizes over a batch of 8,
0.52 and 0.72 on average. The context is the rest: roughly 10-40% of the tokens.
"""


def _equal_size_rows(member: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``member: [B, N]`` bool -> ``[B, K]`` sorted indices, ``K`` the smallest row count; rows with more members
    keep a random subset (not the first ``K``, which would bias toward early tokens)."""
    keep = int(member.sum(dim=1).min())
    scores = torch.rand(member.shape, generator=generator)
    scores[~member] = 2.0  # never chosen before a member
    return scores.topk(keep, dim=1, largest=False).indices.sort(dim=1).values


class MultiBlockMasker:
    """V-JEPA 3D multi-block masker; one :class:`MaskPair` per :class:`BlockSpec`.

    Args:
        specs: the mask sets.
        grid: optional token grid to validate against at construction (otherwise at first use).
    """

    def __init__(self, specs: Sequence[BlockSpec], grid: Grid | None = None) -> None:
        if not specs:
            raise ValueError("MultiBlockMasker needs at least one BlockSpec.")
        self.specs = tuple(specs)
        self._checked: set[Grid] = set()
        if grid is not None:
            self._check(tuple(grid))

    def __repr__(self) -> str:
        return f"MultiBlockMasker(specs={list(self.specs)!r})"

    def _check(self, grid: Grid) -> None:
        if grid in self._checked:
            return
        if len(grid) != 3 or min(grid) < 1:
            raise ValueError(f"grid must be (t', h', w') of positive ints; got {grid}.")
        for spec in self.specs:
            spec.check(grid)
            # A trial draw catches specs that are possible in principle but fail in practice.
            self._draw(spec, 4, grid, torch.Generator().manual_seed(0))
        self._checked.add(grid)

    def _covered(self, spec: BlockSpec, size: tuple[int, int, int], grid: Grid, count: int,
                 generator: torch.Generator) -> torch.Tensor:
        """``[count, t', h', w']`` bool: the union of ``num_blocks`` boxes of ``size`` per clip (vectorised)."""
        t, h, w = size
        shape = (count, spec.num_blocks, 1)
        spans = []
        for extent, length in zip(grid, (t, h, w)):
            start = torch.randint(0, extent - length + 1, shape, generator=generator)
            position = torch.arange(extent).view(1, 1, extent)
            spans.append((position >= start) & (position < start + length))  # [count, blocks, extent]
        in_t, in_h, in_w = spans
        boxes = in_t[..., :, None, None] & in_h[..., None, :, None] & in_w[..., None, None, :]
        return boxes.any(dim=1)

    def _draw(self, spec: BlockSpec, batch_size: int, grid: Grid, generator: torch.Generator) -> MaskPair:
        size = spec.block_size(grid, generator)
        context = ~self._covered(spec, size, grid, batch_size, generator)
        context[:, spec.context_frames(grid):] = False
        for _ in range(_MAX_TRIES):  # redraw only the clips whose context came out empty (rare)
            empty = ~context.flatten(1).any(dim=1)
            if not empty.any():
                break
            fresh = ~self._covered(spec, size, grid, int(empty.sum()), generator)
            fresh[:, spec.context_frames(grid):] = False
            context[empty] = fresh
        else:
            raise ValueError(
                f"Could not draw a non-empty context in {_MAX_TRIES} tries on grid {grid} with num_blocks="
                f"{spec.num_blocks}, block size {size} (spatial_scale={spec.spatial_scale}, temporal_scale="
                f"{spec.temporal_scale}); lower num_blocks or spatial_scale."
            )
        context = context.flatten(1)
        return MaskPair(_equal_size_rows(context, generator), _equal_size_rows(~context, generator))

    def __call__(self, batch_size: int, grid: Grid, generator: torch.Generator) -> MaskBatch:
        """One pair per spec: ``context [B, Kc]`` and ``target [B, Kt]`` int64, sorted, disjoint per clip."""
        grid = tuple(int(g) for g in grid)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; got {batch_size}.")
        self._check(grid)
        return MaskBatch(tuple(self._draw(spec, batch_size, grid, generator) for spec in self.specs), grid)
