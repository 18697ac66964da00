"""A tiny real teacher (tubelet Conv3d + one timm Block) and small datasets for the cache tests."""

from __future__ import annotations

import hashlib
import time

import pytest
import torch
from timm.models.vision_transformer import Block
from torch import nn

from salt_vla.data import SyntheticPhysicsDataset


class TinyTeacher(nn.Module):
    """A :class:`salt_vla.interfaces.Teacher`: tubelet projection, one transformer block, LayerNorm.

    ``delay`` seconds are slept per ``targets`` call, so a build can be interrupted mid-way.
    """

    def __init__(self, dim: int = 32, patch: tuple[int, int, int] = (2, 8, 8), seed: int = 0, delay: float = 0.0):
        super().__init__()
        torch.manual_seed(seed)
        self.patch = patch
        self.proj = nn.Conv3d(3, dim, kernel_size=patch, stride=patch)
        self.block = Block(dim, num_heads=4)
        self.norm = nn.LayerNorm(dim)
        self.delay = delay

    @property
    def latent_dim(self) -> int:
        return self.proj.out_channels

    @property
    def patch_size(self) -> tuple[int, int, int]:
        return self.patch

    def grid(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        return (frames // self.patch[0], height // self.patch[1], width // self.patch[2])

    @torch.no_grad()
    def targets(self, video: torch.Tensor) -> torch.Tensor:
        time.sleep(self.delay)
        tokens = self.proj((video - 0.45) / 0.225).flatten(2).transpose(1, 2)
        return self.norm(self.block(tokens)) * 4.0  # spread values over a realistic range

    def fingerprint(self) -> str:
        digest = hashlib.sha256(repr(self.patch).encode())
        for name, tensor in sorted(self.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().numpy().tobytes())
        return digest.hexdigest()[:16]


class ElementwiseTeacher:
    """A teacher whose latents are an affine map of the clip's pixels: exact whatever the batch."""

    def __init__(self, dim: int, patch: tuple[int, int, int]) -> None:
        self.latent_dim, self.patch_size = dim, patch

    def grid(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        return (frames // self.patch_size[0], height // self.patch_size[1], width // self.patch_size[2])

    def targets(self, video: torch.Tensor) -> torch.Tensor:
        n = self.grid(*video.shape[2:])
        count = n[0] * n[1] * n[2] * self.latent_dim
        flat = video.flatten(1)
        flat = flat.repeat(1, -(-count // flat.shape[1]))[:, :count]
        return (flat * 300.0 - 150.0).reshape(len(video), -1, self.latent_dim)

    def fingerprint(self) -> str:
        return f"elementwise-{self.latent_dim}-{self.patch_size}"


@pytest.fixture
def teacher() -> TinyTeacher:
    return TinyTeacher()


@pytest.fixture
def make_teacher() -> type[TinyTeacher]:
    return TinyTeacher


@pytest.fixture
def elementwise_teacher() -> type[ElementwiseTeacher]:
    return ElementwiseTeacher


@pytest.fixture
def dataset() -> SyntheticPhysicsDataset:
    return SyntheticPhysicsDataset(num_videos=6, frames=4, size=(16, 16), seed=3, video_frames=12)
