"""Pure tensor helpers shared by the models and by checkpoint loading.

Nothing here holds parameters: these functions are reused at construction, at load time (checkpoint
filters) and at run time (grids other than the one a model was built for).
"""

from __future__ import annotations

import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@torch.no_grad()
def trunc_normal_(tensor: torch.Tensor, std: float = 0.02, bound: float = 2.0,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Fill ``tensor`` in place from Normal(0, ``std``) truncated to ``[-bound, bound]`` (redrawn until inside).

    The same seed gives the same numbers on every PyTorch version: ``torch.nn.init.trunc_normal_`` changed its
    sampler between releases (inverse CDF of uniform draws up to 2.12, rejection sampling of normal draws from
    2.13), so one seed built different initial weights on different installs. Only ``normal_`` is used here.
    With the ViT default (``std=0.02``, bounds at 100 standard deviations) this equals the newer releases' draws.
    """
    tensor.normal_(0.0, std, generator=generator)
    if tensor.device.type == "meta":  # no values to redraw: a model built for its shapes only
        return tensor
    outside = tensor.abs() > bound
    while outside.any():
        redrawn = torch.empty(int(outside.sum()), dtype=tensor.dtype, device=tensor.device).normal_(0.0, std, generator=generator)
        tensor[outside] = redrawn
        outside = tensor.abs() > bound
    return tensor


def sincos_1d(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Sin-cos features ``[P, dim]`` of 1-D ``positions: [P]`` (``dim`` even), as in "Attention is all you need"."""
    if dim % 2:
        raise ValueError(f"sin-cos embedding width must be even; got {dim}.")
    omega = torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0)
    omega = 1.0 / (10000.0**omega)
    angles = positions.to(torch.float64).reshape(-1, 1) * omega.reshape(1, -1)
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1).float()


def sincos_pos_embed_3d(grid: tuple[int, int, int], dim: int) -> torch.Tensor:
    """Fixed 3-D sin-cos position embedding ``[t' * h' * w', dim]`` in row-major (time slowest) order.

    The width is split into a time part and two equal spatial parts, each even: ``dim_h = dim_w =
    2 * (dim // 6)`` and ``dim_t = dim - dim_h - dim_w``.
    """
    if dim % 2:
        raise ValueError(f"3-D sin-cos embedding width must be even; got {dim}.")
    frames, height, width = grid
    dim_hw = 2 * (dim // 6)
    dim_t = dim - 2 * dim_hw
    t, h, w = torch.meshgrid(torch.arange(frames), torch.arange(height), torch.arange(width), indexing="ij")
    return torch.cat(
        [sincos_1d(t.flatten(), dim_t), sincos_1d(h.flatten(), dim_hw), sincos_1d(w.flatten(), dim_hw)], dim=1
    )


def patchify(video: torch.Tensor, patch_size: tuple[int, int, int]) -> torch.Tensor:
    """``video: [B, C, T, H, W]`` -> ``[B, N, t * p * p * C]`` tubelet pixels in token order."""
    b, c, frames, height, width = video.shape
    pt, ph, pw = patch_size
    x = video.reshape(b, c, frames // pt, pt, height // ph, ph, width // pw, pw)
    x = x.permute(0, 2, 4, 6, 3, 5, 7, 1)  # B, t', h', w', pt, ph, pw, C
    return x.reshape(b, (frames // pt) * (height // ph) * (width // pw), pt * ph * pw * c)


def unpatchify(tokens: torch.Tensor, patch_size: tuple[int, int, int], grid: tuple[int, int, int], channels: int = 3) -> torch.Tensor:
    """Inverse of :func:`patchify`: ``[B, N, t * p * p * C]`` -> ``[B, C, T, H, W]``."""
    b = tokens.shape[0]
    pt, ph, pw = patch_size
    gt, gh, gw = grid
    x = tokens.reshape(b, gt, gh, gw, pt, ph, pw, channels).permute(0, 7, 1, 4, 2, 5, 3, 6)
    return x.reshape(b, channels, gt * pt, gh * ph, gw * pw)


def video_grid(shape: tuple[int, int, int], patch_size: tuple[int, int, int], *, what: str = "video") -> tuple[int, int, int]:
    """Token grid of a ``(T, H, W)`` clip; a clear error if a side is not divisible by the patch."""
    bad = [(axis, size, p) for axis, size, p in zip("THW", shape, patch_size) if size % p or size < p]
    if bad:
        details = ", ".join(f"{axis}={size} (not a positive multiple of {p})" for axis, size, p in bad)
        fix = " x ".join(f"k*{p}" for p in patch_size)
        raise ValueError(f"{what} of T x H x W = {tuple(shape)} cannot be cut into {patch_size} tubelets: {details}. "
                         f"Use clips of shape {fix}.")
    return tuple(size // p for size, p in zip(shape, patch_size))  # type: ignore[return-value]


def check_video(video: torch.Tensor, patch_size: tuple[int, int, int], channels: int = 3, *, check_range: bool = False,
                what: str = "video") -> tuple[int, int, int]:
    """Validate ``video: [B, C, T, H, W]`` (uint8, or float in [0, 1]); return its token grid.

    ``check_range`` reads the min/max (a host sync): done once per model, not every step.
    """
    if video.ndim != 5:
        raise ValueError(f"{what} must be [B, C, T, H, W]; got shape {tuple(video.shape)}. "
                         f"A single clip needs a batch axis: video.unsqueeze(0).")
    if video.shape[1] != channels:
        raise ValueError(f"{what} must have C={channels} channels at dim 1 ([B, C, T, H, W]); got shape "
                         f"{tuple(video.shape)}. Channels-last clips need video.permute(0, 4, 1, 2, 3).")
    if video.dtype != torch.uint8 and not video.is_floating_point():
        raise ValueError(f"{what} must be uint8 (0-255) or float in [0, 1]; got dtype {video.dtype}.")
    if check_range and video.is_floating_point() and video.numel():
        low, high = float(video.min()), float(video.max())
        if low < -1e-3 or high > 1.0 + 1e-3:
            raise ValueError(
                f"{what} is float but spans [{low:.3g}, {high:.3g}]; expected [0, 1]. Pass raw uint8 frames or "
                "frames / 255: the model applies the mean/std normalisation itself.")
    return video_grid(tuple(video.shape[2:]), patch_size, what=what)


def normalize_video(video: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``uint8`` or ``[0, 1]`` video ``[B, C, T, H, W]`` -> ``(x - mean) / std`` with ``mean/std: [C]``."""
    x = video.to(dtype or (torch.float32 if video.dtype == torch.uint8 else video.dtype))
    if video.dtype == torch.uint8:
        x = x / 255.0
    shape = (1, -1, 1, 1, 1)
    return (x - mean.to(x.dtype).view(shape)) / std.to(x.dtype).view(shape)


def resample_pos_embed_3d(pos_embed: torch.Tensor, old_grid: tuple[int, int, int], new_grid: tuple[int, int, int]) -> torch.Tensor:
    """Trilinearly resample a learned ``[1, t*h*w, D]`` position embedding from ``old_grid`` to ``new_grid``."""
    if tuple(old_grid) == tuple(new_grid):
        return pos_embed
    dim = pos_embed.shape[-1]
    grid = pos_embed.reshape(1, *old_grid, dim).permute(0, 4, 1, 2, 3).float()
    resized = torch.nn.functional.interpolate(grid, size=tuple(new_grid), mode="trilinear", align_corners=False)
    return resized.permute(0, 2, 3, 4, 1).reshape(1, -1, dim).to(pos_embed.dtype)
