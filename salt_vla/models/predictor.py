"""The SALT/V-JEPA predictor: a narrow transformer that fills in target tokens from context tokens.

Context tokens (the student's output) are projected to the predictor width; each target position
gets a learned mask token plus its position embedding; the transformer sees both and the target
outputs are projected to the teacher's latent width. Several mask sets can use separate mask tokens.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from salt_vla.hub import HubMixin, register_model_type
from salt_vla.models.layers import trunc_normal_
from salt_vla.models.video_vit import PositionTable, make_blocks, run_blocks


@dataclass(frozen=True)
class PredictorConfig:
    """Architecture of a :class:`Predictor`.

    Attributes:
        in_dim: width of the student tokens it reads.
        out_dim: width of the teacher latents it predicts.
        dim, depth, num_heads, mlp_ratio: the narrow transformer (SALT/V-JEPA default 384 wide, 12 deep).
        num_mask_tokens: learned mask tokens; mask set ``k`` uses token ``k % num_mask_tokens``.
    """

    in_dim: int
    out_dim: int
    dim: int = 384
    depth: int = 12
    num_heads: int = 6
    mlp_ratio: float = 4.0
    num_mask_tokens: int = 2
    drop_path_rate: float = 0.0

    def __post_init__(self) -> None:
        if self.dim % self.num_heads or self.dim % 2:
            raise ValueError(f"PredictorConfig: dim={self.dim} must be even and divisible by num_heads={self.num_heads}.")
        if self.num_mask_tokens < 1:
            raise ValueError(f"PredictorConfig: num_mask_tokens must be >= 1; got {self.num_mask_tokens}.")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Predictor(nn.Module, HubMixin):
    """``forward(context [B, Kc, D_in], context_idx [B, Kc], target_idx [B, Kt], grid, mask_index) -> [B, Kt, D_out]``."""

    def __init__(self, config: PredictorConfig, *, grad_checkpointing: bool = False) -> None:
        super().__init__()
        self.config = config
        self.grad_checkpointing = grad_checkpointing
        self.embed = nn.Linear(config.in_dim, config.dim)
        self.mask_tokens = nn.Parameter(torch.zeros(config.num_mask_tokens, 1, 1, config.dim))
        trunc_normal_(self.mask_tokens, std=0.02)
        self.position_table = PositionTable(config.dim)
        self.blocks = make_blocks(config.dim, config.depth, config.num_heads, config.mlp_ratio,
                                  drop_path_rate=config.drop_path_rate)
        self.norm = nn.LayerNorm(config.dim, eps=1e-6)
        self.proj = nn.Linear(config.dim, config.out_dim)
        for layer in (self.embed, self.proj):
            trunc_normal_(layer.weight, std=0.02)
            nn.init.zeros_(layer.bias)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.grad_checkpointing = enable

    def forward(self, context: torch.Tensor, context_idx: torch.Tensor, target_idx: torch.Tensor,
                grid: tuple[int, int, int], mask_index: int = 0) -> torch.Tensor:
        if context.shape[:2] != context_idx.shape:
            raise ValueError(f"context tokens {tuple(context.shape)} do not match context_idx {tuple(context_idx.shape)}.")
        if target_idx.shape[0] != context.shape[0]:
            raise ValueError(f"target_idx batch {target_idx.shape[0]} != context batch {context.shape[0]}.")
        x = self.embed(context)
        pos = self.position_table(grid, x.device, x.dtype).squeeze(0)  # [N, dim]
        x = x + pos[context_idx]
        queries = self.mask_tokens[mask_index % self.config.num_mask_tokens].to(x.dtype) + pos[target_idx]
        tokens = torch.cat([x, queries], dim=1)
        tokens = run_blocks(self.blocks, tokens, checkpointing=self.grad_checkpointing)
        return self.proj(self.norm(tokens[:, context.shape[1]:]))


register_model_type("predictor", Predictor, lambda c: Predictor(PredictorConfig(**c)))
