"""VideoMAE sizes and the resolved configuration of one encoder.

Sizes follow the VideoMAE (v1) and VideoMAEv2 papers and released code: tubelet ``2 x p x p``, pre-norm
blocks with q/v biases and no k bias, fixed 1-D sin-cos position table over the flattened token grid.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

FAMILIES = ("videomae", "videomaev2")
"""Registered name prefixes: ``videomae_<size>`` (v1) and ``videomaev2_<size>``."""


@dataclass(frozen=True)
class Size:
    """The shape of one ViT size: width, depth, heads, MLP width and spatial patch."""

    name: str
    embed_dim: int
    depth: int
    num_heads: int
    mlp_dim: int
    patch: int = 16

    @property
    def description(self) -> str:
        return f"width {self.embed_dim}, depth {self.depth}, {self.num_heads} heads, patch {self.patch}"


SIZES: dict[str, Size] = {
    "small": Size("small", 384, 12, 6, 1536),
    "base": Size("base", 768, 12, 12, 3072),
    "large": Size("large", 1024, 24, 16, 4096),
    "huge": Size("huge", 1280, 32, 16, 5120),
    # ViT-g/14 of VideoMAEv2: MLP ratio 48/11, so 1408 * 48 / 11 = 6144.
    "giant": Size("giant", 1408, 40, 16, 6144, patch=14),
}

FAMILY_SIZES: dict[str, tuple[str, ...]] = {
    "videomae": ("small", "base", "large", "huge"),
    "videomaev2": ("base", "large", "huge", "giant"),
}
"""The sizes registered per family (the published checkpoints)."""


def registered_names() -> list[str]:
    """Every teacher name this plugin registers, e.g. ``videomae_base``, ``videomaev2_giant``."""
    return [f"{family}_{size}" for family, sizes in FAMILY_SIZES.items() for size in sizes]


def size_for(embed_dim: int, depth: int, patch: int) -> Size | None:
    """The size with this width, depth and patch, or ``None``."""
    return next((s for s in SIZES.values() if (s.embed_dim, s.depth, s.patch) == (embed_dim, depth, patch)), None)


def name_for(size: Size, prefer_family: str) -> str:
    """The registered name of ``size``, in ``prefer_family`` when that family has it."""
    families = sorted(FAMILY_SIZES, key=lambda f: f != prefer_family)
    family = next(f for f in families if size.name in FAMILY_SIZES[f])
    return f"{family}_{size.name}"


@dataclass(frozen=True)
class EncoderConfig:
    """Everything that decides what a :class:`~salt_vla_videomae.model.VideoMAEEncoder` computes.

    Attributes:
        embed_dim, num_heads, mlp_dim: width, attention heads and MLP hidden width.
        depth: blocks the encoder holds and runs (the target layer + 1; later blocks are never built).
        patch, tubelet: spatial patch (pixels) and tubelet (frames) of the Conv3d patch embedding.
        num_frames, image_size: the clip ``num_frames x image_size x image_size`` the position table is for.
        layer_norm_eps: LayerNorm epsilon (1e-6 in the original code, 1e-12 in transformers' configs).
        final_norm: apply a LayerNorm (``norm``) to the output tokens.
        layer_scale: blocks scale their residual branches by learned ``gamma_1``/``gamma_2``.
        mean, std: per-channel normalisation of ``[0, 1]`` pixels.
    """

    embed_dim: int
    depth: int
    num_heads: int
    mlp_dim: int
    patch: int = 16
    tubelet: int = 2
    num_frames: int = 16
    image_size: int = 224
    layer_norm_eps: float = 1e-6
    final_norm: bool = True
    layer_scale: bool = False
    mean: tuple[float, float, float] = field(default=IMAGENET_MEAN)
    std: tuple[float, float, float] = field(default=IMAGENET_STD)

    def __post_init__(self) -> None:
        problems = []
        if self.embed_dim % self.num_heads:
            problems.append(f"embed_dim={self.embed_dim} is not divisible by num_heads={self.num_heads}")
        if self.depth < 1:
            problems.append(f"depth={self.depth} must be >= 1")
        if self.num_frames < self.tubelet or self.num_frames % self.tubelet:
            problems.append(f"num_frames={self.num_frames} is not a positive multiple of the tubelet {self.tubelet}")
        if self.image_size < self.patch or self.image_size % self.patch:
            problems.append(f"image_size={self.image_size} is not a positive multiple of the patch {self.patch}")
        for name in ("mean", "std"):
            value = tuple(float(v) for v in getattr(self, name))
            object.__setattr__(self, name, value)
            if len(value) != 3:
                problems.append(f"{name} needs 3 values (R, G, B); got {value}")
        if any(s <= 0 for s in self.std):
            problems.append(f"std must be positive; got {self.std}")
        if problems:
            raise ValueError("Invalid VideoMAE configuration: " + "; ".join(problems) + ".")

    @classmethod
    def from_size(cls, size: Size, **overrides: Any) -> EncoderConfig:
        shape = dict(embed_dim=size.embed_dim, depth=size.depth, num_heads=size.num_heads, mlp_dim=size.mlp_dim,
                     patch=size.patch)
        return cls(**{**shape, **overrides})

    @property
    def patch_size(self) -> tuple[int, int, int]:
        return (self.tubelet, self.patch, self.patch)

    @property
    def grid(self) -> tuple[int, int, int]:
        side = self.image_size // self.patch
        return (self.num_frames // self.tubelet, side, side)

    @property
    def num_tokens(self) -> int:
        t, h, w = self.grid
        return t * h * w

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
