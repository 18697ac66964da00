"""LeRobot's training pipeline across versions.

Both versions run ``lerobot.scripts.lerobot_train.train(TrainPipelineConfig)``; the config's fields differ
(0.4.4's ``eval_freq`` is ``env_eval_freq`` in >= 0.5, which also adds dataloader fields such as
``persistent_workers``), so :func:`train_pipeline_config` translates the renamed ones and refuses a field the
installed version lacks, naming the ones it has. The image transforms' config classes moved from
``lerobot.datasets.transforms`` (0.4.4) to ``lerobot.transforms`` (>= 0.5): :func:`image_transforms_config`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from salt_vla.lerobot_compat.policies import OWN_FAMILIES, register_family
from salt_vla.lerobot_compat.versions import require_lerobot, version_text

_RENAMED_TRAIN_FIELDS = {"eval_freq": "env_eval_freq"}
"""``TrainPipelineConfig`` fields by their LeRobot 0.4.4 name -> their name in LeRobot >= 0.5."""


def make_policy_config(family: str, **fields: Any) -> Any:
    """A fresh ``PreTrainedConfig`` of ``family`` (``"act"``, ...) with ``fields`` set (LeRobot's factory).

    Input/output features are left empty: LeRobot's trainer fills them from the dataset.
    """
    register_family(family)
    if family in OWN_FAMILIES:  # built directly: LeRobot's factory would hide the config's own error message
        from lerobot.configs.policies import PreTrainedConfig

        return PreTrainedConfig.get_choice_class(family)(**fields)
    from lerobot.policies.factory import make_policy_config as lerobot_make_policy_config

    return lerobot_make_policy_config(family, **fields)


def image_transforms_config(spec: Mapping[str, Any] | None) -> Any:
    """LeRobot's ``ImageTransformsConfig`` from plain fields (``salt_vla_lerobot.augmentation.image_transforms``).

    ``spec`` holds ``enable``, ``max_num_transforms``, ``random_order`` and ``tfs``: a mapping of names to
    ``{"type", "weight", "kwargs"}``, or ``None`` for LeRobot's default set. ``None`` gives LeRobot's default
    (disabled) configuration.
    """
    require_lerobot()
    try:
        from lerobot.transforms import ImageTransformConfig, ImageTransformsConfig
    except ImportError:  # LeRobot 0.4.4
        from lerobot.datasets.transforms import ImageTransformConfig, ImageTransformsConfig
    if spec is None:
        return ImageTransformsConfig()
    fields = {k: v for k, v in spec.items() if k != "tfs"}
    if spec.get("tfs") is not None:
        fields["tfs"] = {name: ImageTransformConfig(**tf) for name, tf in spec["tfs"].items()}
    return ImageTransformsConfig(**fields)


def cosine_decay(lr: float, weight_decay: float, steps: int, final_fraction: float) -> dict[str, Any]:
    """``TrainPipelineConfig`` fields for AdamW whose learning rate falls from ``lr`` to ``final_fraction * lr``.

    A cosine over ``steps`` steps (LeRobot's ``CosineDecayWithWarmupSchedulerConfig``, no warm-up), in place of
    the policy's training preset (ACT's: a constant rate). Without the preset LeRobot optimises
    ``policy.parameters()`` as one group: the caller must make sure the policy wanted one rate for all of them.
    """
    require_lerobot()
    from lerobot.optim.optimizers import AdamWConfig
    from lerobot.optim.schedulers import CosineDecayWithWarmupSchedulerConfig

    return {"use_policy_training_preset": False,
            "optimizer": AdamWConfig(lr=lr, weight_decay=weight_decay),
            "scheduler": CosineDecayWithWarmupSchedulerConfig(num_warmup_steps=0, num_decay_steps=steps, peak_lr=lr,
                                                              decay_lr=lr * final_fraction)}


def train_pipeline_config(
    dataset_root: str | os.PathLike[str], policy_config: Any, *, repo_id: str,
    image_transforms: Mapping[str, Any] | None = None, episodes: list[int] | None = None, **fields: Any
) -> Any:
    """LeRobot's ``TrainPipelineConfig``: train ``policy_config`` on the local dataset at ``dataset_root``.

    This is what ``lerobot-train --dataset.root=... --policy.type=...`` builds from its command line.
    Videos are decoded with PyAV (torchcodec needs a system FFmpeg). ``image_transforms``: the dataset's
    augmentation (:func:`image_transforms_config`); ``episodes``: train on these episode indices only.
    ``fields`` are other ``TrainPipelineConfig`` fields (``steps``, ``batch_size``, ``output_dir``...), by either
    version's name.

    Raises:
        ValueError: a field this LeRobot's ``TrainPipelineConfig`` does not have (all of them, with the valid names).
    """
    require_lerobot()
    from lerobot.configs.default import DatasetConfig
    from lerobot.configs.train import TrainPipelineConfig

    names = {f.name for f in dataclasses.fields(TrainPipelineConfig) if f.init}
    renamed = {**_RENAMED_TRAIN_FIELDS, **{new: old for old, new in _RENAMED_TRAIN_FIELDS.items()}}
    settings: dict[str, Any] = {}
    unknown = []
    for key, value in fields.items():
        name = key if key in names else renamed.get(key, key)
        if name in names:
            settings[name] = value
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f"LeRobot {version_text()}'s TrainPipelineConfig has no field(s) {unknown}; "
                         f"valid fields: {sorted(names)}.")
    dataset = DatasetConfig(repo_id=repo_id, root=str(dataset_root), video_backend="pyav", episodes=episodes,
                            image_transforms=image_transforms_config(image_transforms))
    return TrainPipelineConfig(dataset=dataset, policy=policy_config, **settings)


def run_training(config: Any) -> None:
    """Run LeRobot's training loop (``lerobot.scripts.lerobot_train.train``) on a ``TrainPipelineConfig``.

    It writes ``<output_dir>/checkpoints/<step>/pretrained_model`` every ``save_freq`` steps and after
    the last one, and points ``checkpoints/last`` at the newest complete checkpoint.
    """
    require_lerobot()
    from lerobot.scripts.lerobot_train import train

    train(config)


