"""A native PyTorch VideoMAE / VideoMAEv2 encoder.

Parameter names follow the original VideoMAE code (``patch_embed.proj``, ``blocks.N.attn.qkv`` with
``q_bias``/``v_bias``, ``blocks.N.mlp.fc1``, ``norm``), so original checkpoints load as they are and
transformers checkpoints go through :func:`salt_vla_videomae.checkpoint.checkpoint_filter_fn`.

Speed: one fused qkv matmul (zero k bias), PyTorch scaled-dot-product attention (flash / memory-efficient
kernels on GPU), a position table precomputed as a buffer, no per-call allocation beyond activations.
"""

from __future__ import annotations

import zlib

import torch
import torch.nn.functional as F
from torch import nn

from salt_vla_videomae.config import EncoderConfig


def sinusoid_table(num_positions: int, dim: int) -> torch.Tensor:
    """VideoMAE's fixed position table ``[num_positions, dim]`` (float64).

    Entry ``(p, j)`` is ``sin`` (even ``j``) or ``cos`` (odd ``j``) of ``p / 10000 ** (2 * (j // 2) / dim)``:
    sin and cos interleaved, over the flattened ``(t', h', w')`` token index.
    """
    exponent = 2 * (torch.arange(dim, dtype=torch.float64) // 2) / dim
    angles = torch.arange(num_positions, dtype=torch.float64).unsqueeze(1) / torch.pow(10000.0, exponent)
    angles[:, 0::2] = torch.sin(angles[:, 0::2])
    angles[:, 1::2] = torch.cos(angles[:, 1::2])
    return angles


class Attention(nn.Module):
    """Multi-head self-attention with q and v biases and no k bias, in one fused qkv matmul."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x: [B, N, D]`` -> ``[B, N, D]``."""
        batch, tokens, dim = x.shape
        bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias), self.v_bias))
        qkv = F.linear(x, self.qkv.weight, bias).view(batch, tokens, 3, self.num_heads, dim // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [B, heads, N, head_dim]
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, dim))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block, optionally with layer scale (``gamma_1``, ``gamma_2``)."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        dim = config.embed_dim
        self.norm1 = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.attn = Attention(dim, config.num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.mlp = Mlp(dim, config.mlp_dim)
        self.gamma_1 = nn.Parameter(torch.ones(dim)) if config.layer_scale else None
        self.gamma_2 = nn.Parameter(torch.ones(dim)) if config.layer_scale else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gamma_1 is None:
            x = x + self.attn(self.norm1(x))
            return x + self.mlp(self.norm2(x))
        x = x + self.gamma_1 * self.attn(self.norm1(x))
        return x + self.gamma_2 * self.mlp(self.norm2(x))


class VideoMAEEncoder(nn.Module):
    """VideoMAE encoder: pixels in, tokens out.

    Takes ``video: [B, 3, T, H, W]`` as uint8 (0-255) or float in ``[0, 1]`` and applies the mean/std
    normalisation itself, so it satisfies :class:`salt_vla.interfaces.Encoder`. ``T, H, W`` must be the
    configured ``num_frames, image_size, image_size``: the position table is 1-D over the flattened grid.

    Output dtype: the residual stream's dtype (that of the weights, or bfloat16 under a bfloat16
    autocast), float32 after the final norm under autocast.
    """

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.patch_embed = nn.ModuleDict(
            {"proj": nn.Conv3d(3, config.embed_dim, kernel_size=config.patch_size, stride=config.patch_size)}
        )
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.depth))
        self.norm = nn.LayerNorm(config.embed_dim, eps=config.layer_norm_eps) if config.final_norm else None
        self.register_buffer("pos_embed", torch.empty(1, config.num_tokens, config.embed_dim), persistent=False)
        self.register_buffer("pixel_mean", torch.empty(1, 3, 1, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.empty(1, 3, 1, 1, 1), persistent=False)
        self.reset_buffers()

    # -- the Encoder protocol -------------------------------------------------------------------

    @property
    def embed_dim(self) -> int:
        return self.config.embed_dim

    @property
    def patch_size(self) -> tuple[int, int, int]:
        return self.config.patch_size

    def grid(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        """Token grid of a ``frames x height x width`` clip; ``ValueError`` if a side is not divisible."""
        sides = (frames, height, width)
        if any(side < p or side % p for side, p in zip(sides, self.patch_size)):
            raise ValueError(f"A clip of T x H x W = {sides} cannot be cut into {self.patch_size} tubelets; "
                             f"each side must be a positive multiple of {self.patch_size}.")
        return (frames // self.patch_size[0], height // self.patch_size[1], width // self.patch_size[2])

    def forward(self, video: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """Tokens ``[B, N, D]`` of ``video: [B, 3, T, H, W]``, or ``[B, K, D]`` for ``keep: [B, K]`` int64.

        Kept tokens are gathered right after the position embedding; the others are never computed.
        """
        expected = (3, self.config.num_frames, self.config.image_size, self.config.image_size)
        if video.ndim != 5 or tuple(video.shape[1:]) != expected:
            raise ValueError(
                f"VideoMAE encoder expects video [B, C, T, H, W] with C, T, H, W = {expected} (its configured "
                f"clip); got shape {tuple(video.shape)}. Resample the clip, or build the teacher with "
                "num_frames=/image_size= matching the checkpoint it loads."
            )
        x = self.normalize(video).to(self.patch_embed.proj.weight.dtype)
        # Tokens made contiguous once here, so no later LayerNorm has to copy them. The in-place add keeps
        # the residual stream in the patch embedding's dtype (bfloat16 under autocast) without casting the
        # float32 table on every call.
        x = self.patch_embed.proj(x).flatten(2).transpose(1, 2).contiguous().add_(self.pos_embed)
        if keep is not None:
            x = x.gather(1, keep.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        for block in self.blocks:
            x = block(x)
        return x if self.norm is None else self.norm(x)

    # -- pieces ---------------------------------------------------------------------------------

    def normalize(self, video: torch.Tensor) -> torch.Tensor:
        """``(video - mean) / std`` in float32; uint8 video is divided by 255 first."""
        x = video.float()
        if video.dtype == torch.uint8:
            x = x / 255.0
        return (x - self.pixel_mean) / self.pixel_std

    def reset_buffers(self, device: torch.device | str | None = None) -> None:
        """(Re)compute the position table and the normalisation constants, on ``device`` (default: where the
        buffers are). Needed after building on the meta device: these buffers are not in the state dict."""
        device = torch.device(device) if device is not None else self.pos_embed.device
        if device.type == "meta":  # shapes only
            return
        table = sinusoid_table(self.config.num_tokens, self.config.embed_dim).unsqueeze(0)
        self.pos_embed = table.to(device=device, dtype=self.pos_embed.dtype)
        self.pixel_mean = torch.tensor(self.config.mean, device=device).view(1, 3, 1, 1, 1)
        self.pixel_std = torch.tensor(self.config.std, device=device).view(1, 3, 1, 1, 1)

    def init_weights(self, seed: int = 0) -> None:
        """Seeded random weights (normal, std 0.02; zero biases; unit norms and layer scales), for tests and
        ablations. Each parameter has its own generator, so block ``i`` gets the same values at any depth."""
        with torch.no_grad():
            for name, param in self.named_parameters():
                if param.ndim > 1:
                    generator = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
                    param.copy_(torch.randn(param.shape, generator=generator).mul_(0.02))
                elif name.endswith(("norm1.weight", "norm2.weight", "norm.weight", "gamma_1", "gamma_2")):
                    param.fill_(1.0)
                else:
                    param.zero_()

    def _apply(self, fn, recurse=True):  # type: ignore[no-untyped-def]
        # Casting the module (.half(), .to(torch.bfloat16)) casts the weights and the position table, but the
        # normalisation constants stay float32: rounding 0.485 to bfloat16 would shift every input pixel.
        super()._apply(fn, recurse)
        self.pixel_mean = self.pixel_mean.float()
        self.pixel_std = self.pixel_std.float()
        return self
