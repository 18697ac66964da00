"""Probes on a frozen encoder: does the representation carry what downstream use needs?

- **Time-arrow probe**: each clip is shown forward and time-reversed; a linear classifier on pooled
  features must tell which is which. Motion under gravity, inelastic bounces and friction look wrong
  backwards, so an encoder that models dynamics separates the two; one that only sees appearance
  cannot (the frames are the same set).
- **Label probe**: a linear classifier on pooled features predicts a dataset label (for the synthetic
  physics set, e.g. the number of balls or the dominant motion direction).

Features are the encoder's tokens averaged over space within each token frame and concatenated over
time (``[t' * D]``), standardised on the training split: averaging over time as well would leave a
linear classifier no way to compare early and late moments, which is exactly what the arrow of time
needs. Encoders without a ``grid`` method are mean-pooled over all tokens. The classifier is
multinomial logistic regression with L2, fitted by L-BFGS (deterministic). Train and test splits are
by video, so both directions of a clip always land on the same side.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class ProbeResult:
    """Test accuracy of a linear probe and what it is measured against."""

    name: str
    accuracy: float
    chance: float
    train_accuracy: float
    num_train: int
    num_test: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@torch.no_grad()
def pooled_features(encoder: Callable[[torch.Tensor], torch.Tensor], clips: torch.Tensor, *, batch_size: int = 16,
                    device: str | torch.device = "cpu") -> torch.Tensor:
    """Features ``[M, t' * D]`` of ``clips: [M, C, T, H, W]`` (uint8): tokens averaged over space per token frame,
    concatenated over time (``[M, D]``, a plain mean, for encoders without ``grid``). Batched, no autograd."""
    if isinstance(encoder, nn.Module):
        encoder.eval()
    grid_of = getattr(encoder, "grid", None)
    out = []
    for start in range(0, clips.shape[0], batch_size):
        video = clips[start:start + batch_size].to(device)
        tokens = encoder(video).float()
        if grid_of is None:
            out.append(tokens.mean(dim=1).cpu())
        else:
            frames = grid_of(*video.shape[2:])[0]
            out.append(tokens.reshape(tokens.shape[0], frames, -1, tokens.shape[-1]).mean(dim=2).flatten(1).cpu())
    return torch.cat(out)


def fit_linear_probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor, *,
                     weight_decay: float = 0.1, max_iter: int = 200, name: str = "probe") -> ProbeResult:
    """Multinomial logistic regression on standardised features; returns test accuracy.

    Args:
        train_x, test_x: ``[M, D]`` features. train_y, test_y: ``[M]`` int64 class labels.
        weight_decay: L2 penalty on the weights (features are standardised, so one value fits most encoders).
    """
    if train_x.shape[0] < 2 or test_x.shape[0] < 1:
        raise ValueError(f"{name}: need >= 2 training and >= 1 test examples; got {train_x.shape[0]} and {test_x.shape[0]}.")
    classes = int(torch.cat([train_y, test_y]).max()) + 1
    mean, std = train_x.mean(0, keepdim=True), train_x.std(0, keepdim=True).clamp_min(1e-6)
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    generator = torch.Generator().manual_seed(0)
    linear = nn.Linear(train_x.shape[1], classes).double()
    nn.init.normal_(linear.weight, std=1e-3, generator=generator)
    nn.init.zeros_(linear.bias)
    optimizer = torch.optim.LBFGS(linear.parameters(), max_iter=max_iter, line_search_fn="strong_wolfe")
    x, y = train_x.double(), train_y

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(linear(x), y) + weight_decay * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    with torch.no_grad():
        train_accuracy = (linear(x).argmax(1) == y).double().mean().item()
        accuracy = (linear(test_x.double()).argmax(1) == test_y).double().mean().item()
    counts = torch.bincount(test_y, minlength=classes).double()
    return ProbeResult(name, accuracy, float(counts.max() / counts.sum()), train_accuracy, len(train_y), len(test_y))


def split_by_video(num_videos: int, test_fraction: float = 0.3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic train/test video indices."""
    order = torch.randperm(num_videos, generator=torch.Generator().manual_seed(seed))
    test = max(1, round(num_videos * test_fraction))
    return order[test:].sort().values, order[:test].sort().values


def time_arrow_probe(encoder: Callable[[torch.Tensor], torch.Tensor], clips: torch.Tensor, *, test_fraction: float = 0.3,
                     seed: int = 0, device: str | torch.device = "cpu", batch_size: int = 16) -> ProbeResult:
    """Forward-vs-reversed accuracy of a linear probe on ``clips: [M, C, T, H, W]`` (chance is 0.5)."""
    forward = pooled_features(encoder, clips, device=device, batch_size=batch_size)
    backward = pooled_features(encoder, clips.flip(2), device=device, batch_size=batch_size)
    train, test = split_by_video(clips.shape[0], test_fraction, seed)

    def side(index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([forward[index], backward[index]])
        y = torch.cat([torch.ones(len(index), dtype=torch.long), torch.zeros(len(index), dtype=torch.long)])
        return x, y

    return fit_linear_probe(*side(train), *side(test), name="time_arrow")


def label_probe(encoder: Callable[[torch.Tensor], torch.Tensor], clips: torch.Tensor, labels: torch.Tensor, *,
                name: str = "label", test_fraction: float = 0.3, seed: int = 0, device: str | torch.device = "cpu",
                batch_size: int = 16) -> ProbeResult:
    """Linear-probe accuracy for integer ``labels: [M]`` of ``clips: [M, C, T, H, W]``."""
    features = pooled_features(encoder, clips, device=device, batch_size=batch_size)
    labels = labels.long()
    _, inverse = torch.unique(labels, return_inverse=True)  # classes 0..K-1
    train, test = split_by_video(clips.shape[0], test_fraction, seed)
    return fit_linear_probe(features[train], inverse[train], features[test], inverse[test], name=name)


def probe_clips(dataset: Any, count: int, *, label_keys: Sequence[str] = ()) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The first ``count`` clips of a salt-vla video dataset (epoch-0 views) and their integer labels."""
    if count > len(dataset):
        raise ValueError(f"Asked for {count} probe clips; the dataset has {len(dataset)} videos.")
    items = [dataset.item(i, epoch=0) for i in range(count)]
    labels = {}
    for key in label_keys:
        if key not in items[0]["label"]:
            raise KeyError(f"Label {key!r} is not provided by the dataset; it has {sorted(items[0]['label'])}.")
        labels[key] = torch.tensor([int(item["label"][key]) for item in items])
    return torch.stack([item["video"] for item in items]), labels
