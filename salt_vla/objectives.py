"""Latent-prediction objectives, computed on target tokens only.

SALT's paper uses L1; many practitioners use MSE. Targets can be layer-normalised per token (no affine
parameters) before the comparison, which makes the loss scale independent of the teacher's latent
scale (and, on pixels, gives VideoMAE's per-patch normalised targets).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from salt_vla.names import LOSSES, TARGET_NORMS

LOSS_KINDS = tuple(LOSSES)


@dataclass(frozen=True)
class LatentLoss:
    """``loss(pred [B, K, D], target [B, K, D]) -> scalar`` averaged over tokens (and channels).

    Attributes:
        kind: ``"l1"`` (paper), ``"mse"``, ``"smooth_l1"`` (Huber with ``beta``), ``"cosine"`` (1 - cos per token).
        target_norm: ``"none"`` or ``"layer_norm"`` (per-token, no affine) applied to targets.
        beta: smooth-L1 transition point.
    """

    kind: str = "l1"
    target_norm: str = "none"
    beta: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in LOSS_KINDS:
            raise ValueError(f"LatentLoss kind {self.kind!r} is not one of {', '.join(LOSS_KINDS)}.")
        if self.target_norm not in TARGET_NORMS:
            raise ValueError(f"LatentLoss target_norm {self.target_norm!r} is not one of {', '.join(TARGET_NORMS)}.")
        if self.beta <= 0:
            raise ValueError(f"LatentLoss beta must be > 0; got {self.beta}.")

    def normalize_targets(self, target: torch.Tensor) -> torch.Tensor:
        if self.target_norm == "layer_norm":
            return F.layer_norm(target.float(), target.shape[-1:], eps=1e-6)
        return target

    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.shape != target.shape:
            raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} shapes differ; the "
                             "predictor's out_dim must equal the teacher's latent_dim.")
        pred = pred.float()
        target = self.normalize_targets(target).float()
        if self.kind == "l1":
            return F.l1_loss(pred, target)
        if self.kind == "mse":
            return F.mse_loss(pred, target)
        if self.kind == "smooth_l1":
            return F.smooth_l1_loss(pred, target, beta=self.beta)
        return (1.0 - F.cosine_similarity(pred, target, dim=-1)).mean()
