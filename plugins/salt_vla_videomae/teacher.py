"""The frozen VideoMAE teacher (:class:`salt_vla.interfaces.Teacher`) and its factory."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from salt_vla.weights import ModuleHash, hash_state_dict
from salt_vla_videomae.config import FAMILY_SIZES, SIZES
from salt_vla_videomae.loading import (
    build_encoder,
    clip_settings,
    emit_notes,
    encoder_state,
    locate,
    parse_dtype,
    plan,
    read_weights,
)
from salt_vla_videomae.model import VideoMAEEncoder

FINGERPRINT_FORMAT = 1
"""Bumped whenever what the fingerprint covers changes, so old caches are refused rather than mixed."""


def hash_weights(module: nn.Module) -> str:
    """SHA-256 over the names, shapes and float32 values of ``module``'s persistent tensors (sorted by name)."""
    return hash_state_dict(module.state_dict())


class VideoMAETeacher(nn.Module):
    """A frozen VideoMAE / VideoMAEv2 encoder whose tokens after block ``target_layer`` are the targets.

    ``teacher.encoder`` is the :class:`VideoMAEEncoder` itself (pixels in, tokens out, with the mean/std
    normalisation), usable directly. The teacher stays in eval mode with ``requires_grad=False``.

    Attributes:
        name: the registered name it was built as (``"videomae_base"``).
        source: where its weights came from (``None``: seeded random weights).
        target_layer: 0-based block whose output is the target.
        depth_total: blocks of the full model; blocks after ``target_layer`` are not built.
        norm_source: ``"norm"``, ``"fc_norm"`` or ``None``: the norm applied to the targets.
        notes: what the loader noted about the checkpoint (also emitted as one :class:`CheckpointNote`).
    """

    def __init__(self, encoder: VideoMAEEncoder, *, name: str, source: str | None, target_layer: int,
                 depth_total: int, norm_source: str | None, notes: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.encoder = encoder.eval().requires_grad_(False)
        self.name = name
        self.source = source
        self.target_layer = target_layer
        self.depth_total = depth_total
        self.norm_source = norm_source
        self.notes = notes
        self._weights_hash = ModuleHash()
        self._range_checked = False

    def train(self, mode: bool = True) -> VideoMAETeacher:  # frozen: always in eval mode
        return super().train(False)

    # -- the Teacher protocol -------------------------------------------------------------------

    @property
    def latent_dim(self) -> int:
        return self.encoder.embed_dim

    @property
    def patch_size(self) -> tuple[int, int, int]:
        return self.encoder.patch_size

    def grid(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        return self.encoder.grid(frames, height, width)

    def targets(self, video: torch.Tensor) -> torch.Tensor:
        """Latents ``[B, N, D]`` of ``video: [B, 3, T, H, W]``, uint8 (0-255) or float in ``[0, 1]``.

        ``T x H x W`` must be the configured clip (``teacher.encoder.config``). Computed under
        ``torch.inference_mode()``; the result is an ordinary tensor (no autograd history), so losses that
        save their target for backward (``F.mse_loss``) accept it. The first float call reads the input's
        min/max (one host sync) to refuse already-normalised or 0-255 float input.
        """
        if not (video.dtype == torch.uint8 or video.is_floating_point()):
            raise ValueError(f"video must be uint8 (0-255) or float in [0, 1]; got dtype {video.dtype}.")
        if not self._range_checked and video.is_floating_point() and video.numel() and not video.is_meta:
            low, high = (float(v) for v in torch.aminmax(video.detach()))
            if low < -1e-3 or high > 1.0 + 1e-3:
                raise ValueError(
                    f"video is float but spans [{low:.3g}, {high:.3g}]; expected [0, 1]. Pass uint8 frames or "
                    "frames / 255: the teacher applies its own mean/std normalisation."
                )
            self._range_checked = True
        with torch.inference_mode():
            latents = self.encoder(video)
        return latents.clone()

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`targets`."""
        return self.targets(video)

    def fingerprint(self) -> str:
        """``"videomae-<32 hex>"``: changes iff the weights, architecture, target layer, final norm or
        preprocessing (mean/std, frames, resolution) change. The registered name, device and the dtype
        holding the same values do not enter it. See :meth:`describe` for what is hashed."""
        spec = json.dumps(self.describe(), sort_keys=True)
        return "videomae-" + hashlib.sha256(spec.encode()).hexdigest()[:32]

    # -- introspection --------------------------------------------------------------------------

    def weights_hash(self) -> str:
        """:func:`hash_weights` of the encoder, computed once and reused until a weight is replaced or edited."""
        return self._weights_hash(self.encoder)

    def describe(self) -> dict[str, Any]:
        """Everything the fingerprint covers, as plain JSON-ready values (store it next to a cache)."""
        config = self.encoder.config
        return {
            "format": FINGERPRINT_FORMAT,
            "model": "videomae",
            "architecture": {
                "embed_dim": config.embed_dim, "num_heads": config.num_heads, "mlp_dim": config.mlp_dim,
                "patch_size": list(config.patch_size), "layer_norm_eps": config.layer_norm_eps,
                "layer_scale": config.layer_scale, "attention": "fused qkv, q/v bias, no k bias",
                "position": "fixed 1-D sin-cos over the flattened grid",
            },
            "target_layer": self.target_layer,
            "final_norm": config.final_norm,
            "preprocessing": {
                "input": "uint8 / 255 or float in [0, 1]", "mean": list(config.mean), "std": list(config.std),
                "num_frames": config.num_frames, "image_size": config.image_size,
            },
            "weights_sha256": self.weights_hash(),
        }

    def extra_repr(self) -> str:
        return (f"name={self.name!r}, source={self.source!r}, target_layer={self.target_layer}/{self.depth_total}, "
                f"final_norm={self.norm_source!r}")


def create_videomae_teacher(
    family: str,
    size: str,
    *,
    pretrained: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    filename: str | None = None,
    num_frames: int | None = None,
    image_size: int | None = None,
    target_layer: int = -1,
    final_norm: bool | str = "auto",
    mean: tuple[float, float, float] | None = None,
    std: tuple[float, float, float] | None = None,
    allow_torch: bool = False,
    dtype: torch.dtype | str | None = None,
    device: torch.device | str | None = None,
    compile: bool = False,
    seed: int = 0,
) -> VideoMAETeacher:
    """Build ``<family>_<size>`` (e.g. ``videomae_base``), frozen, on ``device``.

    Args:
        pretrained: weights: ``"hf-hub:org/repo[@revision]"``, ``"local-dir:path"``, a file or directory path,
            or a state dict. ``None``: seeded random weights (``seed``), for tests and ablations.
        filename: one file inside the directory / Hub repository (e.g. ``"distill/vit_b_k710_dl_from_giant.pth"``).
        num_frames, image_size: the clip ``T x S x S``; default: the checkpoint's config, else 16 x 224.
        target_layer: block whose output is the target: ``-1`` last, else a 0-based (or negative) index.
        final_norm: ``"auto"``: the checkpoint's final norm if it has one (transformers' ``VideoMAEModel``
            output); ``True``: always (a mean-pooling ``fc_norm`` is used when that is all there is);
            ``False``: never. Applied to the ``target_layer`` output.
        mean, std: pixel normalisation; default: the checkpoint's preprocessor config, else ImageNet's.
        allow_torch: read ``.bin``/``.pth``/``.pt`` files (with ``torch.load(weights_only=True)``).
        dtype: weight dtype, ``float32`` (default; use ``torch.autocast`` for bf16 compute) or ``bfloat16``.
        device: where the weights are allocated (``"cuda"``, ``"cpu"``, ``"meta"`` for shapes only).
        compile: wrap the encoder in ``torch.compile`` (first call compiles; later calls are faster on GPU).
    """
    if family not in FAMILY_SIZES or size not in FAMILY_SIZES[family]:
        names = ", ".join(f"{f}_{s}" for f, sizes in FAMILY_SIZES.items() for s in sizes)
        raise ValueError(f"No VideoMAE teacher {family}_{size}; available: {names}.")
    name = f"{family}_{size}"
    located = locate(pretrained, filename=filename, allow_torch=allow_torch) if pretrained is not None else None
    clip = clip_settings(SIZES[size], name, located, num_frames=num_frames, image_size=image_size, mean=mean, std=std)
    checkpoint = read_weights(located, allow_torch=allow_torch) if located is not None else None
    label = located.label if located is not None else name
    the_plan = plan(SIZES[size], name, checkpoint, clip, label, target_layer=target_layer, final_norm=final_norm)
    state = encoder_state(checkpoint, the_plan, name, family, located) if checkpoint and located else None
    encoder = build_encoder(the_plan, state, dtype=parse_dtype(dtype), device=device or "cpu", seed=seed)
    if located is not None:
        emit_notes(the_plan.notes, name, located.label)
    if compile:
        encoder.compile(dynamic=False)
    return VideoMAETeacher(encoder, name=name, source=located.label if located else None,
                           target_layer=the_plan.target_layer, depth_total=the_plan.depth_total,
                           norm_source=the_plan.norm_source, notes=the_plan.notes)
