"""Inflate a timm image ViT into a :class:`VideoViT`: a pure checkpoint filter plus a builder.

The filter maps an image state dict to a video one without touching any model: the 2-D patch kernel
is inflated over the tubelet (averaged, so a clip of one repeated frame gives the image's patch
tokens), the learned absolute position embedding is resampled spatially (timm's
``resample_abs_pos_embed``) and repeated over time, and prefix tokens (class/register) and the
classification head are dropped. Transformer blocks and the final norm carry over unchanged.

With no prefix tokens, the inflated model reproduces the image model's patch tokens on a
repeated-frame clip exactly (attention over ``t'`` identical copies of each key equals attention over
one). With a class token, which the video model does not have, the patch tokens change slightly; an
average-pooling model's ``fc_norm`` (applied after pooling) becomes the per-token final norm.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from salt_vla.models.video_vit import VideoViT, VideoViTConfig

DROPPED_PREFIXES = ("cls_token", "reg_token", "head.", "head_drop.", "fc_norm.")
KEPT_PREFIXES = ("blocks.", "norm.")


def _prefix_tokens(state: Mapping[str, torch.Tensor], num_positions: int) -> int:
    count = (1 if "cls_token" in state else 0) + (state["reg_token"].shape[1] if "reg_token" in state else 0)
    candidates = [count, 0] if count else [0]
    for prefix in candidates:
        side = math.isqrt(num_positions - prefix)
        if side * side == num_positions - prefix:
            return prefix
    raise ValueError(f"pos_embed has {num_positions} positions, which is not a square grid plus {count} prefix tokens.")


def inflate_image_vit_state_dict(state: Mapping[str, torch.Tensor], config: VideoViTConfig, *,
                                 temporal_init: str = "average") -> dict[str, torch.Tensor]:
    """Map a timm image-ViT state dict to a ``VideoViT(config)`` state dict (``config.pos_embed == "learned"``).

    Args:
        state: ``timm.create_model(...).state_dict()`` of a plain ViT (``patch_embed.proj``, ``pos_embed``, ``blocks.*``).
        config: the target video architecture; width and depth must match the image model.
        temporal_init: ``"average"`` (kernel / t in every frame) or ``"center"`` (kernel in the middle frame).

    Returns:
        A new state dict; the input is not modified. Keys the video model cannot use raise ``ValueError``.
    """
    from timm.layers import resample_abs_pos_embed, resample_patch_embed

    if config.pos_embed != "learned":
        raise ValueError("Inflation keeps the image model's learned position embedding: build the VideoViTConfig with "
                         "pos_embed='learned'.")
    if temporal_init not in ("average", "center"):
        raise ValueError(f"temporal_init must be 'average' or 'center'; got {temporal_init!r}.")
    unknown = [k for k in state if not k.startswith((*DROPPED_PREFIXES, *KEPT_PREFIXES, "patch_embed.proj.", "pos_embed"))]
    if unknown:
        raise ValueError(f"The image model has parameters the video ViT cannot represent: {', '.join(sorted(unknown)[:10])}. "
                         "Only plain timm ViTs (patch_embed, pos_embed, blocks, norm) can be inflated.")
    out = {k: v.clone() for k, v in state.items() if k.startswith(KEPT_PREFIXES)}
    if "norm.weight" not in out and "fc_norm.weight" in state:
        # Average-pooling models normalise after pooling; the video model normalises every token. Reusing the
        # pooled norm's affine parameters per token is the closest start.
        out["norm.weight"], out["norm.bias"] = state["fc_norm.weight"].clone(), state["fc_norm.bias"].clone()

    kernel = state["patch_embed.proj.weight"]  # [D, C, p, p]
    if tuple(kernel.shape[-2:]) != (config.patch_size, config.patch_size):
        kernel = resample_patch_embed(kernel, [config.patch_size, config.patch_size])
    t = config.tubelet_size
    if temporal_init == "average":
        video_kernel = kernel.unsqueeze(2).repeat(1, 1, t, 1, 1) / t
    else:
        video_kernel = torch.zeros(*kernel.shape[:2], t, *kernel.shape[2:], dtype=kernel.dtype)
        video_kernel[:, :, t // 2] = kernel
    out["patch_embed.weight"] = video_kernel
    out["patch_embed.bias"] = state["patch_embed.proj.bias"].clone()

    pos = state["pos_embed"]  # [1, prefix + s*s, D]
    prefix = _prefix_tokens(state, pos.shape[1])
    side = math.isqrt(pos.shape[1] - prefix)
    frames, height, width = config.default_grid
    spatial = resample_abs_pos_embed(pos[:, prefix:], new_size=[height, width], old_size=[side, side],
                                     num_prefix_tokens=0)
    out["pos_embed"] = spatial.unsqueeze(1).repeat(1, frames, 1, 1).reshape(1, frames * height * width, -1)
    return out


def timm_image_state_dict(model_name: str, *, file: str | None = None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Weights and preprocessing (mean/std) of a timm image model, from the Hub or a local ``file``."""
    import timm

    overlay = {"file": file} if file else None
    try:
        model = timm.create_model(model_name, pretrained=True, pretrained_cfg_overlay=overlay)
    except Exception as error:
        raise RuntimeError(
            f"Could not load timm weights for {model_name!r} ({type(error).__name__}: {error}). Offline, download them "
            "once, or pass pretrained_file=<path to the .safetensors/.bin of that model>."
        ) from error
    cfg = dict(getattr(model, "pretrained_cfg", {}) or {})
    return model.state_dict(), {"mean": tuple(cfg.get("mean", (0.485, 0.456, 0.406))),
                                "std": tuple(cfg.get("std", (0.229, 0.224, 0.225)))}


def inflate_from_timm(model_name: str, config: VideoViTConfig, *, file: str | None = None,
                      temporal_init: str = "average") -> VideoViT:
    """Build a :class:`VideoViT` initialised from timm image weights (``pretrained="timm:<model_name>"``)."""
    from dataclasses import replace

    from salt_vla.weights import check_state_dict

    image_state, preprocessing = timm_image_state_dict(model_name, file=file)
    config = replace(config, pos_embed="learned", **preprocessing)
    model = VideoViT(config)
    state = inflate_image_vit_state_dict(image_state, config, temporal_init=temporal_init)
    width = image_state["patch_embed.proj.weight"].shape[0]
    depth = len({k.split(".")[1] for k in image_state if k.startswith("blocks.")})
    check_state_dict(model, state, what=f"VideoViT({config.embed_dim} wide, {config.depth} deep) from timm {model_name!r}",
                     hint=f"The image model is {width} wide and {depth} deep; pick the student size that matches.")
    model.load_state_dict(state)
    return model
