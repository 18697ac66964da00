"""SALT models: the video student, the predictor, the masked-prediction model, the stage-1 pixel teacher."""

from __future__ import annotations

from typing import Any

import torch

from salt_vla.models.pixel_mae import PixelMAE, PixelMAEConfig
from salt_vla.models.predictor import Predictor, PredictorConfig
from salt_vla.models.salt import MaskedPredictor, PredictionOutput
from salt_vla.models.teacher import EncoderTeacher
from salt_vla.models.video_vit import (
    DEFAULT_PRETRAINED,
    REGISTERED,
    VideoViT,
    VideoViTConfig,
    resolve_pretrained,
    video_vit_config,
)


def build_video_vit(name: str, *, pretrained: str | bool | None = None, pretrained_file: str | None = None,
                    grad_checkpointing: bool = False, device: str | torch.device | None = None,
                    **overrides: Any) -> VideoViT:
    """A registered student, optionally initialised from weights.

    Args:
        name: a registered name (``vit_base_patch16_t2``, ...).
        pretrained: ``"timm:<image model>"`` to inflate timm image weights (``pretrained_file`` for a local copy),
            or a salt-vla checkpoint source (``hf-hub:org/repo``, ``local-dir:path``); ``True`` is the name's
            default (:data:`~salt_vla.models.video_vit.DEFAULT_PRETRAINED`: timm's image ViT of that size).
        device: build the parameters there; ``"meta"`` allocates nothing (shapes only: size a ViT-H, or
            materialise later with ``to_empty``). ``with torch.device("meta"):`` around the call does the same.
        overrides: :class:`VideoViTConfig` fields (e.g. ``num_frames=8``, ``drop_path_rate=0.1``).
    """
    config = video_vit_config(name, **overrides)
    pretrained = resolve_pretrained(name, pretrained)
    if device is not None:
        if pretrained is not None and torch.device(device).type == "meta":
            raise ValueError(f"pretrained={pretrained!r} loads weights, which a meta-device model cannot hold; "
                             "build on meta without pretrained, or on a real device with it.")
        with torch.device(device):
            return build_video_vit(name, pretrained=pretrained, pretrained_file=pretrained_file,
                                   grad_checkpointing=grad_checkpointing, **overrides)
    if pretrained is None:
        model = VideoViT(config)
    elif pretrained.startswith("timm:"):
        from salt_vla.models.inflate import inflate_from_timm

        model = inflate_from_timm(pretrained[len("timm:"):], config, file=pretrained_file)
    else:
        from salt_vla.hub import from_pretrained

        model = from_pretrained(pretrained, expected_type="video_vit")
    model.set_grad_checkpointing(grad_checkpointing)
    return model


__all__ = ["DEFAULT_PRETRAINED", "REGISTERED", "EncoderTeacher", "MaskedPredictor", "PixelMAE", "PixelMAEConfig", "PredictionOutput", "Predictor",
           "PredictorConfig", "VideoViT", "VideoViTConfig", "build_video_vit", "video_vit_config"]
