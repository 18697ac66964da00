"""Training tasks: what a stage trains, on which targets, with which loss. The loop (:mod:`salt_vla.train.trainer`)
knows none of it.

A :class:`TrainingTask` builds its modules from the run's configuration, turns a :class:`TrainBatch` into a
:class:`~salt_vla.models.PredictionOutput` (targets from a latent cache or a live teacher, produced in one
place: :meth:`SaltStudentTask.targets`), computes its validation metrics and says which modules a checkpoint
saves. Two tasks ship, one per ``stage``:

- ``teacher`` (:class:`PixelTeacherTask`): stage 1, a :class:`~salt_vla.models.PixelMAE` reconstructing
  per-patch normalised pixels at masked positions.
- ``salt`` (:class:`SaltStudentTask`): stage 2, a student encoder and a narrow predictor regressing a frozen
  teacher's latents at masked positions.

Both take their loss from the registry (``loss: {name, args}``); the loop takes the schedules from it. A new
objective is a new class with the same methods, passed as ``Trainer(config, task=...)`` or added to
:data:`TASKS` under a new ``stage`` name.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import torch
from torch import nn

import salt_vla
from salt_vla.masking import MaskBatch

if TYPE_CHECKING:
    from salt_vla.models import PredictionOutput
    from salt_vla.train.config import LossSection, TrainConfig
    from salt_vla.train.distributed import DistInfo

StateDicts = dict[str, tuple[nn.Module, dict[str, torch.Tensor]]]
"""``name -> (module, state dict)``: one saved model directory per name."""


@dataclass
class TrainBatch:
    """One collated batch: ``video [B, C, T, H, W]``, its ``masks``, cached ``latents [B, N, D]`` if any, and how
    many unreadable videos the loader replaced (``skipped``)."""

    video: torch.Tensor
    masks: MaskBatch
    latents: torch.Tensor | None = None
    skipped: int = 0

    @classmethod
    def from_collated(cls, batch: Mapping[str, Any]) -> TrainBatch:
        """From the dict :class:`~salt_vla.data.MaskCollate` returns."""
        return cls(batch["video"], batch["masks"], batch.get("latents"), int(batch.get("skipped", 0)))

    @classmethod
    def of(cls, batch: TrainBatch | Mapping[str, Any]) -> TrainBatch:
        """``batch`` itself, or a collated dict as a :class:`TrainBatch`."""
        return batch if isinstance(batch, TrainBatch) else cls.from_collated(batch)

    def to(self, device: torch.device, non_blocking: bool = False) -> TrainBatch:
        latents = None if self.latents is None else self.latents.to(device, non_blocking=non_blocking)
        return TrainBatch(self.video.to(device, non_blocking=non_blocking),
                          self.masks.to(device, non_blocking=non_blocking), latents, self.skipped)


@dataclass
class TaskContext:
    """What the loop hands a task to build from: the configuration, where it runs, and the base datasets."""

    config: TrainConfig
    info: DistInfo
    train_set: Any
    val_set: Any | None
    clip_shape: tuple[int, ...]
    """``(C, T, H, W)`` of one training clip."""
    reduce_mean: Callable[[torch.Tensor], torch.Tensor]
    """Mean over ranks (identity without distributed training)."""

    @property
    def device(self) -> torch.device:
        return self.info.device


@dataclass
class TaskParts:
    """What :meth:`TrainingTask.build` returns: the one module the loop optimizes, the datasets it loads (the
    context's, or wrapped, e.g. served from a cache) and the token grid the masks are drawn on."""

    model: nn.Module
    train_set: Any
    val_set: Any | None
    grid: tuple[int, int, int]


@runtime_checkable
class TrainingTask(Protocol):
    """One training objective."""

    name: str
    """Written to ``summary.json`` and checkpoints (``stage`` for the shipped tasks)."""
    module_names: tuple[str, ...]
    """The model directories a checkpoint holds (``student``, ``predictor``; ``teacher``)."""

    def build(self, context: TaskContext) -> TaskParts:
        """Build the trainable modules and the datasets (in a fixed order: it consumes the seeded random stream)."""
        ...

    def loss(self, model: nn.Module, batch: TrainBatch) -> PredictionOutput:
        """Forward ``batch`` (already on the device) through ``model``; ``loss`` and ``per_set`` on the device."""
        ...

    def validate(self, model: nn.Module, batches: Iterable[TrainBatch]) -> dict[str, float]:
        """``val/...`` metrics over ``batches`` (called under autocast and ``no_grad``, ``model`` in eval mode)."""
        ...

    def split_state(self, model: nn.Module, full: dict[str, torch.Tensor]) -> StateDicts:
        """The full state dict of ``model`` as one entry per name of :attr:`module_names`."""
        ...

    def join_state(self, parts: Mapping[str, dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """Inverse of :meth:`split_state` (state dicts only)."""
        ...

    def targets_identity(self) -> dict[str, Any]:
        """What defines the targets (teacher fingerprint, grid, width), compared when a run resumes."""
        ...


def create_objective(section: LossSection, default: tuple[str, dict[str, Any]]) -> Any:
    """The loss of ``loss: {name, args}`` from the registry; ``default`` when no name is given."""
    name, args = (section.name, dict(section.args or {})) if section.name is not None else default
    return salt_vla.create_loss(name, **args)


def masked_prediction_metrics(outputs: Iterable[PredictionOutput], objective: Any,
                              reduce_mean: Callable[[torch.Tensor], torch.Tensor]) -> dict[str, float]:
    """Validation loss, its mean-target baseline and the prediction diagnostics of :mod:`salt_vla.diagnostics`."""
    from salt_vla.diagnostics import mean_target_loss, prediction_diagnostics

    losses, baselines, predictions, targets = [], [], [], []
    for output in outputs:
        losses.append(output.loss.float())
        baselines.append(torch.stack([mean_target_loss(t, objective) for t in output.targets]).mean())
        for prediction, target in zip(output.predictions, output.targets):
            keep = slice(0, 256)  # enough tokens per set and batch for stable statistics
            predictions.append(prediction[:, keep].float().reshape(-1, prediction.shape[-1]).cpu())
            targets.append(target[:, keep].float().reshape(-1, target.shape[-1]).cpu())
    loss = float(reduce_mean(torch.stack(losses).mean()))
    baseline = float(reduce_mean(torch.stack(baselines).mean()))
    diagnostics = prediction_diagnostics(torch.cat(predictions), torch.cat(targets), objective)
    metrics = {f"val/{k}": v for k, v in diagnostics.items() if not k.startswith(("loss", "mean_target"))}
    # Loss and its trivial baseline over every target token of the validation batches.
    metrics.update({"val/loss": loss, "val/mean_target_loss": baseline,
                    "val/mean_target_ratio": loss / baseline if baseline > 0 else math.nan})
    return metrics


def _encoder(config: TrainConfig) -> nn.Module:
    student = config.student
    return salt_vla.create_encoder(student.name, pretrained=student.pretrained,
                                   grad_checkpointing=student.grad_checkpointing, **student.args)


def _check_same_targets(val_cache: Any, train_cache: Any) -> None:
    """Refuse a validation cache whose latents come from another teacher (or width, type) than the training
    cache's: its validation loss would measure the student against targets it was never trained on."""
    from salt_vla.cache.compat import check, compat_fields

    train = compat_fields(train_cache.metadata)
    check(compat_fields(val_cache.metadata), {key: train[key] for key in ("teacher", "latent_dim", "dtype")},
          what=f"Validation cache {val_cache.path} (data.val_latent_cache)", labels=("validation cache", "training cache"),
          fix=f"Build the validation cache with the teacher of the training cache {train_cache.path} "
              f"(data.latent_cache), or point data.val_latent_cache at one that was.")


class PixelTeacherTask:
    """Stage 1: an encoder and a light pixel decoder (:class:`~salt_vla.models.PixelMAE`) reconstruct the
    per-patch normalised pixels of the masked tubelets. Default loss: ``mse`` on layer-normalised targets."""

    name = "teacher"
    module_names = ("teacher",)
    default_loss: tuple[str, dict[str, Any]] = ("mse", {"target_norm": "layer_norm"})

    def build(self, context: TaskContext) -> TaskParts:
        from salt_vla.models import PixelMAE, PixelMAEConfig

        cfg = context.config
        encoder = _encoder(cfg)
        self.grid = tuple(encoder.grid(*context.clip_shape[1:]))
        self.reduce_mean = context.reduce_mean
        self.objective = create_objective(cfg.loss, self.default_loss)
        model = PixelMAE(PixelMAEConfig(encoder.config, cfg.decoder.dim, cfg.decoder.depth, cfg.decoder.num_heads),
                         encoder=encoder, loss=self.objective)
        return TaskParts(model, context.train_set, context.val_set, self.grid)

    def loss(self, model: nn.Module, batch: TrainBatch) -> PredictionOutput:
        return model(batch.video, batch.masks)

    def validate(self, model: nn.Module, batches: Iterable[TrainBatch]) -> dict[str, float]:
        return masked_prediction_metrics((model(b.video, b.masks, keep_outputs=True) for b in batches),
                                         self.objective, self.reduce_mean)

    def split_state(self, model: nn.Module, full: dict[str, torch.Tensor]) -> StateDicts:
        return {"teacher": (model, full)}

    def join_state(self, parts: Mapping[str, dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        return dict(parts["teacher"])

    def targets_identity(self) -> dict[str, Any]:
        return {}  # pixels: nothing outside the configuration defines them


class SaltStudentTask:
    """Stage 2: a student encoder and a narrow predictor regress a frozen teacher's latents at masked positions.

    Targets come from ``data.latent_cache`` (the teacher is never built) or from the live ``teacher``; either
    way through :meth:`targets`. Default loss: ``loss.kind`` (``l1``) with ``loss.target_norm``.
    """

    name = "salt"
    module_names = ("student", "predictor")

    def __init__(self) -> None:
        self.teacher: Any = None
        self.cache: Any = None

    def build(self, context: TaskContext) -> TaskParts:
        from salt_vla.models import MaskedPredictor, Predictor, PredictorConfig

        cfg = context.config
        self.device, self.reduce_mean = context.device, context.reduce_mean
        student = _encoder(cfg)
        self.grid = tuple(student.grid(*context.clip_shape[1:]))
        # Caches are opened once the student's grid is known: one check lists every difference at once.
        train_set = self._cached(context, context.train_set, cfg.data.latent_cache, cfg.data.clip_cache)
        self.cache = getattr(train_set, "cache", None)
        val_set = None if context.val_set is None else self._cached(context, context.val_set,
                                                                     cfg.data.val_latent_cache, None)
        latent_dim = self._target_width(context, student)
        predictor = Predictor(PredictorConfig(
            in_dim=student.embed_dim, out_dim=latent_dim, dim=cfg.predictor.dim, depth=cfg.predictor.depth,
            num_heads=cfg.predictor.num_heads, num_mask_tokens=cfg.predictor.num_mask_tokens))
        self.objective = create_objective(cfg.loss, (cfg.loss.kind, {"target_norm": cfg.loss.target_norm}))
        return TaskParts(MaskedPredictor(student, predictor, self.objective), train_set, val_set, self.grid)

    def _cached(self, context: TaskContext, base: Any, latent_cache: str | None, clip_cache: str | None) -> Any:
        """``base``, or ``base`` served from its latent (and clip) cache: checked to fit the run, checksums verified."""
        if latent_cache is None:
            return base
        from salt_vla.cache import CachedClipDataset, ClipCache, LatentCache, cache_requirements

        data = context.config.data
        cache = LatentCache(latent_cache)
        cache.check_compatible(cache_requirements(dataset=base, grid=self.grid, dtype=data.latent_dtype,
                                                  teacher=data.latent_teacher))
        if self.cache is not None:  # the validation cache: its targets must be the training cache's
            _check_same_targets(cache, self.cache)
        clips = ClipCache(clip_cache) if clip_cache else None
        if not data.skip_cache_verify:  # once per start, each rank its share of the shards
            for opened in (cache, clips):
                if opened is not None:
                    opened.verify(rank=context.info.rank, world_size=context.info.world_size)
        return CachedClipDataset(base, cache, clips=clips)

    def _target_width(self, context: TaskContext, student: nn.Module) -> int:
        """Latent width of the targets; checks teacher/cache grids against the student's before any step."""
        cfg = context.config
        if self.cache is not None:  # checked against the run when opened (see _cached)
            return int(self.cache.metadata["latent_dim"])
        with torch.random.fork_rng(devices=[]):  # building the teacher must not shift the student/predictor init
            self.teacher = salt_vla.create_teacher(cfg.teacher.name, **cfg.teacher.args)
        if isinstance(self.teacher, nn.Module):
            self.teacher.to(context.device)
        clip = context.clip_shape[1:]
        teacher_grid = tuple(self.teacher.grid(*clip))
        if tuple(self.teacher.patch_size) != tuple(student.patch_size) or teacher_grid != self.grid:
            raise ValueError(
                f"Teacher and student token grids disagree for {clip} clips: teacher patch "
                f"{tuple(self.teacher.patch_size)} -> grid {teacher_grid}, student patch {tuple(student.patch_size)} "
                f"-> grid {self.grid}. Give the student the teacher's tubelet and patch size."
            )
        return int(self.teacher.latent_dim)

    def targets(self, batch: TrainBatch) -> torch.Tensor:
        """The batch's latent targets ``[B, N, D]``: read from the cache, or computed by the live teacher."""
        return batch.latents if batch.latents is not None else self.teacher.targets(batch.video)

    def loss(self, model: nn.Module, batch: TrainBatch) -> PredictionOutput:
        return model(batch.video, batch.masks, self.targets(batch))

    def validate(self, model: nn.Module, batches: Iterable[TrainBatch]) -> dict[str, float]:
        return masked_prediction_metrics((model(b.video, b.masks, self.targets(b), keep_outputs=True) for b in batches),
                                         self.objective, self.reduce_mean)

    def split_state(self, model: nn.Module, full: dict[str, torch.Tensor]) -> StateDicts:
        def part(prefix: str) -> dict[str, torch.Tensor]:
            return {k[len(prefix):]: v for k, v in full.items() if k.startswith(prefix)}

        return {"student": (model.student, part("student.")), "predictor": (model.predictor, part("predictor."))}

    def join_state(self, parts: Mapping[str, dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        return {f"{name}.{k}": v for name in self.module_names for k, v in parts[name].items()}

    def targets_identity(self) -> dict[str, Any]:
        if self.cache is not None:
            metadata = self.cache.metadata
            return {"teacher": (metadata.get("teacher") or {}).get("fingerprint"), "grid": list(metadata["grid"]),
                    "latent_dim": int(metadata["latent_dim"]), "dtype": metadata["dtype"]}
        fingerprint = getattr(self.teacher, "fingerprint", None)
        return {"teacher": fingerprint() if callable(fingerprint) else None, "grid": list(self.grid),
                "latent_dim": int(self.teacher.latent_dim)}


TASKS: dict[str, Callable[[], TrainingTask]] = {"teacher": PixelTeacherTask, "salt": SaltStudentTask}
"""``stage`` -> task. A new stage is one more entry here (and in ``TrainConfig.stage``)."""


def create_task(config: TrainConfig) -> TrainingTask:
    """The task of ``config.stage``."""
    return TASKS[config.stage]()
