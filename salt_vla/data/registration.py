"""The data layer's registry entries, registered by the core's ``builtins`` module."""

from __future__ import annotations

from typing import Any

from salt_vla.hookspecs import Register


def _synthetic_physics(**kwargs: Any) -> Any:
    from salt_vla.data.synthetic import SyntheticPhysicsDataset

    return SyntheticPhysicsDataset(**kwargs)


def _video_folder(**kwargs: Any) -> Any:
    from salt_vla.data.video_folder import VideoFolderDataset

    return VideoFolderDataset(**kwargs)


def _ssv2(**kwargs: Any) -> Any:
    from salt_vla.data.ssv2 import SSv2Dataset

    return SSv2Dataset(**kwargs)


def register_builtin_datasets(register: Register) -> None:
    """Register ``synthetic_physics``, ``video_folder`` and ``ssv2`` with a ``register_datasets`` hook's callback."""
    register("synthetic_physics", _synthetic_physics,
             description="bouncing balls with gravity, inelastic bounces and friction; generated from a seed")
    register("video_folder", _video_folder, description="every video file under a folder (recursive), PyAV decoding")
    register("ssv2", _ssv2, description="Something-Something-v2 from its JSON split files (<root>/<id>.webm)")
