"""The one list of each family of built-in names: encoders, losses, target normalisations, latent dtypes.

Pure data, no torch: the registry (:mod:`salt_vla.builtins`), the models, the objectives, the caches and the
configuration checks all read these, so a name is added in one place.
"""

from __future__ import annotations

from typing import Any

ENCODERS: dict[str, tuple[str, dict[str, Any]]] = {
    "vit_micro_patch8_t2": ("96 wide, 4 deep, patch 8, tubelet 2, default clip 8x64x64 (laptops, tests)",
                            {"size": "micro", "patch_size": 8, "tubelet_size": 2, "num_frames": 8, "img_size": 64}),
    "vit_tiny_patch16_t2": ("ViT-Ti (192 wide, 12 deep), patch 16, tubelet 2",
                            {"size": "tiny", "patch_size": 16, "tubelet_size": 2}),
    "vit_small_patch16_t2": ("ViT-S (384 wide, 12 deep), patch 16, tubelet 2",
                             {"size": "small", "patch_size": 16, "tubelet_size": 2}),
    "vit_base_patch16_t2": ("ViT-B (768 wide, 12 deep, ~86M), patch 16, tubelet 2",
                            {"size": "base", "patch_size": 16, "tubelet_size": 2}),
    "vit_large_patch16_t2": ("ViT-L (1024 wide, 24 deep, ~304M), patch 16, tubelet 2",
                             {"size": "large", "patch_size": 16, "tubelet_size": 2}),
    "vit_huge_patch16_t2": ("ViT-H (1280 wide, 32 deep, ~632M), patch 16, tubelet 2",
                            {"size": "huge", "patch_size": 16, "tubelet_size": 2}),
}
"""Built-in encoder name -> (description, what it encodes: size, patch, tubelet; default clip 16x224x224 unless noted)."""

LOSSES: dict[str, str] = {
    "l1": "L1 on target tokens (SALT paper)",
    "mse": "mean squared error",
    "smooth_l1": "Huber / smooth L1 with `beta`",
    "cosine": "1 - cosine similarity per token",
}
"""Built-in latent losses (kinds of :class:`salt_vla.objectives.LatentLoss`) and their descriptions."""

TARGET_NORMS: tuple[str, ...] = ("none", "layer_norm")
"""How :class:`salt_vla.objectives.LatentLoss` may normalise targets before comparing."""

LATENT_DTYPES: tuple[str, ...] = ("float16", "bfloat16", "float8_e4m3")
"""Storage types of a latent cache."""
