"""Is it learning? Validation diagnostics and loss-trend detection with plain-language advice.

- ``mean_target_ratio``: validation loss over the loss of always predicting the mean target. Below 1
  the predictor beats the trivial answer; near 1 it has learned nothing usable.
- ``std_ratio``: spread of predictions over spread of targets (per channel, across tokens). Far below 1
  means predictions collapse toward the mean.
- ``effective_rank`` (of predictions and targets): exp of the entropy of the normalised singular values.
  A prediction rank far below the targets' is dimensional collapse.
- ``cosine``: mean cosine similarity of predictions and targets per token.
- :class:`TrendDetector` watches the training loss over a window and names plateaus and divergence.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

import torch

from salt_vla.objectives import LatentLoss


def effective_rank(x: torch.Tensor, max_rows: int = 4096) -> float:
    """Effective rank of ``x: [M, D]`` (rows subsampled evenly to ``max_rows``); 1..min(M, D)."""
    x = x.float().reshape(-1, x.shape[-1])
    if x.shape[0] > max_rows:
        x = x[torch.linspace(0, x.shape[0] - 1, max_rows).long()]
    x = x - x.mean(dim=0, keepdim=True)
    singular = torch.linalg.svdvals(x)
    total = singular.sum()
    if total <= 0:
        return 0.0
    p = singular / total
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def _plain(loss: Any) -> Any:
    """``loss`` without its target normalisation (targets given here are already normalised); a plugin loss as is."""
    return LatentLoss(loss.kind, "none", loss.beta) if isinstance(loss, LatentLoss) else loss


def mean_target_loss(targets: torch.Tensor, loss: LatentLoss) -> torch.Tensor:
    """The loss of always predicting the mean target: ``targets: [..., D]`` already normalised by ``loss``."""
    flat = targets.float().reshape(-1, targets.shape[-1])
    plain = _plain(loss)
    return plain(flat.mean(dim=0, keepdim=True).expand_as(flat), flat)


def prediction_diagnostics(predictions: torch.Tensor, targets: torch.Tensor, loss: LatentLoss) -> dict[str, float]:
    """Diagnostics of ``predictions`` vs ``targets`` (both ``[M, D]`` or ``[B, K, D]``, targets already normalised)."""
    pred = predictions.float().reshape(-1, predictions.shape[-1])
    target = targets.float().reshape(-1, targets.shape[-1])
    model_loss = float(_plain(loss)(pred, target))
    baseline = float(mean_target_loss(target, loss))
    return {
        "loss": model_loss,
        "mean_target_loss": baseline,
        "mean_target_ratio": model_loss / baseline if baseline > 0 else math.nan,
        "std_ratio": float(pred.std(dim=0).mean() / target.std(dim=0).mean().clamp_min(1e-12)),
        "effective_rank": effective_rank(pred),
        "target_effective_rank": effective_rank(target),
        "cosine": float(torch.nn.functional.cosine_similarity(pred, target, dim=-1).mean()),
    }


@dataclass(frozen=True)
class Trend:
    """``status``: ``warming_up``, ``improving``, ``plateau`` or ``diverging``; ``advice``: what to do."""

    status: str
    relative_change: float
    advice: str


class TrendDetector:
    """Classify the recent training-loss trend from logged values.

    Compares the mean of the first and last thirds of a sliding window (robust to step noise). Diverging means the
    last third's mean rose ``divergence_tolerance`` above the best mean of any ``window // 3`` consecutive points
    so far, so that a noisy but falling loss (a small batch, an MSE objective) is not called diverging.

    Args:
        window: logged points considered.
        plateau_tolerance: relative improvement below which the loss counts as flat.
        divergence_tolerance: relative rise above the window's best that counts as diverging.
    """

    def __init__(self, window: int = 30, plateau_tolerance: float = 0.01, divergence_tolerance: float = 0.25) -> None:
        if window < 6:
            raise ValueError(f"TrendDetector window must be >= 6 logged points; got {window}.")
        self.window = window
        self.plateau_tolerance = plateau_tolerance
        self.divergence_tolerance = divergence_tolerance
        self.values: deque[float] = deque(maxlen=window)
        self.best = math.inf

    def update(self, loss: float, *, lr: float | None = None, min_lr: float | None = None) -> Trend:
        if not math.isfinite(loss):
            return Trend("diverging", math.inf, "The loss is not finite: lower the learning rate, check the inputs for "
                         "NaNs, and keep gradient clipping on.")
        self.values.append(loss)
        third = self.window // 3
        values = list(self.values)
        late = sum(values[-third:]) / third
        if len(values) >= third:  # the best is a mean of `third` points too: one lucky batch is not a best
            self.best = min(self.best, late)
        if len(values) < self.window:
            return Trend("warming_up", math.nan, "Not enough history yet.")
        early = sum(values[:third]) / third
        change = (late - early) / abs(early) if early else 0.0
        if late > self.best * (1 + self.divergence_tolerance):
            return Trend("diverging", change, f"The loss rose {100 * (late / self.best - 1):.0f}% above its best "
                         f"({self.best:.4g}). Lower the peak learning rate or tighten gradient clipping; check that weight "
                         "decay is off for norms, biases, position embeddings and mask tokens.")
        if change > -self.plateau_tolerance:
            if lr is not None and min_lr is not None and lr <= min_lr * 1.05:
                advice = (f"Flat at the learning-rate floor ({lr:.3g}): the schedule is done; raise min_lr or train longer "
                          "only if validation still improves.")
            elif lr is not None and lr < 1e-5:
                advice = (f"Flat with a tiny learning rate ({lr:.3g}): the schedule may decay too fast. Give the cosine "
                          "a floor (min_lr about peak/10) or raise the peak.")
            else:
                advice = (f"Flat over the last {self.window} logged points (change {100 * change:+.2f}%). If validation "
                          "also stalls, try a higher peak learning rate, a longer warmup, or check the masks and targets.")
            return Trend("plateau", change, advice)
        return Trend("improving", change, f"Improving ({100 * change:+.2f}% over the window).")


LEARNING_STATUSES = ("learning", "plateau", "diverging", "collapsing")
"""What :class:`LearningMonitor` says at a validation; the metric ``learning/status`` is the index in this tuple."""


@dataclass(frozen=True)
class LearningStatus:
    """One validation's verdict: ``status`` (one of :data:`LEARNING_STATUSES`) and ``line``, the plain-language
    sentence with the numbers behind it."""

    step: int
    status: str
    line: str

    @property
    def code(self) -> float:
        return float(LEARNING_STATUSES.index(self.status))


class LearningMonitor:
    """Says at every validation whether a run is learning, from the validation metrics and the training-loss trend.

    - ``diverging``: a non-finite validation loss, a validation loss ``divergence_tolerance`` above its best, or a
      diverging training-loss trend (:class:`TrendDetector`);
    - ``collapsing``: predictions spread less than ``collapse_std_ratio`` of the targets' spread and their
      effective rank is below ``collapse_rank_ratio`` of the targets' (dimensional collapse);
    - ``plateau``: the validation loss improved less than ``plateau_tolerance`` since the previous validation,
      or the training loss is flat over the trend window (at the first validation: the loss does not beat
      always predicting the mean target);
    - ``learning``: otherwise.

    Call :meth:`observe_train` with every logged training loss and :meth:`assess` with every validation's metrics.
    """

    def __init__(self, window: int = 12, plateau_tolerance: float = 0.01, divergence_tolerance: float = 0.25,
                 collapse_std_ratio: float = 0.1, collapse_rank_ratio: float = 0.25) -> None:
        self.trend_detector = TrendDetector(window, plateau_tolerance, divergence_tolerance)
        self.plateau_tolerance, self.divergence_tolerance = plateau_tolerance, divergence_tolerance
        self.collapse_std_ratio, self.collapse_rank_ratio = collapse_std_ratio, collapse_rank_ratio
        self.trend: Trend | None = None
        self.previous: tuple[int, float] | None = None
        self.best = math.inf

    def observe_train(self, loss: float, lr: float | None = None) -> None:
        self.trend = self.trend_detector.update(loss, lr=lr)

    def assess(self, step: int, metrics: dict[str, float]) -> LearningStatus:
        loss = metrics.get("val/loss", math.nan)
        facts = [f"val/loss {loss:.4g}"]
        change = math.nan
        if self.previous is not None and math.isfinite(loss) and self.previous[1]:
            change = (loss - self.previous[1]) / abs(self.previous[1])
            facts[0] += f" ({100 * change:+.1f}% since step {self.previous[0]})"
        ratio = metrics.get("val/mean_target_ratio", math.nan)
        facts.append(f"{ratio:.3g}x the loss of predicting the mean target")
        std_ratio = metrics.get("val/std_ratio", math.nan)
        rank, target_rank = metrics.get("val/effective_rank", math.nan), metrics.get("val/target_effective_rank", math.nan)
        facts.append(f"prediction spread {std_ratio:.3g} of the targets', effective rank {rank:.3g} of {target_rank:.3g}")
        trend = self.trend
        if trend is not None and trend.status != "warming_up":
            facts.append(f"training loss {trend.status} ({100 * trend.relative_change:+.1f}% over the last "
                         f"{self.trend_detector.window} logs)")
        if not math.isfinite(loss) or loss > self.best * (1 + self.divergence_tolerance) or (
                trend is not None and trend.status == "diverging"):
            status = "diverging"
        elif std_ratio < self.collapse_std_ratio and rank < self.collapse_rank_ratio * target_rank:
            status = "collapsing"
        elif change > -self.plateau_tolerance or (trend is not None and trend.status == "plateau") or (
                math.isnan(change) and not ratio < 1):  # nothing to compare with yet: it must beat the mean target
            status = "plateau"
        else:
            status = "learning"
        if math.isfinite(loss):
            self.best = min(self.best, loss)
            self.previous = (step, loss)
        return LearningStatus(step, status, f"step {step}: {status}: " + "; ".join(facts) + ".")
