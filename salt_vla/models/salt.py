"""Masked latent prediction: a student encodes the context, a predictor fills in the targets.

:class:`MaskedPredictor` is the whole stage-2 SALT model (targets = frozen-teacher latents) and, with
pixel targets, the stage-1 pixel teacher's training model too. The student's patch embedding runs
once per clip; each mask set then runs the transformer over its own context tokens only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from salt_vla.masking import MaskBatch, apply_masks
from salt_vla.models.predictor import Predictor
from salt_vla.models.video_vit import VideoViT
from salt_vla.objectives import LatentLoss


@dataclass
class PredictionOutput:
    """``loss``: mean of the per-mask-set losses; ``per_set``: one scalar per mask set (for logging);
    ``predictions``/``targets``: ``[B, Kt, D]`` per set, kept only when asked (diagnostics)."""

    loss: torch.Tensor
    per_set: list[torch.Tensor]
    predictions: list[torch.Tensor] = field(default_factory=list)
    targets: list[torch.Tensor] = field(default_factory=list)


class MaskedPredictor(nn.Module):
    """``forward(video [B, C, T, H, W], masks, targets [B, N, D_t]) -> PredictionOutput``."""

    def __init__(self, student: VideoViT, predictor: Predictor, loss: Callable[..., torch.Tensor] | None = None) -> None:
        """``loss(prediction, target) -> scalar``: a registered loss (default L1, :class:`LatentLoss`)."""
        super().__init__()
        if predictor.config.in_dim != student.embed_dim:
            raise ValueError(f"predictor in_dim={predictor.config.in_dim} must equal the student's embed_dim="
                             f"{student.embed_dim}.")
        self.student = student
        self.predictor = predictor
        self.loss = loss or LatentLoss()

    def forward(self, video: torch.Tensor, masks: MaskBatch, targets: torch.Tensor, *,
                keep_outputs: bool = False) -> PredictionOutput:
        tokens = self.student.embed(video)
        grid = self.student.grid(*video.shape[2:])
        if tuple(masks.grid) != grid:
            raise ValueError(f"masks were drawn for grid {masks.grid} but the video's token grid is {grid}.")
        expected = grid[0] * grid[1] * grid[2]
        if targets.shape[:2] != (video.shape[0], expected):
            raise ValueError(f"targets must be [B={video.shape[0]}, N={expected}, D]; got {tuple(targets.shape)}. "
                             "Teacher and student token grids disagree (patch/tubelet size or clip shape).")
        output = PredictionOutput(loss=torch.zeros((), device=tokens.device), per_set=[])
        for index, pair in enumerate(masks):
            context = self.student.forward_tokens(apply_masks(tokens, pair.context))
            prediction = self.predictor(context, pair.context, pair.target, grid, index)
            target = apply_masks(targets, pair.target)
            loss = self.loss(prediction, target)
            output.per_set.append(loss)
            if keep_outputs:
                output.predictions.append(prediction.detach())
                normalize = getattr(self.loss, "normalize_targets", None)  # a plugin loss may compare raw targets
                output.targets.append((normalize(target) if normalize else target).detach())
        output.loss = torch.stack(output.per_set).mean()
        return output
