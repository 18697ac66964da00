"""VideoMAE and VideoMAEv2 frozen teachers, loading the published checkpoints.

Registered teachers (``salt_vla.create_teacher(name, pretrained=..., ...)``):

- ``videomae_small``, ``videomae_base``, ``videomae_large``, ``videomae_huge``: VideoMAE (v1), e.g.
  ``pretrained="hf-hub:MCG-NJU/videomae-base"`` (transformers format);
- ``videomaev2_base``, ``videomaev2_large``, ``videomaev2_huge``, ``videomaev2_giant``: VideoMAEv2, e.g. an
  original-format ``.pth`` (``allow_torch=True``) or ``hf-hub:OpenGVLab/VideoMAEv2-Base``.

Keyword arguments are those of :func:`salt_vla_videomae.teacher.create_videomae_teacher`; docs/teachers.md
lists the checkpoints, target-layer choices and what the fingerprint covers.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import salt_vla
from salt_vla_videomae.config import FAMILY_SIZES, SIZES  # torch-free: listing the registry stays cheap

_TITLES = {"videomae": "VideoMAE", "videomaev2": "VideoMAEv2"}


def _teacher(family: str, size: str, **kwargs: Any) -> Any:
    from salt_vla_videomae.teacher import create_videomae_teacher

    return create_videomae_teacher(family, size, **kwargs)


@salt_vla.hookimpl
def register_teachers(register: Any) -> None:
    for family, sizes in FAMILY_SIZES.items():
        for size in sizes:
            register(f"{family}_{size}", partial(_teacher, family, size),
                     description=f"frozen {_TITLES[family]} ViT-{size} ({SIZES[size].description}, tubelet 2)")
