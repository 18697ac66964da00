"""A third-party salt-vla plugin: the checkerboard masker.

The student sees the tokens of one colour of a spatial checkerboard (the same in every frame) and
predicts the other colour. Which colour is the context is drawn per clip from the generator.
"""

from __future__ import annotations

import torch

import salt_vla
from salt_vla.masking import MaskBatch, MaskPair


class CheckerboardMasker:
    """Context = one checkerboard colour, target = the other; ``square`` is the side in tokens."""

    def __init__(self, square: int = 1) -> None:
        if square < 1:
            raise ValueError(f"CheckerboardMasker square must be >= 1 token; got {square}.")
        self.square = square

    def __call__(self, batch_size: int, grid: tuple[int, int, int], generator: torch.Generator) -> MaskBatch:
        frames, height, width = grid
        rows = torch.arange(height).view(height, 1) // self.square
        cols = torch.arange(width).view(1, width) // self.square
        colour = ((rows + cols) % 2).bool().expand(frames, height, width).flatten()
        flips = torch.randint(0, 2, (batch_size,), generator=generator).bool()
        context = torch.stack([(colour ^ flip).nonzero().squeeze(1) for flip in flips])
        target = torch.stack([(~(colour ^ flip)).nonzero().squeeze(1) for flip in flips])
        return MaskBatch((MaskPair(context, target),), grid)


@salt_vla.hookimpl
def register_maskers(register):
    register("checkerboard", CheckerboardMasker, description="example plugin: checkerboard context/target")
