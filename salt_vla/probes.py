"""Probes on a frozen encoder: does the representation carry what downstream use needs, and how sure are we?

- **Time-arrow probe**: each clip is shown forward and time-reversed; a linear classifier on pooled
  features must tell which is which. Motion under gravity, inelastic bounces and friction look wrong
  backwards, so an encoder that models dynamics separates the two; one that only sees appearance
  cannot (the frames are the same set).
- **Label probe**: a linear classifier on pooled features predicts a dataset label (for the synthetic
  physics set, e.g. a speed bin or whether a ball hits the floor during the clip).

Features are the encoder's tokens averaged over space within each token frame and concatenated over
time (``[t' * D]``), standardised on the training split: averaging over time as well would leave a
linear classifier no way to compare early and late moments, which is exactly what the arrow of time
needs. ``spatial_bins=s`` averages over an ``s x s`` grid of regions instead of the whole frame
(``[t' * s * s * D]``), keeping coarse position. ``layers=k`` reads the outputs of the last ``k``
blocks, each through the encoder's final norm, concatenated along the channels (``D`` becomes
``k * D``): the linear-probe protocol of DINO and DINOv2 (their last 4 blocks), for encoders with
``forward_intermediates``; ``layers=1`` is the encoder's plain output. Encoders without a ``grid``
method are mean-pooled over all tokens. The classifier is multinomial logistic regression with L2,
fitted by L-BFGS in float32 (deterministic). The L2 strength is chosen per encoder and probe by cross-validation on the training
videos (from :data:`WEIGHT_DECAYS`): one fixed strength under-fits one encoder's features and suits
another's, which biases exactly the comparisons the probes are for. Train and test splits are by
video, so both directions of a clip always land on the same side (also inside the cross-validation).

Every accuracy comes with a 95% Wilson interval over the independent test videos, the test-set size
and the chance level (the test set's majority class). :class:`ProbeResult` also keeps each test
video's score (its fraction of correct answers), so two encoders probed on the same videos can be
compared pairwise (:func:`paired_difference`: a paired bootstrap over videos), which is far tighter
than comparing two independent intervals.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

Z95 = 1.959963984540054
"""Two-sided 95% normal quantile."""

WEIGHT_DECAYS: tuple[float, ...] = (1e-2, 1e-1, 1.0)
"""L2 strengths the probes choose from by cross-validation on their training videos."""


def wilson_interval(successes: float, total: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (95% by default); ``(0, 1)`` when ``total`` is 0."""
    if total <= 0:
        return 0.0, 1.0
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    low, high = max(0.0, centre - half), min(1.0, centre + half)
    return (0.0 if successes <= 0 else low), (1.0 if successes >= total else high)  # exact at the ends


@dataclass(frozen=True)
class Difference:
    """A paired difference ``a - b`` of per-example scores with its 95% bootstrap interval."""

    mean: float
    ci_low: float
    ci_high: float
    num_examples: int

    @property
    def verdict(self) -> str:
        """``"positive"`` (interval above 0), ``"negative"`` (below 0) or ``"inconclusive"`` (contains 0)."""
        return "positive" if self.ci_low > 0 else "negative" if self.ci_high < 0 else "inconclusive"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict}


def paired_difference(a: torch.Tensor | Sequence[float], b: torch.Tensor | Sequence[float], *, samples: int = 4000,
                      seed: int = 0, level: float = 0.95) -> Difference:
    """Mean of ``a - b`` over paired examples and its percentile bootstrap interval (examples resampled together)."""
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    if a.shape != b.shape or a.ndim != 1 or a.numel() < 2:
        raise ValueError(f"paired_difference needs two 1-D score vectors of one length >= 2; got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}.")
    diff = a - b
    index = torch.randint(0, diff.numel(), (samples, diff.numel()), generator=torch.Generator().manual_seed(seed))
    means = diff[index].mean(dim=1)
    tail = (1 - level) / 2
    low, high = torch.quantile(means, torch.tensor([tail, 1 - tail], dtype=torch.float64)).tolist()
    return Difference(float(diff.mean()), low, high, diff.numel())


@dataclass(frozen=True)
class ProbeResult:
    """Test accuracy of a linear probe, its 95% Wilson interval, and what it is measured against.

    ``num_test`` counts independent test videos (a time-arrow video gives two answers, forward and
    reversed; its score is their mean, and the interval is over videos, which is conservative).
    ``scores`` holds each test video's score, in test-split order, for paired comparisons; it is not
    part of :meth:`to_dict`.
    """

    name: str
    accuracy: float
    chance: float
    train_accuracy: float
    num_train: int
    num_test: int
    ci_low: float = 0.0
    ci_high: float = 1.0
    num_classes: int = 2
    weight_decay: float = 0.1
    scores: torch.Tensor | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "scores"}


def _pool(tokens: torch.Tensor, frames: int, spatial: tuple[int, int], bins: int) -> torch.Tensor:
    """``[B, N, D]`` tokens on a ``frames x h x w`` grid -> ``[B, frames * bins^2 * D]`` region means."""
    batch, _, dim = tokens.shape
    height, width = spatial
    grid = tokens.reshape(batch, frames, height, width, dim)
    if bins == 1:
        return grid.mean(dim=(2, 3)).flatten(1)
    rows = torch.tensor_split(torch.arange(height), bins)
    cols = torch.tensor_split(torch.arange(width), bins)
    regions = [grid[:, :, r][:, :, :, c].mean(dim=(2, 3)) for r in rows for c in cols]  # each [B, frames, D]
    return torch.stack(regions, dim=2).flatten(1)


def _layer_reader(encoder: Callable[[torch.Tensor], torch.Tensor], layers: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """``video -> [B, N, layers * D]``: the last ``layers`` blocks' tokens, each through the final norm."""
    if layers < 1:
        raise ValueError(f"layers must be >= 1; got {layers}.")
    if layers == 1:
        return encoder
    intermediates, blocks = getattr(encoder, "forward_intermediates", None), getattr(encoder, "blocks", None)
    if intermediates is None:
        raise ValueError(f"layers={layers} needs an encoder with forward_intermediates (e.g. VideoViT); "
                         f"{type(encoder).__name__} has none. Use layers=1.")
    if blocks is not None and layers > len(blocks):
        raise ValueError(f"layers={layers} but the encoder has {len(blocks)} blocks; use at most {len(blocks)}.")
    wanted = list(range(-layers, 0))
    return lambda video: torch.cat(intermediates(video, wanted, norm=True), dim=-1)


@torch.no_grad()
def pooled_features(encoder: Callable[[torch.Tensor], torch.Tensor], clips: torch.Tensor, *, batch_size: int = 16,
                    device: str | torch.device = "cpu", spatial_bins: int = 1, layers: int = 1, progress: bool = False,
                    desc: str = "features") -> torch.Tensor:
    """Features of ``clips: [M, C, T, H, W]`` (uint8): tokens averaged per token frame over the whole frame
    (``spatial_bins=1``, ``[M, t' * D']``) or over ``s x s`` regions (``[M, t' * s * s * D']``), concatenated over
    time; a plain mean ``[M, D']`` for encoders without ``grid``. ``D' = layers * D``: the last ``layers``
    blocks' outputs side by side (see the module notes). Batched, no autograd."""
    from tqdm.auto import tqdm

    if spatial_bins < 1:
        raise ValueError(f"spatial_bins must be >= 1; got {spatial_bins}.")
    read = _layer_reader(encoder, layers)
    if isinstance(encoder, nn.Module):
        encoder.eval()
    grid_of = getattr(encoder, "grid", None)
    out = []
    for start in tqdm(range(0, clips.shape[0], batch_size), desc=desc, unit="batch", disable=not progress,
                      leave=False, dynamic_ncols=True):
        video = clips[start:start + batch_size].to(device)
        tokens = read(video).float()
        if grid_of is None:
            out.append(tokens.mean(dim=1).cpu())
        else:
            frames, height, width = grid_of(*video.shape[2:])
            out.append(_pool(tokens, frames, (height, width), spatial_bins).cpu())
    return torch.cat(out)


def _fit(train_x: torch.Tensor, train_y: torch.Tensor, classes: int, weight_decay: float, max_iter: int) -> nn.Linear:
    """Multinomial logistic regression (L-BFGS from a fixed start) on already standardised features.

    float32: on standardised features it reaches the same predictions as float64 at half the time (the quickstart's
    probes on 1536-wide features: 0.9 vs. 1.7 s per label, equal accuracies)."""
    generator = torch.Generator().manual_seed(0)
    linear = nn.Linear(train_x.shape[1], classes)
    nn.init.normal_(linear.weight, std=1e-3, generator=generator)
    nn.init.zeros_(linear.bias)
    # Tolerances well below what changes a prediction; the defaults (1e-7, 1e-9) cost 2-3 times the evaluations.
    optimizer = torch.optim.LBFGS(linear.parameters(), max_iter=max_iter, line_search_fn="strong_wolfe",
                                  tolerance_grad=1e-5, tolerance_change=1e-7)
    x = train_x.float()

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(linear(x), train_y) + weight_decay * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    return linear


def _standardise(train_x: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    mean, std = train_x.mean(0, keepdim=True), train_x.std(0, keepdim=True).clamp_min(1e-6)
    return [(x - mean) / std for x in (train_x, *others)]


def select_weight_decay(x: torch.Tensor, y: torch.Tensor, candidates: Sequence[float], *,
                        groups: torch.Tensor | None = None, folds: int = 2, max_iter: int = 200) -> float:
    """The L2 strength of ``candidates`` with the best cross-validated accuracy on ``x, y`` (folds by ``groups``;
    ties go to the stronger penalty). Deterministic."""
    candidates = sorted(candidates, reverse=True)
    if len(candidates) == 1:
        return float(candidates[0])
    groups = torch.arange(len(y)) if groups is None else groups
    unique, group = torch.unique(groups, return_inverse=True)
    fold_of = torch.randperm(len(unique), generator=torch.Generator().manual_seed(1)) % min(folds, len(unique))
    classes = int(y.max()) + 1
    best, best_accuracy = float(candidates[0]), -1.0
    for weight_decay in candidates:
        correct = 0
        for fold in range(int(fold_of.max()) + 1):
            held = fold_of[group] == fold
            if held.all() or not held.any():
                continue
            train_x, held_x = _standardise(x[~held], x[held])
            linear = _fit(train_x, y[~held], classes, weight_decay, max_iter)
            with torch.no_grad():
                correct += int((linear(held_x.float()).argmax(1) == y[held]).sum())
        if correct / len(y) > best_accuracy:
            best, best_accuracy = float(weight_decay), correct / len(y)
    return best


def fit_linear_probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor, *,
                     weight_decay: float | Sequence[float] = 0.1, max_iter: int = 200, name: str = "probe",
                     train_groups: torch.Tensor | None = None, test_groups: torch.Tensor | None = None) -> ProbeResult:
    """Multinomial logistic regression on standardised features; returns test accuracy with its interval.

    Args:
        train_x, test_x: ``[M, D]`` features. train_y, test_y: ``[M]`` int64 class labels.
        weight_decay: L2 penalty on the weights, or several to choose from by 2-fold cross-validation on the
            training examples (folds by ``train_groups``).
        train_groups, test_groups: ``[M]`` int64 group of each example (e.g. its video). Examples of one group
            are not independent: cross-validation folds keep a group together, and the test interval and the
            per-group ``scores`` are over test groups. Default: one group per example.
    """
    if train_x.shape[0] < 2 or test_x.shape[0] < 1:
        raise ValueError(f"{name}: need >= 2 training and >= 1 test examples; got {train_x.shape[0]} and {test_x.shape[0]}.")
    classes = int(torch.cat([train_y, test_y]).max()) + 1
    if not isinstance(weight_decay, (int, float)):
        weight_decay = select_weight_decay(train_x, train_y, weight_decay, groups=train_groups, max_iter=max_iter)
    train_x, test_x = _standardise(train_x, test_x)
    linear = _fit(train_x, train_y, classes, float(weight_decay), max_iter)
    with torch.no_grad():
        train_accuracy = (linear(train_x.float()).argmax(1) == train_y).double().mean().item()
        correct = (linear(test_x.float()).argmax(1) == test_y).double()
    if test_groups is None:
        scores = correct
    else:
        _, group = torch.unique(test_groups, return_inverse=True)
        size = int(group.max()) + 1
        scores = torch.zeros(size, dtype=torch.float64).index_add_(0, group, correct)
        scores /= torch.bincount(group, minlength=size).double()
    accuracy = float(correct.mean())
    low, high = wilson_interval(accuracy * len(scores), len(scores))
    counts = torch.bincount(test_y, minlength=classes).double()
    return ProbeResult(name, accuracy, float(counts.max() / counts.sum()), train_accuracy, len(train_y), len(scores),
                       low, high, classes, float(weight_decay), scores)


def split_by_video(num_videos: int, test_fraction: float = 0.3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic train/test video indices."""
    order = torch.randperm(num_videos, generator=torch.Generator().manual_seed(seed))
    test = max(1, round(num_videos * test_fraction))
    return order[test:].sort().values, order[:test].sort().values


def time_arrow_from_features(forward: torch.Tensor, backward: torch.Tensor, *, test_fraction: float = 0.3, seed: int = 0,
                             weight_decay: float | Sequence[float] = WEIGHT_DECAYS) -> ProbeResult:
    """Time-arrow probe on precomputed features of the clips played forward and reversed (``[M, F]`` each)."""
    train, test = split_by_video(forward.shape[0], test_fraction, seed)

    def side(index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([forward[index], backward[index]])
        y = torch.cat([torch.ones(len(index), dtype=torch.long), torch.zeros(len(index), dtype=torch.long)])
        return x, y

    return fit_linear_probe(*side(train), *side(test), name="time_arrow", weight_decay=weight_decay,
                            train_groups=torch.cat([train, train]), test_groups=torch.cat([test, test]))


def label_from_features(features: torch.Tensor, labels: torch.Tensor, *, name: str = "label", test_fraction: float = 0.3,
                        seed: int = 0, weight_decay: float | Sequence[float] = WEIGHT_DECAYS) -> ProbeResult:
    """Label probe on precomputed features ``[M, F]`` of clips with integer ``labels: [M]`` (any values)."""
    if labels.is_floating_point():
        raise ValueError(f"Label {name!r} is continuous; bin it into classes first (e.g. "
                         "salt_vla.quickstart.probe_labels cuts speeds at their tertiles).")
    _, inverse = torch.unique(labels.long(), return_inverse=True)  # classes 0..K-1
    train, test = split_by_video(features.shape[0], test_fraction, seed)
    return fit_linear_probe(features[train], inverse[train], features[test], inverse[test], name=name,
                            weight_decay=weight_decay)


def time_arrow_probe(encoder: Callable[[torch.Tensor], torch.Tensor], clips: torch.Tensor, *, test_fraction: float = 0.3,
                     seed: int = 0, device: str | torch.device = "cpu", batch_size: int = 16,
                     spatial_bins: int = 1, layers: int = 1) -> ProbeResult:
    """Forward-vs-reversed accuracy of a linear probe on ``clips: [M, C, T, H, W]`` (chance is 0.5)."""
    kwargs = {"device": device, "batch_size": batch_size, "spatial_bins": spatial_bins, "layers": layers}
    forward = pooled_features(encoder, clips, **kwargs)
    backward = pooled_features(encoder, clips.flip(2), **kwargs)
    return time_arrow_from_features(forward, backward, test_fraction=test_fraction, seed=seed)


def label_probe(encoder: Callable[[torch.Tensor], torch.Tensor], clips: torch.Tensor, labels: torch.Tensor, *,
                name: str = "label", test_fraction: float = 0.3, seed: int = 0, device: str | torch.device = "cpu",
                batch_size: int = 16, spatial_bins: int = 1, layers: int = 1) -> ProbeResult:
    """Linear-probe accuracy for integer ``labels: [M]`` of ``clips: [M, C, T, H, W]``."""
    features = pooled_features(encoder, clips, device=device, batch_size=batch_size, spatial_bins=spatial_bins,
                               layers=layers)
    return label_from_features(features, labels, name=name, test_fraction=test_fraction, seed=seed)


def probe_suite(encoder: Callable[[torch.Tensor], torch.Tensor], clips: torch.Tensor,
                labels: Mapping[str, torch.Tensor], *, time_arrow: bool = True, test_fraction: float = 0.3,
                seed: int = 0, device: str | torch.device = "cpu", batch_size: int = 16, spatial_bins: int = 1,
                layers: int = 1, weight_decay: float | Sequence[float] = WEIGHT_DECAYS, progress: bool = False,
                desc: str = "probe") -> dict[str, ProbeResult]:
    """Every probe of one encoder on one set of clips, features computed once: ``{"time_arrow": ..., label: ...}``.

    All probes share the same split by video, so results of two encoders (or two probes) are paired.
    """
    kwargs = {"device": device, "batch_size": batch_size, "spatial_bins": spatial_bins, "layers": layers,
              "progress": progress}
    forward = pooled_features(encoder, clips, desc=f"{desc}: clips", **kwargs)
    results: dict[str, ProbeResult] = {}
    if time_arrow:
        backward = pooled_features(encoder, clips.flip(2), desc=f"{desc}: reversed", **kwargs)
        results["time_arrow"] = time_arrow_from_features(forward, backward, test_fraction=test_fraction, seed=seed,
                                                         weight_decay=weight_decay)
    for key, values in labels.items():
        results[key] = label_from_features(forward, values, name=key, test_fraction=test_fraction, seed=seed,
                                           weight_decay=weight_decay)
    return results


def probe_clips(dataset: Any, count: int, *, label_keys: Sequence[str] = ()) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The first ``count`` clips of a salt-vla video dataset (epoch-0 views) and their labels (integer labels as
    int64, continuous ones as float64: bin those before a label probe)."""
    if count > len(dataset):
        raise ValueError(f"Asked for {count} probe clips; the dataset has {len(dataset)} videos.")
    items = [dataset.item(i, epoch=0) for i in range(count)]
    labels = {}
    for key in label_keys:
        if key not in items[0]["label"]:
            raise KeyError(f"Label {key!r} is not provided by the dataset; it has {sorted(items[0]['label'])}.")
        labels[key] = torch.tensor([item["label"][key] for item in items])
        if not labels[key].is_floating_point():
            labels[key] = labels[key].long()
    return torch.stack([item["video"] for item in items]), labels
