"""VideoMAE tube masking: one random spatial mask, repeated through time."""

from __future__ import annotations

import torch

from salt_vla.interfaces import Grid
from salt_vla.masking import MaskBatch, MaskPair


class RandomTubeMasker:
    """Mask ``ratio`` of the ``h' x w'`` positions in every token frame (the same positions throughout).

    Every clip gets exactly ``round(ratio * h' * w')`` masked positions, so sizes match across the batch.
    """

    def __init__(self, ratio: float = 0.9) -> None:
        if not 0.0 < ratio < 1.0:
            raise ValueError(f"RandomTubeMasker ratio must lie in (0, 1) (VideoMAE uses 0.9); got {ratio}.")
        self.ratio = float(ratio)

    def __repr__(self) -> str:
        return f"RandomTubeMasker(ratio={self.ratio})"

    def masked_per_frame(self, grid: Grid) -> int:
        plane = grid[1] * grid[2]
        masked = round(self.ratio * plane)
        if not 0 < masked < plane:
            raise ValueError(
                f"RandomTubeMasker ratio={self.ratio} masks {masked} of {plane} positions on grid {grid}; "
                "the context or the target would be empty. Choose a ratio that leaves both non-empty."
            )
        return masked

    def __call__(self, batch_size: int, grid: Grid, generator: torch.Generator) -> MaskBatch:
        grid = tuple(int(g) for g in grid)
        frames, height, width = grid
        plane = height * width
        masked = self.masked_per_frame(grid)
        order = torch.stack([torch.randperm(plane, generator=generator) for _ in range(batch_size)])
        offsets = torch.arange(frames).view(1, frames, 1) * plane

        def tubes(positions: torch.Tensor) -> torch.Tensor:
            spatial = positions.sort(dim=1).values.unsqueeze(1)  # [B, 1, P]
            return (spatial + offsets).flatten(1)  # [B, T' * P], sorted since frames are increasing

        return MaskBatch((MaskPair(tubes(order[:, masked:]), tubes(order[:, :masked])),), grid)
