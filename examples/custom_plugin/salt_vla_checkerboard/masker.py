"""The checkerboard masker itself (imported only when ``create_masker("checkerboard")`` runs: it needs torch).

Shape rules every masker follows (``salt_vla.masking``):

- tokens are numbered ``t * H * W + h * W + w`` over the token ``grid = (T, H, W)`` it receives;
- each ``MaskPair(context, target)`` holds int64 index tensors ``context: [B, Kc]`` (tokens the student sees)
  and ``target: [B, Kt]`` (tokens to predict), both non-empty, ``Kc`` and ``Kt`` the same for every clip of
  the batch, context and target disjoint;
- ``MaskBatch(pairs, grid)`` holds one or more pairs (each is one loss term) and the grid; its constructor
  checks shapes and dtypes, ``validate()`` also ranges and disjointness (a host sync: tests only);
- the draw depends only on ``generator`` (never torch's global RNG), so a resumed run masks identically.
"""

from __future__ import annotations

import torch

from salt_vla.masking import MaskBatch, MaskPair


class CheckerboardMasker:
    """Context = one checkerboard colour, target = the other; ``square`` is the side in tokens.

    The student sees the tokens of one colour of a spatial checkerboard (the same in every frame) and
    predicts the other colour. Which colour is the context is drawn per clip from the generator.
    """

    def __init__(self, square: int = 1) -> None:
        if square < 1:
            raise ValueError(f"CheckerboardMasker square must be >= 1 token; got {square}.")
        self.square = square

    def __call__(self, batch_size: int, grid: tuple[int, int, int], generator: torch.Generator) -> MaskBatch:
        frames, height, width = grid
        rows = torch.arange(height).view(height, 1) // self.square
        cols = torch.arange(width).view(1, width) // self.square
        colour = ((rows + cols) % 2).bool().expand(frames, height, width).flatten()  # [T * H * W]
        if colour.all() or not colour.any():
            raise ValueError(f"A {self.square}-token checkerboard on grid {grid} has one colour only; "
                             "use a smaller square.")
        flips = torch.randint(0, 2, (batch_size,), generator=generator).bool()
        context = torch.stack([(colour ^ flip).nonzero().squeeze(1) for flip in flips])     # [B, Kc] int64
        target = torch.stack([(~(colour ^ flip)).nonzero().squeeze(1) for flip in flips])   # [B, Kt] int64
        return MaskBatch((MaskPair(context, target),), grid)
