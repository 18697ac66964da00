"""Attentive probes on a frozen encoder's token maps, with a hyper-parameter sweep trained in one loop.

A linear probe sees pooled features, so it can only read what survives averaging. An attentive probe
(the protocol V-JEPA evaluates with) reads the whole token map ``[N, D]``: a learned query token
cross-attends over the frozen tokens, the pooled vector is normalised, and a linear head classifies it.
Only the probe is trained; the encoder runs once per clip and its token maps are cached on disk
(:func:`cached_token_maps`), so a sweep costs little more than one probe.

The sweep is one module: :class:`AttentiveProbes` holds ``K`` independent probes as stacked parameters
(``[K, ...]``) and scores a batch for all of them with ``einsum``; :func:`train_probes` trains them
together with AdamW whose learning rate and weight decay are per-probe tensors. The probe with the best
validation accuracy (ties: lower validation loss) is chosen; its accuracy on a test split that played
no part in training or choosing is what :func:`attentive_probe` reports, with a Wilson 95% interval
over the independent test units (videos: a time-arrow video's two answers count once, as in
:func:`~salt_vla.probes.fit_linear_probe`), their number ``num_test`` and the chance level (the
majority-class share of the test split).

Splits are by video (:func:`split_three`): both directions of a time-arrow clip land on the same side.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from salt_vla.evaluation import wilson_interval

DEFAULT_LRS: tuple[float, ...] = (1e-4, 1e-3, 1e-2)
DEFAULT_WEIGHT_DECAYS: tuple[float, ...] = (0.01, 0.1)


class AttentiveProbes(nn.Module):
    """``K`` independent attentive probes over shared token maps.

    Each probe has its own query token, key/value/output projections (``heads`` heads), LayerNorm and
    linear head; nothing is shared, so training them together equals training them one by one.

    Args:
        probes: ``K``. dim: token width ``D``. classes: ``C``. heads: attention heads (must divide ``D``).
    """

    def __init__(self, probes: int, dim: int, classes: int, *, heads: int = 1, seed: int = 0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"heads={heads} must divide the token width {dim}.")
        self.probes, self.dim, self.classes, self.heads = probes, dim, classes, heads
        generator = torch.Generator().manual_seed(seed)
        scale = dim ** -0.5

        def init(*shape: int, std: float) -> nn.Parameter:
            return nn.Parameter(torch.randn(*shape, generator=generator) * std)

        self.query = init(probes, dim, std=0.02)
        self.key = init(probes, dim, dim, std=scale)
        self.value = init(probes, dim, dim, std=scale)
        self.out = init(probes, dim, dim, std=scale)
        self.norm_weight = nn.Parameter(torch.ones(probes, dim))
        self.norm_bias = nn.Parameter(torch.zeros(probes, dim))
        self.head = init(probes, dim, classes, std=0.02)
        self.head_bias = nn.Parameter(torch.zeros(probes, classes))

    def decayed(self) -> list[nn.Parameter]:
        """Parameters that weight decay applies to (matrices and the query, not norms or biases)."""
        return [self.query, self.key, self.value, self.out, self.head]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits ``[K, B, C]`` of ``tokens: [B, N, D]``."""
        batch, count, dim = tokens.shape
        heads, width = self.heads, dim // self.heads
        keys = torch.einsum("bnd,kde->kbne", tokens, self.key).reshape(self.probes, batch, count, heads, width)
        values = torch.einsum("bnd,kde->kbne", tokens, self.value).reshape(self.probes, batch, count, heads, width)
        query = self.query.reshape(self.probes, heads, width)
        attention = torch.einsum("khw,kbnhw->kbhn", query, keys).mul(width ** -0.5).softmax(dim=-1)
        pooled = torch.einsum("kbhn,kbnhw->kbhw", attention, values).reshape(self.probes, batch, dim)
        pooled = torch.einsum("kbd,kde->kbe", pooled, self.out)
        pooled = F.layer_norm(pooled, (dim,)) * self.norm_weight[:, None] + self.norm_bias[:, None]
        return torch.einsum("kbd,kdc->kbc", pooled, self.head) + self.head_bias[:, None]


@dataclass(frozen=True)
class SweepSetting:
    """One probe of a sweep and how it did on the validation split."""

    lr: float
    weight_decay: float
    val_accuracy: float
    val_loss: float
    train_accuracy: float


@dataclass(frozen=True)
class AttentiveProbeResult:
    """Test accuracy of the validation-chosen attentive probe and what it is measured against."""

    name: str
    accuracy: float
    interval: tuple[float, float]
    chance: float
    num_train: int
    num_val: int
    num_test: int
    lr: float
    weight_decay: float
    val_accuracy: float
    sweep: list[SweepSetting] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _standardiser(train: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    flat = train.reshape(-1, train.shape[-1]).float()
    return flat.mean(0), flat.std(0).clamp_min(1e-6)


@torch.no_grad()
def _evaluate(probes: AttentiveProbes, x: torch.Tensor, y: torch.Tensor, batch_size: int,
              device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-probe accuracy ``[K]``, mean cross-entropy ``[K]`` and per-example correctness ``[K, M]`` (bool)."""
    correct = []
    loss = torch.zeros(probes.probes, dtype=torch.float64, device=device)
    for start in range(0, x.shape[0], batch_size):
        logits = probes(x[start:start + batch_size].to(device))
        target = y[start:start + batch_size].to(device)
        correct.append((logits.argmax(-1) == target).cpu())
        loss += F.cross_entropy(logits.flatten(0, 1), target.repeat(probes.probes), reduction="none") \
            .reshape(probes.probes, -1).sum(1).double()
    hits = torch.cat(correct, dim=1)
    return hits.double().mean(1), (loss / x.shape[0]).cpu(), hits


def train_probes(train_x: torch.Tensor, train_y: torch.Tensor, lrs: Sequence[float], weight_decays: Sequence[float], *,
                 classes: int, heads: int = 1, epochs: int = 20, batch_size: int = 64, seed: int = 0,
                 device: str | torch.device = "cpu") -> AttentiveProbes:
    """Train one attentive probe per ``(lrs[i], weight_decays[i])`` pair together on standardised tokens.

    AdamW (betas 0.9 / 0.999) with a per-probe learning rate and decoupled weight decay, linear warm-up
    over the first epoch then cosine decay to zero; minibatches are shared by all probes.

    Args:
        train_x: ``[M, N, D]`` token maps (already standardised). train_y: ``[M]`` class indices.
    """
    if len(lrs) != len(weight_decays) or not lrs:
        raise ValueError(f"Need one weight decay per learning rate; got {len(lrs)} and {len(weight_decays)}.")
    device = torch.device(device)
    probes = AttentiveProbes(len(lrs), train_x.shape[-1], classes, heads=heads, seed=seed).to(device)
    lr = torch.tensor(list(lrs), dtype=torch.float32, device=device)
    wd = torch.tensor(list(weight_decays), dtype=torch.float32, device=device)
    decayed = {id(p) for p in probes.decayed()}
    params = list(probes.parameters())
    first = [torch.zeros_like(p) for p in params]
    second = [torch.zeros_like(p) for p in params]
    generator = torch.Generator().manual_seed(seed)
    steps_per_epoch = math.ceil(train_x.shape[0] / batch_size)
    total = epochs * steps_per_epoch
    step = 0
    for _ in range(epochs):
        order = torch.randperm(train_x.shape[0], generator=generator)
        for start in range(0, len(order), batch_size):
            index = order[start:start + batch_size]
            logits = probes(train_x[index].to(device))
            target = train_y[index].to(device).repeat(probes.probes)
            # the sum over probes: each probe's gradient is that of its own mean loss
            loss = F.cross_entropy(logits.flatten(0, 1), target, reduction="none").reshape(probes.probes, -1).mean(1).sum()
            grads = torch.autograd.grad(loss, params)
            step += 1
            factor = min(1.0, step / steps_per_epoch) * 0.5 * (1 + math.cos(math.pi * (step - 1) / total))
            with torch.no_grad():
                for p, g, m, v in zip(params, grads, first, second):
                    m.mul_(0.9).add_(g, alpha=0.1)
                    v.mul_(0.999).addcmul_(g, g, value=0.001)
                    rate = (lr * factor).reshape(-1, *([1] * (p.dim() - 1)))
                    if id(p) in decayed:
                        p.mul_(1 - rate * wd.reshape(rate.shape))
                    update = (m / (1 - 0.9 ** step)) / ((v / (1 - 0.999 ** step)).sqrt() + 1e-8)
                    p.sub_(rate * update)
    return probes


def attentive_probe(train_x: torch.Tensor, train_y: torch.Tensor, val_x: torch.Tensor, val_y: torch.Tensor,
                    test_x: torch.Tensor, test_y: torch.Tensor, *, lrs: Sequence[float] = DEFAULT_LRS,
                    weight_decays: Sequence[float] = DEFAULT_WEIGHT_DECAYS, heads: int = 1, epochs: int = 20,
                    batch_size: int = 64, seed: int = 0, device: str | torch.device = "cpu",
                    name: str = "probe", test_groups: torch.Tensor | None = None) -> AttentiveProbeResult:
    """Sweep ``lrs x weight_decays`` attentive probes, choose on validation, report test accuracy.

    Args:
        train_x, val_x, test_x: ``[M, N, D]`` token maps. train_y, val_y, test_y: ``[M]`` int64 labels.
        test_groups: ``[M_test]`` int64 group of each test example (e.g. its video), as in
            :func:`~salt_vla.probes.fit_linear_probe`: examples of one group are not independent, so the
            interval and ``num_test`` are over groups (each scored by its mean). Default: one per example.
    """
    if train_x.shape[0] < 2 or val_x.shape[0] < 1 or test_x.shape[0] < 1:
        raise ValueError(f"{name}: need >= 2 training, >= 1 validation and >= 1 test examples; got "
                         f"{train_x.shape[0]}, {val_x.shape[0]} and {test_x.shape[0]}.")
    classes = int(torch.cat([train_y, val_y, test_y]).max()) + 1
    mean, std = _standardiser(train_x)
    train_x, val_x, test_x = ((x.float() - mean) / std for x in (train_x, val_x, test_x))
    grid = list(itertools.product(lrs, weight_decays))
    probes = train_probes(train_x, train_y, [g[0] for g in grid], [g[1] for g in grid], classes=classes, heads=heads,
                          epochs=epochs, batch_size=batch_size, seed=seed, device=device)
    device = torch.device(device)
    train_acc, _, _ = _evaluate(probes, train_x, train_y, batch_size, device)
    val_acc, val_loss, _ = _evaluate(probes, val_x, val_y, batch_size, device)
    _, _, test_hits = _evaluate(probes, test_x, test_y, batch_size, device)
    loss_key = torch.nan_to_num(val_loss, nan=math.inf)
    best = min(range(len(grid)), key=lambda k: (-float(val_acc[k]), float(loss_key[k]), k))
    hits = test_hits[best].double()
    if test_groups is None:
        units = hits.shape[0]
    else:
        _, group = torch.unique(test_groups, return_inverse=True)
        units = int(group.max()) + 1
    accuracy = float(hits.mean())
    counts = torch.bincount(test_y, minlength=classes).double()
    sweep = [SweepSetting(lr, wd, float(val_acc[k]), float(val_loss[k]), float(train_acc[k]))
             for k, (lr, wd) in enumerate(grid)]
    return AttentiveProbeResult(
        name=name, accuracy=accuracy, interval=wilson_interval(accuracy * units, units),
        chance=float(counts.max() / counts.sum()), num_train=train_x.shape[0], num_val=val_x.shape[0],
        num_test=units, lr=grid[best][0], weight_decay=grid[best][1], val_accuracy=float(val_acc[best]),
        sweep=sweep)


def split_three(num_videos: int, val_fraction: float = 0.2, test_fraction: float = 0.3,
                seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Deterministic, disjoint train / validation / test video indices (each sorted, none empty)."""
    if num_videos < 3:
        raise ValueError(f"Need >= 3 videos for train / validation / test splits; got {num_videos}.")
    order = torch.randperm(num_videos, generator=torch.Generator().manual_seed(seed))
    test = max(1, round(num_videos * test_fraction))
    val = max(1, min(num_videos - test - 1, round(num_videos * val_fraction)))
    return order[test + val:].sort().values, order[test:test + val].sort().values, order[:test].sort().values


def _fingerprint(encoder: Callable[[torch.Tensor], torch.Tensor], clips: torch.Tensor, key: str) -> str:
    digest = hashlib.sha256(key.encode())
    digest.update(str(tuple(clips.shape)).encode())
    digest.update(clips.contiguous().numpy().tobytes() if clips.device.type == "cpu" else clips.cpu().numpy().tobytes())
    if isinstance(encoder, nn.Module):
        for name, tensor in encoder.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()


@torch.no_grad()
def token_maps(encoder: Callable[[torch.Tensor], torch.Tensor], clips: torch.Tensor, *, batch_size: int = 16,
               device: str | torch.device = "cpu", dtype: torch.dtype = torch.float16) -> torch.Tensor:
    """The encoder's tokens ``[M, N, D]`` of ``clips: [M, C, T, H, W]`` (no autograd, stored as ``dtype``)."""
    if isinstance(encoder, nn.Module):
        encoder.eval()
    out = [encoder(clips[start:start + batch_size].to(device)).to(dtype).cpu()
           for start in range(0, clips.shape[0], batch_size)]
    return torch.cat(out)


def cached_token_maps(encoder: Callable[[torch.Tensor], torch.Tensor], clips: torch.Tensor, cache_dir: str | Path | None,
                      *, key: str = "", batch_size: int = 16, device: str | torch.device = "cpu") -> torch.Tensor:
    """:func:`token_maps`, stored under ``cache_dir`` and reused while encoder weights, clips and ``key`` match.

    The file name is a SHA-256 of ``key``, the clips' bytes and the encoder's weights, so a changed
    checkpoint or probe set never reads stale features. ``cache_dir=None`` computes without storing.
    """
    if cache_dir is None:
        return token_maps(encoder, clips, batch_size=batch_size, device=device)
    from salt_vla.io import atomic_write_bytes

    path = Path(cache_dir) / f"tokens-{_fingerprint(encoder, clips, key)[:24]}.pt"
    if path.is_file():
        return torch.load(path, map_location="cpu", weights_only=True)
    tokens = token_maps(encoder, clips, batch_size=batch_size, device=device)
    buffer = io.BytesIO()
    torch.save(tokens, buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())
    return tokens


def _time_arrow_side(forward: torch.Tensor, backward: torch.Tensor, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.cat([forward[index], backward[index]])
    y = torch.cat([torch.ones(len(index), dtype=torch.long), torch.zeros(len(index), dtype=torch.long)])
    return x, y


def attentive_time_arrow_probe(encoder: Callable[[torch.Tensor], torch.Tensor], clips: torch.Tensor, *,
                               cache_dir: str | Path | None = None, key: str = "", seed: int = 0,
                               device: str | torch.device = "cpu", **sweep: Any) -> AttentiveProbeResult:
    """Forward-vs-reversed accuracy of the attentive probe on ``clips: [M, C, T, H, W]`` (chance 0.5)."""
    forward = cached_token_maps(encoder, clips, cache_dir, key=key, device=device)
    backward = cached_token_maps(encoder, clips.flip(2), cache_dir, key=key, device=device)
    splits = split_three(clips.shape[0], seed=seed)
    sides = [t for index in splits for t in _time_arrow_side(forward, backward, index)]
    test = splits[2]  # a video gives two answers (forward, reversed): the interval is over videos
    return attentive_probe(*sides, seed=seed, device=device, name="time_arrow", test_groups=torch.cat([test, test]),
                           **sweep)


def attentive_label_probe(encoder: Callable[[torch.Tensor], torch.Tensor], clips: torch.Tensor, labels: torch.Tensor, *,
                          name: str = "label", cache_dir: str | Path | None = None, key: str = "", seed: int = 0,
                          device: str | torch.device = "cpu", **sweep: Any) -> AttentiveProbeResult:
    """Attentive-probe accuracy for integer ``labels: [M]`` of ``clips: [M, C, T, H, W]``."""
    tokens = cached_token_maps(encoder, clips, cache_dir, key=key, device=device)
    _, inverse = torch.unique(labels.long(), return_inverse=True)
    sides = [t for index in split_three(clips.shape[0], seed=seed) for t in (tokens[index], inverse[index])]
    return attentive_probe(*sides, seed=seed, device=device, name=name, **sweep)
