"""``ACTSaltPolicy``: LeRobot's ACT with a salt-vla video encoder as its vision backbone.

Per camera, the encoder reads the last ``n_obs_steps`` frames ``[B, T, 3, H, W]`` (pixels in ``[0, 1]``)
and returns ``t' * h' * w'`` tokens (``t' = T / tubelet``); they are laid out as a ``[B, D, t' * h', w']``
feature map, projected to ACT's width by a 1x1 convolution and given a fixed 3-D sin-cos position
embedding, which is what ACT's transformer encoder reads from its ResNet otherwise. The robot state token
is the current state. Everything else is LeRobot's ACT, unchanged: the VAE, the transformer, the loss,
the action queue and temporal ensembling.

Frame history at inference: given batches with a time axis (``[B, T, 3, H, W]``, as LeRobot's dataset
and salt-vla's adapter deliver them) the policy uses them as they are; given single frames
(``[B, 3, H, W]``, as ``lerobot-eval`` and ``lerobot-record`` send them) it keeps the last ``T - 1``
frames itself: ``select_action`` adds each frame, ``predict_action_chunk`` only reads them, and
``reset`` clears them. An episode's first frames are padded with its first frame, as LeRobot's dataset
pads the start of an episode.
"""

from __future__ import annotations

import copy
import os
from collections import deque
from typing import Any

import torch
from lerobot.configs.types import FeatureType
from lerobot.policies.act.modeling_act import ACT, ACTPolicy, ACTTemporalEnsembler
from lerobot.policies.pretrained import PreTrainedPolicy
from torch import Tensor, nn

from salt_vla.backbone import VideoBackbone
from salt_vla.models.layers import sincos_pos_embed_3d
from salt_vla.models.video_vit import VideoViT, VideoViTConfig
from salt_vla_lerobot.act_salt.configuration_act_salt import ACTSaltConfig, is_checkpoint_source

OBS_STATE = "observation.state"
OBS_ENV_STATE = "observation.environment_state"
OBS_IMAGES = "observation.images"
STATE_KEYS = (OBS_STATE, OBS_ENV_STATE)


def build_encoder(config: ACTSaltConfig) -> VideoViT:
    """The encoder ``config`` names: its recorded architecture (random weights, a checkpoint's follow), a
    salt-vla checkpoint, or a registered name with ``encoder_pretrained`` and ``encoder_overrides``."""
    if config.encoder_config is not None:
        return VideoViT(VideoViTConfig(**config.encoder_config))
    if is_checkpoint_source(config.encoder):
        from salt_vla.hub import from_pretrained
        from salt_vla.models import PixelMAE

        source = config.encoder
        if not source.startswith(("hf-hub:", "local-dir:")):
            source = os.path.expanduser(source)
        model = from_pretrained(source)
        encoder = model.encoder if isinstance(model, PixelMAE) else model
    else:
        import salt_vla

        encoder = salt_vla.create_encoder(config.encoder, pretrained=config.encoder_pretrained,
                                          **dict(config.encoder_overrides))
    if not isinstance(encoder, VideoViT):
        raise TypeError(f"act_salt needs a salt-vla VideoViT encoder; {config.encoder!r} gave a {type(encoder).__name__}.")
    return encoder


class FeatureMapBackbone(VideoBackbone):
    """A :class:`~salt_vla.backbone.VideoBackbone` that returns ACT's ``{"feature_map": [B, D, t' * h', w']}``."""

    def __init__(self, encoder: VideoViT, *, trainable: bool) -> None:
        super().__init__(encoder, pooling="tokens", trainable=trainable)

    def forward(self, frames: Tensor) -> dict[str, Tensor]:  # type: ignore[override]
        """``frames``: ``[B, T, C, H, W]`` (or ``[B, C, H, W]``, one frame) in ``[0, 1]``."""
        if frames.ndim == 4:
            frames = frames.unsqueeze(1)
        video = frames.permute(0, 2, 1, 3, 4)  # [B, C, T, H, W]
        tokens = super().forward(video)  # [B, t' * h' * w', D]
        grid = self.encoder.grid(*video.shape[2:])
        feature_map = tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], grid[0] * grid[1], grid[2])
        return {"feature_map": feature_map}


class SinCosPositions3d(nn.Module):
    """Fixed 3-D sin-cos position embedding ``[1, dim, t' * h', w']`` for a feature map of ``t'`` time slots."""

    def __init__(self, dim: int, time_slots: int) -> None:
        super().__init__()
        self.dim, self.time_slots = dim, time_slots
        self._tables: dict[tuple[int, int, torch.device, torch.dtype], Tensor] = {}

    def forward(self, feature_map: Tensor) -> Tensor:
        rows, width = feature_map.shape[-2:]
        key = (rows, width, feature_map.device, feature_map.dtype)
        if key not in self._tables:
            grid = (self.time_slots, rows // self.time_slots, width)
            table = sincos_pos_embed_3d(grid, self.dim)  # [t' * h' * w', dim], time slowest
            self._tables[key] = table.T.reshape(1, self.dim, rows, width).to(feature_map.device, feature_map.dtype)
        return self._tables[key]


class ACTSalt(ACT):
    """LeRobot's ACT network with :class:`FeatureMapBackbone` in place of the ResNet."""

    def __init__(self, config: ACTSaltConfig) -> None:
        # ACT builds a torchvision ResNet for image inputs; building it without them and adding the image
        # path afterwards keeps the ResNet from ever being made. Module names are ACT's.
        without_images = copy.copy(config)
        without_images.input_features = {key: feature for key, feature in config.input_features.items()
                                         if feature.type is not FeatureType.VISUAL}
        super().__init__(without_images)
        self.config = config
        if not config.image_features:
            return
        encoder = build_encoder(config)
        tubelet = encoder.patch_size[0]
        if config.n_obs_steps % tubelet:
            raise ValueError(f"act_salt: n_obs_steps={config.n_obs_steps}, but the encoder {config.encoder!r} embeds "
                             f"{tubelet} frames per token: set n_obs_steps to a multiple of {tubelet}.")
        for feature in config.image_features.values():
            height, width = feature.shape[-2:]
            encoder.grid(config.n_obs_steps, height, width)  # raises, naming the sizes, if patches do not tile it
        if config.encoder_config is None:
            config.encoder_config = encoder.config.to_dict()  # saved with the checkpoint: the architecture
        self.backbone = FeatureMapBackbone(encoder, trainable=not config.freeze_encoder)
        self.encoder_img_feat_input_proj = nn.Conv2d(encoder.embed_dim, config.dim_model, kernel_size=1)
        self.encoder_cam_feat_pos_embed = SinCosPositions3d(config.dim_model, config.n_obs_steps // tubelet)


class ACTSaltPolicy(ACTPolicy):
    """ACT with a salt-vla encoder (policy type ``act_salt``); see the module docstring for the frame history."""

    config_class = ACTSaltConfig
    name = "act_salt"

    def __init__(self, config: ACTSaltConfig, **kwargs: Any) -> None:
        # ACTPolicy.__init__ would build LeRobot's ACT (and its ResNet); the rest of it is the same.
        PreTrainedPolicy.__init__(self, config)
        config.validate_features()
        self.config = config
        self.model = ACTSalt(config)
        if config.temporal_ensemble_coeff is not None:
            self.temporal_ensembler = ACTTemporalEnsembler(config.temporal_ensemble_coeff, config.chunk_size)
        self.reset()

    def reset(self) -> None:
        """Clear the action queue (or temporal ensembler) and the frame history. Call at every episode start."""
        super().reset()
        self._history: dict[str, deque[Tensor]] = {}

    def _observation_keys(self, batch: dict[str, Any]) -> list[str]:
        return [key for key in (*self.config.image_features, *STATE_KEYS) if key in batch]

    def _has_time_axis(self, batch: dict[str, Any]) -> bool:
        keys = list(self.config.image_features) or [k for k in STATE_KEYS if k in batch]
        dims = {batch[key].ndim - (4 if key in self.config.image_features else 2) for key in keys}
        if len(dims) != 1 or not dims <= {0, 1}:
            shapes = {key: tuple(batch[key].shape) for key in keys}
            raise ValueError(f"act_salt reads images [B, T, 3, H, W] or [B, 3, H, W] and states [B, T, S] or [B, S], "
                             f"all with or all without the time axis; got {shapes}.")
        if dims == {1}:
            frames = {key: batch[key].shape[1] for key in self._observation_keys(batch)}
            if set(frames.values()) != {self.config.n_obs_steps}:
                raise ValueError(f"act_salt was trained on {self.config.n_obs_steps} frames per observation; got {frames}.")
        return dims == {1}

    def _with_history(self, batch: dict[str, Any], *, remember: bool) -> dict[str, Any]:
        """``batch`` with its single frames preceded by the remembered ones (added to them if ``remember``)."""
        if self._has_time_axis(batch):
            return batch
        batch = dict(batch)
        previous = self.config.n_obs_steps - 1
        for key in self._observation_keys(batch):
            current = batch[key]
            history = self._history.get(key)
            if history is None or (history and history[0].shape != current.shape):
                history = self._history[key] = deque(maxlen=previous)
            earlier = list(history) or [current] * previous
            earlier = [earlier[0]] * (previous - len(earlier)) + earlier
            batch[key] = torch.stack([*earlier, current], dim=1)
            if remember and previous:
                history.append(current)
        return batch

    @staticmethod
    def _current_state(batch: dict[str, Any]) -> dict[str, Any]:
        """ACT's state tokens read the current state: the last step of a state history."""
        batch = dict(batch)
        for key in STATE_KEYS:
            if key in batch and batch[key].ndim == 3:
                batch[key] = batch[key][:, -1]
        return batch

    @torch.no_grad()
    def select_action(self, batch: dict[str, Tensor]) -> Tensor:
        return super().select_action(self._with_history(batch, remember=True))

    @torch.no_grad()
    def predict_action_chunk(self, batch: dict[str, Tensor]) -> Tensor:
        return super().predict_action_chunk(self._current_state(self._with_history(batch, remember=False)))

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict]:
        if not self._has_time_axis(batch) and self.config.n_obs_steps > 1:
            raise ValueError(f"act_salt trains on {self.config.n_obs_steps} frames per sample: the dataset must deliver "
                             "them (LeRobot does, from the config's observation_delta_indices).")
        return super().forward(self._current_state(batch))
