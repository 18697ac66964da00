"""The student: a video ViT of timm blocks over 3-D tubelet patches.

``VideoViT(video, keep)`` embeds every tubelet (one Conv3d), adds the position embedding, then runs
only the ``keep`` tokens through the transformer, so a student that sees 10-40% of a clip pays for
10-40% of the attention and MLP work. Registered sizes mirror timm's image ViTs (``vit_base_patch16_t2``
has ≈ 86M parameters like ``vit_base_patch16_224``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from timm.models.vision_transformer import Block
from torch import nn
from torch.utils.checkpoint import checkpoint

from salt_vla.hub import HubMixin, register_model_type
from salt_vla.masking import apply_masks
from salt_vla.models.layers import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    check_video,
    normalize_video,
    patchify,
    resample_pos_embed_3d,
    sincos_pos_embed_3d,
    trunc_normal_,
    video_grid,
)
from salt_vla.names import ENCODERS


@dataclass(frozen=True)
class VideoViTConfig:
    """Architecture of a :class:`VideoViT` (everything needed to rebuild it; stored in ``config.json``).

    Attributes:
        embed_dim, depth, num_heads, mlp_ratio, qkv_bias: the timm ViT block stack.
        patch_size: spatial patch side ``p`` in pixels; ``tubelet_size``: frames ``t`` per token.
        num_frames, img_size: the default clip (sets the learned position table's grid).
        pos_embed: ``"sincos"`` (fixed 3-D sin-cos, any grid) or ``"learned"`` (from an inflated image ViT;
            resampled trilinearly for other grids).
        mean, std: per-channel normalisation applied inside the model to uint8 / ``[0, 1]`` input.
        drop_path_rate, init_values: stochastic depth and LayerScale (``None`` = off).
    """

    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    patch_size: int = 16
    tubelet_size: int = 2
    num_frames: int = 16
    img_size: int = 224
    in_chans: int = 3
    pos_embed: str = "sincos"
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    drop_path_rate: float = 0.0
    init_values: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", tuple(self.mean))
        object.__setattr__(self, "std", tuple(self.std))
        problems = []
        if self.embed_dim % self.num_heads:
            problems.append(f"embed_dim={self.embed_dim} is not divisible by num_heads={self.num_heads}")
        if self.embed_dim % 2:
            problems.append(f"embed_dim={self.embed_dim} must be even (sin-cos position embedding)")
        if self.pos_embed not in ("sincos", "learned"):
            problems.append(f"pos_embed={self.pos_embed!r} must be 'sincos' or 'learned'")
        if len(self.mean) != self.in_chans or len(self.std) != self.in_chans:
            problems.append(f"mean/std need {self.in_chans} values; got {self.mean} / {self.std}")
        if self.num_frames % self.tubelet_size or self.img_size % self.patch_size:
            problems.append(f"default clip {self.num_frames}x{self.img_size}x{self.img_size} is not divisible by "
                            f"tubelet {self.tubelet_size} / patch {self.patch_size}")
        if problems:
            raise ValueError("Invalid VideoViTConfig: " + "; ".join(problems) + ".")

    @property
    def patch_size_3d(self) -> tuple[int, int, int]:
        return (self.tubelet_size, self.patch_size, self.patch_size)

    @property
    def default_grid(self) -> tuple[int, int, int]:
        return video_grid((self.num_frames, self.img_size, self.img_size), self.patch_size_3d)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def init_block_stack(blocks: Sequence[Block]) -> None:
    """trunc-normal(0.02) init, then scale each residual branch's output projection by 1/sqrt(2 * layer)."""
    for layer, block in enumerate(blocks, start=1):
        block.apply(_init_weights)
        block.attn.proj.weight.data.div_(math.sqrt(2.0 * layer))
        block.mlp.fc2.weight.data.div_(math.sqrt(2.0 * layer))


def make_blocks(dim: int, depth: int, num_heads: int, mlp_ratio: float, qkv_bias: bool = True,
                drop_path_rate: float = 0.0, init_values: float | None = None) -> nn.ModuleList:
    """``depth`` timm ViT blocks (fused SDPA attention) with a linear stochastic-depth ramp."""
    # On the CPU explicitly: under `with torch.device("meta")` a meta tensor has no values to list.
    rates = torch.linspace(0, drop_path_rate, depth, device="cpu").tolist() if depth else []
    blocks = nn.ModuleList(
        Block(dim, num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop_path=rate, init_values=init_values,
              norm_layer=partial(nn.LayerNorm, eps=1e-6))
        for rate in rates
    )
    init_block_stack(blocks)
    return blocks


def run_blocks(blocks: nn.ModuleList, tokens: torch.Tensor, *, checkpointing: bool) -> torch.Tensor:
    """``tokens`` through ``blocks``; with ``checkpointing`` (training with gradients only) each block's activations
    are recomputed in the backward pass instead of kept."""
    use = checkpointing and blocks.training and torch.is_grad_enabled()
    for block in blocks:
        tokens = checkpoint(block, tokens, use_reentrant=False) if use else block(tokens)
    return tokens


class PositionTable(nn.Module):
    """Fixed sin-cos position embeddings per grid, built once per grid and kept on the model's device."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self._tables: dict[tuple[tuple[int, int, int], torch.device, torch.dtype], torch.Tensor] = {}

    def forward(self, grid: tuple[int, int, int], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        key = (tuple(grid), device, dtype)
        if key not in self._tables:
            self._tables[key] = sincos_pos_embed_3d(grid, self.dim).to(device=device, dtype=dtype).unsqueeze(0)
        return self._tables[key]


class VideoViT(nn.Module, HubMixin):
    """A video ViT over tubelets; satisfies :class:`salt_vla.interfaces.Encoder`.

    ``forward(video: [B, C, T, H, W] uint8 or [0, 1] float, keep: [B, K] | None) -> [B, K or N, D]``.
    """

    def __init__(self, config: VideoViTConfig | None = None, *, grad_checkpointing: bool = False, **overrides: Any) -> None:
        super().__init__()
        config = replace(config or VideoViTConfig(), **overrides) if overrides else (config or VideoViTConfig())
        self.config = config
        self.grad_checkpointing = grad_checkpointing
        self.patch_embed = nn.Conv3d(config.in_chans, config.embed_dim, kernel_size=config.patch_size_3d,
                                     stride=config.patch_size_3d)
        if config.pos_embed == "learned":
            n = math.prod(config.default_grid)
            self.pos_embed = nn.Parameter(torch.zeros(1, n, config.embed_dim))
            self.pos_embed.data.copy_(sincos_pos_embed_3d(config.default_grid, config.embed_dim).unsqueeze(0))
        else:
            self.pos_embed = None
        self.position_table = PositionTable(config.embed_dim)
        self.blocks = make_blocks(config.embed_dim, config.depth, config.num_heads, config.mlp_ratio,
                                  config.qkv_bias, config.drop_path_rate, config.init_values)
        self.norm = nn.LayerNorm(config.embed_dim, eps=1e-6)
        self.register_buffer("mean", torch.tensor(config.mean), persistent=False)
        self.register_buffer("std", torch.tensor(config.std), persistent=False)
        weight = self.patch_embed.weight.data
        nn.init.xavier_uniform_(weight.view(weight.shape[0], -1))
        nn.init.zeros_(self.patch_embed.bias)
        self._range_checked = False

    # -- Encoder protocol -------------------------------------------------------------------------
    @property
    def embed_dim(self) -> int:
        return self.config.embed_dim

    @property
    def patch_size(self) -> tuple[int, int, int]:
        return self.config.patch_size_3d

    def grid(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        return video_grid((frames, height, width), self.patch_size)

    # -- computation ------------------------------------------------------------------------------
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.grad_checkpointing = enable

    def position_embedding(self, grid: tuple[int, int, int], dtype: torch.dtype) -> torch.Tensor:
        """``[1, N, D]`` position embedding for ``grid``."""
        if self.pos_embed is not None:
            return resample_pos_embed_3d(self.pos_embed, self.config.default_grid, grid).to(dtype)
        return self.position_table(grid, self.patch_embed.weight.device, dtype)

    def embed(self, video: torch.Tensor) -> torch.Tensor:
        """Patch-embed and position-encode every tubelet: ``[B, C, T, H, W] -> [B, N, D]``."""
        grid = check_video(video, self.patch_size, self.config.in_chans, check_range=not self._range_checked)
        self._range_checked = True
        dtype = self.patch_embed.weight.dtype
        x = normalize_video(video, self.mean, self.std, dtype=dtype if video.dtype == torch.uint8 else None)
        # The tubelet embedding is a Conv3d with stride = kernel, i.e. one matmul over patchified pixels. cuDNN's
        # Conv3d backward took 6% of an H200 training step for 1% of its FLOPs; the matmul uses tensor cores.
        weight = self.patch_embed.weight  # [D, C, t, p, p] -> [D, t * p * p * C], the order of `patchify`
        x = F.linear(patchify(x.to(dtype), self.patch_size), weight.permute(0, 2, 3, 4, 1).flatten(1),
                     self.patch_embed.bias)
        return x + self.position_embedding(grid, x.dtype)

    def forward_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """Run embedded tokens ``[B, K, D]`` through the blocks and the final norm."""
        return self.norm(run_blocks(self.blocks, tokens, checkpointing=self.grad_checkpointing))

    def forward(self, video: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        tokens = self.embed(video)
        if keep is not None:
            tokens = apply_masks(tokens, keep)
        return self.forward_tokens(tokens)

    def forward_intermediates(self, video: torch.Tensor, layers: Sequence[int], *, norm: bool = False) -> list[torch.Tensor]:
        """Tokens ``[B, N, D]`` after each block index in ``layers`` (negative counts from the end)."""
        wanted = {layer % len(self.blocks) for layer in layers}
        tokens, found = self.embed(video), {}
        for index, block in enumerate(self.blocks):
            tokens = block(tokens)
            if index in wanted:
                found[index] = self.norm(tokens) if norm else tokens
        return [found[layer % len(self.blocks)] for layer in layers]


SIZES: dict[str, tuple[int, int, int]] = {
    "micro": (96, 4, 3),
    "tiny": (192, 12, 3),
    "small": (384, 12, 6),
    "base": (768, 12, 12),
    "large": (1024, 24, 16),
    "huge": (1280, 32, 16),
}
"""Width/depth/heads of the named students (timm's ViT sizes, plus ``micro`` for laptops and tests)."""

REGISTERED: dict[str, dict[str, Any]] = {name: spec for name, (_, spec) in ENCODERS.items()}
"""Registered encoder names and what they encode (size, patch, tubelet; default clip 16x224x224 unless noted)."""

DEFAULT_PRETRAINED: dict[str, str] = {
    f"vit_{size}_patch16_t2": f"timm:vit_{size}_patch16_224" for size in ("tiny", "small", "base", "large")
}
"""What ``pretrained=True`` loads for a registered name: timm's ImageNet weights of the image ViT of the same
width, depth and patch size, inflated to video (timm's default tag of that model). ``vit_micro`` has no image
counterpart and ``vit_huge_patch16_t2`` none of the same patch size, so neither has a default."""


def resolve_pretrained(name: str, pretrained: str | bool | None) -> str | None:
    """``pretrained`` as a weight source: ``True`` is the name's default (timm habit), ``False``/``None`` none.

    Raises:
        ValueError: ``True`` for a name without a default (the message says what to pass instead).
        TypeError: anything but a source string or a bool.
    """
    if pretrained is None or pretrained is False:
        return None
    if pretrained is True:
        if name not in DEFAULT_PRETRAINED:
            with_default = ", ".join(DEFAULT_PRETRAINED)
            raise ValueError(
                f"Encoder {name!r} has no default pretrained weights, so pretrained=True has nothing to load. "
                f"Pass a source instead: pretrained='timm:<image ViT>' (e.g. 'timm:vit_huge_patch14_224.orig_in21k'), "
                f"'hf-hub:org/repo' or 'local-dir:<path>' of a salt-vla checkpoint; or use one of {with_default}, "
                "whose default is timm's image ViT of the same size.")
        return DEFAULT_PRETRAINED[name]
    if not isinstance(pretrained, (str, os.PathLike)):
        raise TypeError(f"pretrained must be True/False or a source string such as 'timm:vit_base_patch16_224', "
                        f"'hf-hub:org/repo' or 'local-dir:<path>'; got {type(pretrained).__name__} {pretrained!r}.")
    return os.fspath(pretrained)


def video_vit_config(name: str, **overrides: Any) -> VideoViTConfig:
    """The :class:`VideoViTConfig` of a registered name, with ``overrides`` applied."""
    if name not in REGISTERED:
        raise KeyError(f"Unknown VideoViT {name!r}; registered: {', '.join(REGISTERED)}.")
    spec = dict(REGISTERED[name])
    embed_dim, depth, num_heads = SIZES[spec.pop("size")]
    base = {"embed_dim": embed_dim, "depth": depth, "num_heads": num_heads, **spec}
    return VideoViTConfig(**{**base, **overrides})


register_model_type("video_vit", VideoViT, lambda c: VideoViT(VideoViTConfig(**c)))
