"""``ACTSaltConfig``: LeRobot's ACT configuration with a salt-vla encoder in place of the ResNet.

Registered with LeRobot's config registry as policy type ``act_salt``, so ``make_policy_config("act_salt")``,
``lerobot-train --policy.type=act_salt`` and ``PreTrainedConfig.from_pretrained`` find it once this module
is imported (``--policy.discover_packages_path=salt_vla_lerobot.act_salt`` on LeRobot's command line).

Everything of ACT applies (chunking, the VAE, the transformer sizes, temporal ensembling), except its
ResNet fields (``vision_backbone``, ``pretrained_backbone_weights``, ``replace_final_stride_with_dilation``),
which this policy does not read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from lerobot.configs.policies import PreTrainedConfig
from lerobot.configs.types import NormalizationMode
from lerobot.policies.act.configuration_act import ACTConfig

from salt_vla.weights import parse_source

CHECKPOINT_PREFIXES = ("hf-hub:", "local-dir:")


def _default_normalization() -> dict[str, NormalizationMode]:
    # Images reach the encoder as [0, 1] pixels: a salt-vla encoder applies its own mean/std.
    return {"VISUAL": NormalizationMode.IDENTITY, "STATE": NormalizationMode.MEAN_STD,
            "ACTION": NormalizationMode.MEAN_STD}


@PreTrainedConfig.register_subclass("act_salt")
@dataclass
class ACTSaltConfig(ACTConfig):
    """ACT whose vision backbone is a salt-vla video encoder, frozen or fine-tuned.

    Attributes:
        n_obs_steps: frames of history the encoder sees per camera (the current one and ``n_obs_steps - 1``
            before it); a multiple of the encoder's tubelet length. LeRobot's dataset delivers them through
            :attr:`observation_delta_indices`; at inference the policy (or salt-vla's adapter) keeps them.
        encoder: a registered encoder name (``vit_micro_patch8_t2``, ``vit_small_patch16_t2``, ...) or a
            salt-vla checkpoint: ``hf-hub:org/repo[@rev]``, ``local-dir:<path>`` or a directory path.
        encoder_pretrained: weights for a registered name: ``"timm:<image ViT>"`` (inflated), ``hf-hub:...``.
        encoder_overrides: ``VideoViTConfig`` fields for a registered name (e.g. ``{"drop_path_rate": 0.1}``).
        freeze_encoder: keep the encoder's weights fixed (eval mode, no gradients) or fine-tune them at
            ``optimizer_lr_backbone``.
        encoder_config: the encoder's architecture, recorded when the policy is first built. A checkpoint
            rebuilds the encoder from it and takes the weights from its own ``model.safetensors``, so
            loading never fetches ``encoder`` again. Leave it ``None``.
    """

    n_obs_steps: int = 2
    normalization_mapping: dict[str, NormalizationMode] = field(default_factory=_default_normalization)
    pretrained_backbone_weights: str | None = None

    encoder: str = "vit_micro_patch8_t2"
    encoder_pretrained: str | None = None
    encoder_overrides: dict[str, Any] = field(default_factory=dict)
    freeze_encoder: bool = True
    encoder_config: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        # ACTConfig.__post_init__ refuses n_obs_steps != 1 and non-ResNet backbones, the two things this
        # policy changes; its other checks are repeated here.
        PreTrainedConfig.__post_init__(self)
        problems = []
        if self.n_obs_steps < 1:
            problems.append(f"n_obs_steps must be >= 1; got {self.n_obs_steps}")
        if self.temporal_ensemble_coeff is not None and self.n_action_steps > 1:
            problems.append(f"temporal ensembling queries the policy every step, so n_action_steps must be 1; got "
                            f"{self.n_action_steps}")
        if self.n_action_steps > self.chunk_size:
            problems.append(f"n_action_steps={self.n_action_steps} exceeds chunk_size={self.chunk_size}")
        visual = self.normalization_mapping.get("VISUAL", NormalizationMode.IDENTITY)
        if NormalizationMode(visual) is not NormalizationMode.IDENTITY:
            problems.append(f"normalization_mapping['VISUAL'] must be IDENTITY (got {visual}): the salt-vla encoder "
                            "normalises [0, 1] pixels with its own mean/std")
        if not isinstance(self.encoder, str) or not self.encoder.strip():
            problems.append(f"encoder must name a registered encoder or a salt-vla checkpoint; got {self.encoder!r}")
        elif is_checkpoint_source(self.encoder) and (self.encoder_pretrained or self.encoder_overrides):
            problems.append(f"encoder={self.encoder!r} is a checkpoint, which fixes its architecture and weights: "
                            "encoder_pretrained and encoder_overrides apply to registered names only")
        if problems:
            raise ValueError("Invalid ACTSaltConfig: " + "; ".join(problems) + ".")

    @property
    def observation_delta_indices(self) -> list[int]:
        """The current frame and the ``n_obs_steps - 1`` before it, oldest first (``[-1, 0]`` for 2)."""
        return list(range(1 - self.n_obs_steps, 1))


def is_checkpoint_source(encoder: str) -> bool:
    """Whether ``encoder`` names a salt-vla checkpoint (``hf-hub:``, ``local-dir:``, a path) rather than a registered name."""
    if encoder.startswith(CHECKPOINT_PREFIXES):
        parse_source(encoder)  # a malformed hub id fails here, with the expected form
        return True
    return "/" in encoder or "\\" in encoder or encoder.startswith(("~", ".")) or os.path.isdir(encoder)
