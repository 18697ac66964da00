"""Image augmentation for LeRobot training, as LeRobot's own ``dataset.image_transforms`` configuration.

A policy whose vision backbone is trained from scratch on a few hundred demonstrations learns the pixels of
those demonstrations; small random shifts of each camera image (DrQ, Kostrikov et al. 2020; Diffusion Policy's
random crop) make it read where things are rather than which image it is. The named augmentations:

- ``"none"``: no transform.
- ``"shift"``: DrQ's random shift: pad each image by ``pad`` pixels (repeating its border) and crop a random
  window of the original size (torchvision's ``RandomCrop``), independently per camera and sample.
- ``"lerobot"``: LeRobot's default set (brightness, contrast, saturation, hue, sharpness; up to 3 per frame).

They are plain LeRobot configurations, so ``lerobot-train`` users get the same training from its flags
(:func:`lerobot_train_flags` prints them)::

    lerobot-train ... --dataset.image_transforms.enable=true --dataset.image_transforms.max_num_transforms=1 \\
        --dataset.image_transforms.tfs='{"shift": {"type": "RandomCrop", "weight": 1.0,
        "kwargs": {"size": [96, 128], "padding": 4, "padding_mode": "edge"}}}'
"""

from __future__ import annotations

import json
from typing import Any

AUGMENTATIONS = ("none", "shift", "lerobot")
"""Names :func:`image_transforms` accepts."""


def image_transforms(name: str, image_size: tuple[int, int], *, pad: int = 4) -> dict[str, Any] | None:
    """LeRobot's ``ImageTransformsConfig`` fields for augmentation ``name`` on ``image_size = (H, W)`` images.

    Returns ``None`` for ``"none"``, else ``{"enable", "max_num_transforms", "random_order", "tfs"}`` with
    ``tfs`` a mapping of transform name to ``{"type", "weight", "kwargs"}`` (``None``: LeRobot's default set).

    Raises:
        ValueError: an unknown name, a non-positive image size or a negative ``pad``.
    """
    if name not in AUGMENTATIONS:
        raise ValueError(f"Unknown augmentation {name!r}; choose one of {AUGMENTATIONS}.")
    height, width = (int(v) for v in image_size)
    if height < 1 or width < 1 or pad < 0:
        raise ValueError(f"image_size must be two positive sizes and pad >= 0; got {tuple(image_size)} and {pad}.")
    if name == "none":
        return None
    if name == "lerobot":
        return {"enable": True, "max_num_transforms": 3, "random_order": False, "tfs": None}
    shift = {"type": "RandomCrop", "weight": 1.0,
             "kwargs": {"size": [height, width], "padding": pad, "padding_mode": "edge"}}
    return {"enable": True, "max_num_transforms": 1, "random_order": False, "tfs": {"shift": shift}}


def lerobot_train_flags(transforms: dict[str, Any] | None) -> list[str]:
    """The ``lerobot-train`` flags that configure ``transforms`` (from :func:`image_transforms`)."""
    if transforms is None:
        return []
    flags = [f"--dataset.image_transforms.enable={str(transforms['enable']).lower()}",
             f"--dataset.image_transforms.max_num_transforms={transforms['max_num_transforms']}"]
    if transforms["tfs"] is not None:
        flags.append(f"--dataset.image_transforms.tfs={json.dumps(transforms['tfs'])}")
    return flags


__all__ = ["AUGMENTATIONS", "image_transforms", "lerobot_train_flags"]
