"""Stage 1: a teacher trained by pixel reconstruction under multi-block masks ("V-Pixel" in SALT).

A :class:`VideoViT` encoder sees the context tokens; a light decoder (a :class:`Predictor` whose
output is one tubelet of pixels) reconstructs the masked tubelets; targets are per-patch normalised
pixels and the loss is MSE, as in VideoMAE. After training, ``pixel_mae.encoder`` is the frozen teacher
(wrap it in :class:`salt_vla.models.teacher.EncoderTeacher`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from salt_vla.hub import HubMixin, register_model_type
from salt_vla.masking import MaskBatch
from salt_vla.models.layers import normalize_video, patchify
from salt_vla.models.predictor import Predictor, PredictorConfig
from salt_vla.models.salt import MaskedPredictor, PredictionOutput
from salt_vla.models.video_vit import VideoViT, VideoViTConfig
from salt_vla.objectives import LatentLoss


@dataclass(frozen=True)
class PixelMAEConfig:
    """Encoder architecture plus the decoder's width/depth/heads."""

    encoder: VideoViTConfig
    decoder_dim: int = 192
    decoder_depth: int = 4
    decoder_heads: int = 3

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PixelMAEConfig:
        data = dict(data)
        return cls(encoder=VideoViTConfig(**data.pop("encoder")), **data)


class PixelMAE(nn.Module, HubMixin):
    """``forward(video [B, C, T, H, W], masks) -> PredictionOutput`` with per-patch normalised pixel targets."""

    def __init__(self, config: PixelMAEConfig, *, encoder: VideoViT | None = None, loss: Any = None) -> None:
        """``encoder`` (optional) supplies initial weights, e.g. a student inflated from timm; its config must match.
        ``loss``: the objective on pixel targets (default: MSE on per-patch layer-normalised pixels, VideoMAE's)."""
        super().__init__()
        self.config = config
        if encoder is not None and encoder.config != config.encoder:
            raise ValueError("PixelMAE: the given encoder's config differs from config.encoder.")
        encoder = encoder if encoder is not None else VideoViT(config.encoder)
        pt, ph, pw = encoder.patch_size
        decoder = Predictor(PredictorConfig(
            in_dim=encoder.embed_dim, out_dim=pt * ph * pw * config.encoder.in_chans, dim=config.decoder_dim,
            depth=config.decoder_depth, num_heads=config.decoder_heads,
        ))
        self.model = MaskedPredictor(encoder, decoder, loss if loss is not None else LatentLoss("mse", target_norm="layer_norm"))

    @property
    def encoder(self) -> VideoViT:
        return self.model.student

    def pixel_targets(self, video: torch.Tensor) -> torch.Tensor:
        """Mean/std-normalised tubelet pixels ``[B, N, t * p * p * C]`` (per-patch normalisation is in the loss)."""
        x = normalize_video(video, self.encoder.mean, self.encoder.std, dtype=torch.float32)
        return patchify(x, self.encoder.patch_size)

    def forward(self, video: torch.Tensor, masks: MaskBatch, *, keep_outputs: bool = False) -> PredictionOutput:
        return self.model(video, masks, self.pixel_targets(video), keep_outputs=keep_outputs)


register_model_type("pixel_mae", PixelMAE, lambda c: PixelMAE(PixelMAEConfig.from_dict(c)))
