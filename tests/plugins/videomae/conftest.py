"""Reference models for the VideoMAE teacher tests: transformers' VideoMAEModel on random weights.

Every 1-D parameter (biases, LayerNorm scales and shifts, q/v biases) is drawn at random too, so a wrong
epsilon, a swapped bias or a missing norm cannot hide behind transformers' zero/one initialisation.
Checkpoints are real ``save_pretrained`` directories, built once per session and shared.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from salt_vla_videomae.config import IMAGENET_MEAN, IMAGENET_STD, SIZES
from salt_vla_videomae.loading import CheckpointNote
from salt_vla_videomae.teacher import VideoMAETeacher, create_videomae_teacher


@dataclass(frozen=True)
class Reference:
    """A saved transformers checkpoint and the model reloaded from it (sdpa attention)."""

    model: torch.nn.Module
    directory: Path

    def tokens(self, video: torch.Tensor, **kwargs) -> torch.Tensor:
        """transformers' ``last_hidden_state`` for ``video: [B, C, T, H, W]`` in [0, 1] (normalised here)."""
        with torch.inference_mode():
            return self.model(pixel_values=hf_pixels(video), **kwargs).last_hidden_state

    def hidden_states(self, video: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Embeddings, then every block's output."""
        with torch.inference_mode():
            return self.model(pixel_values=hf_pixels(video), output_hidden_states=True).hidden_states


def hf_pixels(video: torch.Tensor) -> torch.Tensor:
    """``[B, C, T, H, W]`` in [0, 1] -> transformers' normalised ``[B, T, C, H, W]``."""
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1)
    return ((video - mean) / std).permute(0, 2, 1, 3, 4)


def random_transformers_weights(size: str, directory: Path) -> None:
    """Save a transformers ``VideoMAEModel`` of ``size`` with random weights (all of them) to ``directory``."""
    from transformers import VideoMAEConfig, VideoMAEModel

    s = SIZES[size]
    config = VideoMAEConfig(hidden_size=s.embed_dim, num_hidden_layers=s.depth, num_attention_heads=s.num_heads,
                            intermediate_size=s.mlp_dim, patch_size=s.patch, num_frames=4, image_size=64,
                            use_mean_pooling=False)
    torch.manual_seed(s.embed_dim)
    model = VideoMAEModel(config)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.ndim == 1:
                scale = name.endswith(("layernorm_before.weight", "layernorm_after.weight", "layernorm.weight"))
                param.normal_(1.0 if scale else 0.0, 0.1)
    model.save_pretrained(directory)


@pytest.fixture(scope="session")
def reference(tmp_path_factory) -> Callable[..., Reference]:
    """``reference(size, frames=4, image_size=64, mean_pooling=False, eps=1e-12)``: a cached checkpoint.

    One set of random weights per size; each configuration is that set re-read by transformers with the
    configuration changed and saved again with ``save_pretrained`` (a mean-pooling model drops the final norm).
    ``eps`` defaults to transformers' 1e-12; the original code (and checkpoints without a config) use 1e-6.
    """
    from safetensors import safe_open
    from transformers import VideoMAEModel

    weights: dict[str, Path] = {}
    weight_names: dict[str, frozenset[str]] = {}
    files: dict[tuple[str, frozenset[str]], Path] = {}
    cache: dict[tuple, Reference] = {}

    def get(size: str, frames: int = 4, image_size: int = 64, mean_pooling: bool = False, eps: float = 1e-12
            ) -> Reference:
        if size not in weights:
            weights[size] = tmp_path_factory.mktemp(f"weights_{size}")
            random_transformers_weights(size, weights[size])
            with safe_open(weights[size] / "model.safetensors", framework="pt") as handle:
                weight_names[size] = frozenset(handle.keys())
            files[size, weight_names[size]] = weights[size] / "model.safetensors"
        key = (size, frames, image_size, mean_pooling, eps)
        if key not in cache:
            directory = tmp_path_factory.mktemp(f"hf_{size}_{frames}x{image_size}")
            model = VideoMAEModel.from_pretrained(
                weights[size], num_frames=frames, image_size=image_size, use_mean_pooling=mean_pooling,
                layer_norm_eps=eps, attn_implementation="sdpa").eval()
            names = frozenset(model.state_dict())
            written = files.get((size, names))
            if written is not None and names <= weight_names[size]:
                # Every tensor was read from the weights file, and a file of these tensors exists: only the
                # config differs (frames, size, eps; the position table is not saved). Share the file (84 MB for
                # ViT-S, 329 MB for ViT-B) by a hard link instead of writing it again.
                model.config.save_pretrained(directory)
                os.link(written, directory / "model.safetensors")
            else:
                model.save_pretrained(directory)
                files[size, names] = directory / "model.safetensors"
            cache[key] = Reference(model, directory)
        return cache[key]

    return get


def _random_video(frames: int, size: int, batch: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, 3, frames, size, size, generator=torch.Generator().manual_seed(seed))


def _load_teacher(name: str, pretrained=None, **kwargs) -> VideoMAETeacher:
    family, size = name.split("_")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CheckpointNote)
        return create_videomae_teacher(family, size, pretrained=pretrained, **kwargs)


@pytest.fixture(scope="session")
def random_video() -> Callable[..., torch.Tensor]:
    """``random_video(frames, size, batch=2, seed=0)``: ``[B, 3, T, S, S]`` float in [0, 1]."""
    return _random_video


@pytest.fixture(scope="session")
def load_teacher() -> Callable[..., VideoMAETeacher]:
    """``load_teacher("videomae_base", pretrained, **kwargs)`` with checkpoint notes silenced."""
    return _load_teacher


@pytest.fixture
def offline_hub(tmp_path, monkeypatch) -> Callable[[str], Path]:
    """``offline_hub("org/name")``: an empty snapshot directory of that repository in a Hugging Face cache.

    The tests run with HF_HUB_OFFLINE=1, so ``hf-hub:org/name`` resolves to it exactly as a real download
    cached earlier would; write the repository's files into the returned directory.
    """
    import huggingface_hub.constants

    cache = tmp_path / "hub"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))

    def snapshot(repo_id: str) -> Path:
        repo = cache / f"models--{repo_id.replace('/', '--')}"
        directory = repo / "snapshots" / ("0" * 40)
        directory.mkdir(parents=True)
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text("0" * 40)
        return directory

    return snapshot
