"""A SALT student as a vision backbone for policies: frozen or fine-tuned, tokens or pooled.

>>> backbone = load_backbone("hf-hub:org/salt-vitb", pooling="mean", trainable=False)  # doctest: +SKIP
>>> features = backbone(video)          # video: [B, C, T, H, W] uint8 or [0, 1] -> [B, D]

A frozen backbone stays in eval mode and runs without autograd, so it adds no memory for
gradients; a trainable one is an ordinary ``nn.Module`` to put in the policy's optimizer.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from salt_vla.models.video_vit import VideoViT

POOLINGS = ("mean", "tokens", "time")


class VideoBackbone(nn.Module):
    """Wrap a :class:`VideoViT` as a feature extractor.

    Args:
        encoder: the student (or any VideoViT).
        pooling: ``"mean"`` -> ``[B, D]``; ``"tokens"`` -> ``[B, N, D]``; ``"time"`` -> ``[B, t', D]`` (mean over space).
        trainable: ``False`` freezes the weights and runs under ``torch.no_grad`` in eval mode.
    """

    def __init__(self, encoder: VideoViT, *, pooling: str = "mean", trainable: bool = False) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling={pooling!r} is not one of {', '.join(POOLINGS)}.")
        self.encoder = encoder
        self.pooling = pooling
        self.trainable = trainable
        encoder.requires_grad_(trainable)
        if not trainable:
            encoder.eval()

    @property
    def embed_dim(self) -> int:
        return self.encoder.embed_dim

    def train(self, mode: bool = True) -> VideoBackbone:
        super().train(mode)
        if not self.trainable:
            self.encoder.eval()
        return self

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        with torch.set_grad_enabled(self.trainable and torch.is_grad_enabled()):
            tokens = self.encoder(video)
        if self.pooling == "tokens":
            return tokens
        if self.pooling == "mean":
            return tokens.mean(dim=1)
        grid = self.encoder.grid(*video.shape[2:])
        return tokens.reshape(tokens.shape[0], grid[0], grid[1] * grid[2], -1).mean(dim=2)


def load_backbone(source: str | os.PathLike[str], *, pooling: str = "mean", trainable: bool = False,
                  device: str | torch.device = "cpu") -> VideoBackbone:
    """A :class:`VideoBackbone` from a student checkpoint (``hf-hub:org/repo[@rev]``, ``local-dir:path``, a path)."""
    from salt_vla.hub import from_pretrained

    encoder = from_pretrained(source, expected_type="video_vit")
    return VideoBackbone(encoder, pooling=pooling, trainable=trainable).to(device)
