"""Any trained :class:`VideoViT` as a frozen :class:`salt_vla.interfaces.Teacher`."""

from __future__ import annotations

import hashlib
import json

import torch
from torch import nn

from salt_vla.models.video_vit import VideoViT
from salt_vla.weights import ModuleHash


class EncoderTeacher(nn.Module):
    """Frozen teacher over a :class:`VideoViT`: targets are the tokens after block ``layer``.

    Args:
        encoder: the trained encoder (e.g. a stage-1 :class:`~salt_vla.models.pixel_mae.PixelMAE`'s).
        layer: block index whose output is the target (``-1`` = last).
        final_norm: apply the encoder's final LayerNorm to those tokens.
    """

    def __init__(self, encoder: VideoViT, *, layer: int = -1, final_norm: bool = True) -> None:
        super().__init__()
        depth = len(encoder.blocks)
        if not -depth <= layer < depth:
            raise ValueError(f"layer={layer} is outside the encoder's {depth} blocks (use -{depth}..{depth - 1}).")
        self.encoder = encoder.eval().requires_grad_(False)
        self.layer = layer % depth
        self.final_norm = final_norm
        self._weights_hash = ModuleHash()

    def train(self, mode: bool = True) -> EncoderTeacher:  # frozen: always in eval mode
        return super().train(False)

    @property
    def latent_dim(self) -> int:
        return self.encoder.embed_dim

    @property
    def patch_size(self) -> tuple[int, int, int]:
        return self.encoder.patch_size

    def grid(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        return self.encoder.grid(frames, height, width)

    @torch.inference_mode()
    def targets(self, video: torch.Tensor) -> torch.Tensor:
        """Latents ``[B, N, D]`` of ``video: [B, C, T, H, W]`` (uint8 or [0, 1] float)."""
        if self.layer == len(self.encoder.blocks) - 1 and self.final_norm:
            return self.encoder(video)
        return self.encoder.forward_intermediates(video, [self.layer], norm=self.final_norm)[0]

    def fingerprint(self) -> str:
        """Covers the weights (recomputed only when they change), the architecture, the layer and the final norm."""
        spec = json.dumps({"type": "encoder_teacher", "encoder": self.encoder.config.to_dict(), "layer": self.layer,
                           "final_norm": self.final_norm, "weights": self._weights_hash(self.encoder)}, sort_keys=True)
        return "encoder_teacher-" + hashlib.sha256(spec.encode()).hexdigest()[:32]
