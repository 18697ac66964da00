"""The core's own registrations, made through the same hooks a plugin uses.

This module is registered first by :mod:`salt_vla.plugins` (as provider ``"salt_vla"``); it is
never an entry point, so ``SALT_VLA_PLUGINS=none`` still leaves the core usable. Factories import
their modules lazily so listing the registry stays cheap.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from salt_vla.hookspecs import Register, hookimpl
from salt_vla.names import ENCODERS, LOSSES


def _encoder(name: str, **kwargs: Any) -> Any:
    from salt_vla.models import build_video_vit

    return build_video_vit(name, **kwargs)


def _loss(kind: str, **kwargs: Any) -> Any:
    from salt_vla.objectives import LatentLoss

    return LatentLoss(kind=kind, **kwargs)


def _checkpoint_teacher(*, pretrained: str, layer: int = -1, final_norm: bool = True, device: str = "cpu") -> Any:
    """A frozen teacher from a salt-vla checkpoint (a stage-1 ``pixel_mae`` or any ``video_vit``)."""
    from salt_vla.hub import from_pretrained
    from salt_vla.models import EncoderTeacher, PixelMAE

    model = from_pretrained(pretrained)
    encoder = model.encoder if isinstance(model, PixelMAE) else model
    return EncoderTeacher(encoder, layer=layer, final_norm=final_norm).to(device)


@hookimpl
def register_encoders(register: Register) -> None:
    for name, (description, _) in ENCODERS.items():
        register(name, partial(_encoder, name), description=description)


@hookimpl
def register_teachers(register: Register) -> None:
    register("checkpoint", _checkpoint_teacher,
             description="a salt-vla checkpoint (stage-1 pixel teacher or student) as a frozen teacher")


@hookimpl
def register_losses(register: Register) -> None:
    for kind, description in LOSSES.items():
        register(kind, partial(_loss, kind), description=description)


@hookimpl
def register_schedules(register: Register) -> None:
    from salt_vla import schedules

    register("warmup_cosine", schedules.WarmupCosine, description="linear warmup, cosine decay to a floor")
    register("cosine", schedules.CosineRamp, description="half-cosine ramp start -> end (weight decay)")
    register("linear", schedules.Linear, description="straight line start -> end")
    register("constant", schedules.Constant, description="one value at every step")


def _dataset(kind: str, **kwargs: Any) -> Any:
    # Imported here: salt_vla.data pulls in torch, and listing the registry must stay cheap.
    from salt_vla.data.lerobot import LeRobotVideoDataset
    from salt_vla.data.ssv2 import SSv2Dataset
    from salt_vla.data.synthetic import SyntheticPhysicsDataset
    from salt_vla.data.video_folder import VideoFolderDataset

    classes = {"synthetic_physics": SyntheticPhysicsDataset, "video_folder": VideoFolderDataset, "ssv2": SSv2Dataset,
               "lerobot": LeRobotVideoDataset}
    return classes[kind](**kwargs)


@hookimpl
def register_datasets(register: Register) -> None:
    register("synthetic_physics", partial(_dataset, "synthetic_physics"),
             description="bouncing balls with gravity, inelastic bounces and friction; generated from a seed")
    register("video_folder", partial(_dataset, "video_folder"),
             description="every video file under a folder (recursive), PyAV decoding")
    register("ssv2", partial(_dataset, "ssv2"),
             description="Something-Something-v2 from its JSON split files (<root>/<id>.webm)")
    register("lerobot", partial(_dataset, "lerobot"),
             description="a LeRobotDataset v3 (local directory or Hub id): one video per episode and camera, split by episode")
