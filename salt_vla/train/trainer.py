"""The trainer: stage 1 (pixel teacher) and stage 2 (SALT student) with one loop.

What it does per optimizer step: set the learning rate and weight decay from their schedules, run
``optim.accumulate`` micro-batches forward and backward (bf16 autocast on CUDA; DDP gradient sync only
on the last micro-batch), clip gradients, step fused AdamW. The hot loop never waits for the GPU:
losses stay on the device and are reduced once per ``log_every`` steps, and the finiteness check of
step ``k`` is read from pinned memory while step ``k + 1`` runs.

A run directory holds ``config.yaml`` (the resolved configuration), ``metrics.jsonl``,
``checkpoints/{last,best}`` (see :mod:`salt_vla.train.state`) and ``summary.json``. Re-running with
the same ``out_dir`` resumes from ``checkpoints/last`` exactly: same batches, masks, RNG streams and
optimizer state, so the loss sequence continues as if never interrupted.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

import salt_vla
from salt_vla.config import dump_yaml, to_dict
from salt_vla.io import atomic_write_json, atomic_write_text
from salt_vla.models import MaskedPredictor, PixelMAE, PixelMAEConfig, Predictor, PredictorConfig
from salt_vla.objectives import LatentLoss
from salt_vla.optim import make_adamw
from salt_vla.schedules import CosineRamp, WarmupCosine
from salt_vla.train.changes import check_resume
from salt_vla.train.config import TrainConfig
from salt_vla.train.distributed import (
    DistInfo,
    all_reduce_mean,
    barrier,
    full_state_dicts,
    init_distributed,
    load_full_state_dicts,
    unwrap,
    wrap_model,
)
from salt_vla.train.metrics import MetricSinks, json_safe
from salt_vla.train.sampler import ResumableBatchSampler
from salt_vla.train.state import (
    TrainingState,
    capture_rng,
    load_checkpoint,
    recover_checkpoints,
    restore_rng,
    save_checkpoint,
)


class NonFiniteLossError(RuntimeError):
    """The loss or the gradients became NaN/Inf; the message names the step and the last good checkpoint."""


@dataclass
class TrainResult:
    """What a finished run leaves: where, how far, and its last metrics."""

    out_dir: Path
    state: TrainingState
    last_checkpoint: Path | None
    best_checkpoint: Path | None
    train_metrics: dict[str, float] = field(default_factory=dict)
    val_metrics: dict[str, float] = field(default_factory=dict)


class _FiniteCheck:
    """Finiteness of step ``k`` copied to pinned host memory, read while step ``k + 1`` is queued."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.pending: tuple[int, torch.Tensor, Any] | None = None

    def record(self, step: int, finite: torch.Tensor) -> None:
        if self.cuda:
            host = torch.empty((), dtype=torch.bool, pin_memory=True)
            host.copy_(finite, non_blocking=True)
            event = torch.cuda.Event()
            event.record()
            self.pending = (step, host, event)
        else:
            self.pending = (step, finite, None)

    def failed_step(self) -> int | None:
        """The recorded step if it was not finite (waits only for that step, not later work)."""
        if self.pending is None:
            return None
        step, flag, event = self.pending
        if event is not None:
            event.synchronize()
        self.pending = None
        return None if bool(flag) else step


def _compile_blocks(model: nn.Module) -> None:
    """Regional compilation: each transformer block is compiled on its own (fused norms, GELU, residuals).

    Token counts differ between mask sets and batches; compiling blocks rather than the whole model keeps the
    graphs small and the recompilations cheap (dynamic shapes after the first recompile).
    """
    from timm.models.vision_transformer import Block

    for module in model.modules():
        if isinstance(module, Block):
            module.compile()


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Trainer:
    """Build everything from a :class:`TrainConfig`; :meth:`fit` trains (resuming when a checkpoint exists).

    Args:
        config: the run's configuration.
        resume: continue from ``<out_dir>/checkpoints/last`` when it exists (``False`` refuses to overwrite it).
        allow_config_change: resume even though fields such as the learning rate or the number of steps differ
            from the checkpoint's run (they are listed in a warning). A change to the model or its targets is
            always refused (see :mod:`salt_vla.train.changes`).
    """

    def __init__(self, config: TrainConfig, *, resume: bool = True, allow_config_change: bool = False) -> None:
        self.config = config
        self.allow_config_change = allow_config_change
        cfg = config
        self.info: DistInfo = init_distributed(cfg.run.device)
        self.device = self.info.device
        self.out_dir = Path(cfg.run.out_dir)
        self.checkpoint_dir = self.out_dir / "checkpoints"
        if self.info.is_main:  # before looking for `last`: a save killed mid-swap left it as `last.old`
            for action in recover_checkpoints(self.checkpoint_dir):
                warnings.warn(f"Checkpoint recovery: {action}.", stacklevel=2)
        barrier(self.info)
        if not resume and (self.checkpoint_dir / "last").exists():
            raise FileExistsError(f"{self.checkpoint_dir / 'last'} exists; resume, or choose another run.out_dir.")
        _seed_everything(cfg.run.seed)  # identical initial weights on every rank (FSDP does not broadcast them)
        use_bf16 = cfg.run.precision == "bf16" or (cfg.run.precision == "auto" and self.device.type == "cuda")
        self.autocast = (lambda: torch.autocast(self.device.type, dtype=torch.bfloat16)) if use_bf16 \
            else contextlib.nullcontext
        self.precision = "bf16" if use_bf16 else "fp32"

        self.base_train_set = salt_vla.create_dataset(cfg.data.dataset, **cfg.data.args)
        base_val = None
        if cfg.data.val_args is not None:
            base_val = salt_vla.create_dataset(cfg.data.dataset, **{**cfg.data.args, **cfg.data.val_args})
        first = self.base_train_set.item(0, epoch=0)
        self.clip_shape = tuple(first["video"].shape)  # (C, T, H, W)

        student = salt_vla.create_encoder(cfg.student.name, pretrained=cfg.student.pretrained,
                                          grad_checkpointing=cfg.student.grad_checkpointing, **cfg.student.args)
        self.grid = student.grid(*self.clip_shape[1:])
        # Caches are opened once the student's grid is known: one check lists every difference at once.
        self.train_set = self._cached(self.base_train_set, cfg.data.latent_cache, cfg.data.clip_cache)
        self.val_set = None if base_val is None else self._cached(base_val, cfg.data.val_latent_cache, None)
        self.pinned_loader = cfg.data.loader == "pinned_threads" or (cfg.data.loader == "auto" and bool(cfg.data.clip_cache))
        if not self.pinned_loader:
            self._check_shared_memory(first)
        self.teacher = None
        if cfg.stage == "teacher":
            model: nn.Module = PixelMAE(PixelMAEConfig(student.config, cfg.decoder.dim, cfg.decoder.depth,
                                                       cfg.decoder.num_heads), encoder=student)
            self.model_names = ["teacher"]
        else:
            latent_dim = self._target_width(student)
            predictor = Predictor(PredictorConfig(
                in_dim=student.embed_dim, out_dim=latent_dim, dim=cfg.predictor.dim, depth=cfg.predictor.depth,
                num_heads=cfg.predictor.num_heads, num_mask_tokens=cfg.predictor.num_mask_tokens))
            model = MaskedPredictor(student, predictor, LatentLoss(cfg.loss.kind, cfg.loss.target_norm))
            self.model_names = ["student", "predictor"]
        model.to(self.device)
        self.model = wrap_model(model, self.info, "fsdp" if cfg.run.distributed == "fsdp" else "ddp")
        # After wrapping: FSDP replaces the parameters with sharded ones.
        self.optimizer = make_adamw(unwrap(self.model), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay,
                                    betas=cfg.optim.betas, eps=cfg.optim.eps)
        if cfg.run.compile:
            _compile_blocks(unwrap(self.model))
        self.forward_model = self.model
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        _seed_everything(cfg.run.seed * 1000 + self.info.rank + 1)  # per-rank streams (drop path) from here on
        self.lr_schedule = WarmupCosine(cfg.optim.lr, cfg.run.steps, cfg.optim.warmup_steps, cfg.optim.min_lr,
                                        cfg.optim.start_lr)
        self.wd_schedule = CosineRamp(cfg.optim.weight_decay, cfg.optim.weight_decay_end, cfg.run.steps)

        masker = salt_vla.create_masker(cfg.masks.name, **cfg.masks.args)
        from salt_vla.data import MaskCollate

        self.sampler = ResumableBatchSampler(len(self.train_set), cfg.data.batch_size, seed=cfg.run.seed,
                                             rank=self.info.rank, world_size=self.info.world_size)
        collate = MaskCollate(masker, self.grid, cfg.run.seed)
        if self.pinned_loader:
            from salt_vla.train.pinned_loader import PinnedCacheLoader

            self.train_loader = PinnedCacheLoader(self.train_set, self.sampler, collate, threads=cfg.data.loader_threads,
                                                  prefetch=cfg.data.prefetch_factor * 2,
                                                  pin=cfg.data.pin_memory and self.device.type == "cuda")
        else:
            self.train_loader = self._loader(self.train_set, self.sampler, collate)
        self.val_loader = None
        if self.val_set is not None:
            val_sampler = ResumableBatchSampler(len(self.val_set), cfg.data.batch_size, seed=cfg.run.seed,
                                                shuffle=False, rank=self.info.rank, world_size=self.info.world_size)
            self.val_loader = self._loader(self.val_set, val_sampler, MaskCollate(masker, self.grid, cfg.run.seed + 1),
                                           persistent=False)

        self.state = TrainingState()
        self.finite = _FiniteCheck(self.device)
        self.last_good_checkpoint: Path | None = None
        resumed = resume and (self.checkpoint_dir / "last").exists()
        if resumed:
            self._restore(self.checkpoint_dir / "last")
        if self.info.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.out_dir / "config.yaml", dump_yaml(cfg))
        self.sinks = MetricSinks(self.out_dir, enabled=self.info.is_main, tensorboard=cfg.run.tensorboard,
                                 wandb_project=cfg.run.wandb_project, config=to_dict(cfg), resume=resumed)

    # -- construction helpers -------------------------------------------------------------------------
    def _cached(self, base: Any, latent_cache: str | None, clip_cache: str | None) -> Any:
        """``base``, or ``base`` served from its latent (and clip) cache: checked to fit the run, checksums verified."""
        if latent_cache is None:
            return base
        from salt_vla.cache import CachedClipDataset, ClipCache, LatentCache, cache_requirements

        data = self.config.data
        cache = LatentCache(latent_cache)
        cache.check_compatible(cache_requirements(dataset=base, grid=self.grid, dtype=data.latent_dtype,
                                                  teacher=data.latent_teacher))
        clips = ClipCache(clip_cache) if clip_cache else None
        if not data.skip_cache_verify:  # once per start, each rank its share of the shards
            for opened in (cache, clips):
                if opened is not None:
                    opened.verify(rank=self.info.rank, world_size=self.info.world_size)
        return CachedClipDataset(base, cache, clips=clips)

    def _check_shared_memory(self, item: dict[str, Any]) -> None:
        """Refuse a DataLoader setup whose in-flight batches would not fit /dev/shm (the seed runs' bus errors)."""
        from salt_vla.data import check_shared_memory, nbytes

        data = self.config.data
        per_item = nbytes(item["video"])
        if data.latent_cache:
            per_item += nbytes(self.train_set[0]["latents"])
        if data.num_workers > 0:
            check_shared_memory(per_item * data.batch_size, data.num_workers, data.prefetch_factor)

    def _target_width(self, student: nn.Module) -> int:
        """Latent width of the targets; checks teacher/cache grids against the student's before any step."""
        cfg = self.config
        if cfg.data.latent_cache:  # checked against the run when opened (see _cached)
            return int(self.train_set.cache.metadata["latent_dim"])
        with torch.random.fork_rng(devices=[]):  # building the teacher must not shift the student/predictor init
            self.teacher = salt_vla.create_teacher(cfg.teacher.name, **cfg.teacher.args)
        if isinstance(self.teacher, nn.Module):
            self.teacher.to(self.device)
        teacher_grid = self.teacher.grid(*self.clip_shape[1:])
        if tuple(self.teacher.patch_size) != tuple(student.patch_size) or tuple(teacher_grid) != tuple(self.grid):
            raise ValueError(
                f"Teacher and student token grids disagree for {self.clip_shape[1:]} clips: teacher patch "
                f"{tuple(self.teacher.patch_size)} -> grid {tuple(teacher_grid)}, student patch {tuple(student.patch_size)} "
                f"-> grid {tuple(self.grid)}. Give the student the teacher's tubelet and patch size."
            )
        return int(self.teacher.latent_dim)

    def _loader(self, dataset: Any, sampler: ResumableBatchSampler, collate: Any, persistent: bool = True) -> DataLoader:
        workers = self.config.data.num_workers
        kwargs: dict[str, Any] = {}
        if workers > 0:
            kwargs = {"persistent_workers": persistent, "prefetch_factor": self.config.data.prefetch_factor}
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=workers,
                          pin_memory=self.config.data.pin_memory and self.device.type == "cuda", **kwargs)

    # -- one step -------------------------------------------------------------------------------------
    def _forward(self, batch: dict[str, Any]) -> Any:
        video = batch["video"].to(self.device, non_blocking=True)
        masks = batch["masks"].to(self.device, non_blocking=True)
        if self.config.stage == "teacher":
            return self.forward_model(video, masks)
        if "latents" in batch:
            targets = batch["latents"].to(self.device, non_blocking=True)
        else:
            targets = self.teacher.targets(video)
        return self.forward_model(video, masks, targets)

    def _set_hyperparameters(self, step: int) -> tuple[float, float]:
        lr, wd = self.lr_schedule(step), self.wd_schedule(step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
            if group.get("name") == "decay":
                group["weight_decay"] = wd
        return lr, wd

    def backward(self, micro_batches: list[dict[str, Any]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward and backward over ``micro_batches`` (gradients averaged; DDP syncs on the last one).

        Returns the mean loss and the mean per-mask-set losses, on the device.
        """
        count = len(micro_batches)
        loss_sum, per_set_sum = None, None
        for index, batch in enumerate(micro_batches):
            last = index == count - 1
            no_sync = getattr(self.model, "no_sync", None)
            sync_context = no_sync() if (no_sync is not None and not last) else contextlib.nullcontext()
            with sync_context:
                with self.autocast():
                    output = self._forward(batch)
                (output.loss / count).backward()
            per_set = torch.stack([p.detach().float() for p in output.per_set])
            loss_sum = output.loss.detach().float() if loss_sum is None else loss_sum + output.loss.detach().float()
            per_set_sum = per_set if per_set_sum is None else per_set_sum + per_set
        return loss_sum / count, per_set_sum / count

    def _optimizer_step(self, micro_batches: list[dict[str, Any]]) -> torch.Tensor:
        """One optimizer step; returns ``[loss, grad_norm, loss_set_0, ...]`` on the device (no sync)."""
        cfg = self.config
        loss, per_set = self.backward(micro_batches)
        max_norm = cfg.optim.grad_clip if cfg.optim.grad_clip > 0 else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params, max_norm)
        if hasattr(grad_norm, "full_tensor"):  # FSDP2: a DTensor reduced over the shards
            grad_norm = grad_norm.full_tensor()
        grad_norm = grad_norm.float()
        finite = torch.isfinite(loss) & torch.isfinite(grad_norm)
        failed = self.finite.failed_step()  # the previous step's check: it finished long ago
        if failed is not None:
            self._nonfinite(failed)
        if cfg.run.on_nonfinite == "skip":
            if not bool(finite):  # the one per-step sync, only in skip mode
                self.optimizer.zero_grad(set_to_none=True)
                self.state.nonfinite_skipped += 1
                return torch.cat([torch.stack([loss, grad_norm]), per_set])
        else:
            self.finite.record(self.state.step + 1, finite)  # the step number the metrics log
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return torch.cat([torch.stack([loss, grad_norm]), per_set])

    def _nonfinite(self, step: int) -> None:
        where = str(self.last_good_checkpoint) if self.last_good_checkpoint else "none yet"
        raise NonFiniteLossError(
            f"Non-finite loss or gradient at step {step}. Last good checkpoint: {where}. Lower optim.lr, check the "
            "data for NaNs, or set run.on_nonfinite=skip to skip such steps."
        )

    # -- the loop -------------------------------------------------------------------------------------
    def _batches(self) -> Iterator[dict[str, Any]]:
        """Batches from the current position onward, across epochs, updating the data position."""
        while True:
            self.sampler.set_position(self.state.epoch, self.state.batch)
            self.train_set.set_epoch(self.state.epoch)
            for batch in self.train_loader:
                self.state.batch += 1
                yield batch
            self.state.epoch += 1
            self.state.batch = 0

    def fit(self) -> TrainResult:
        """Train until ``run.steps``; validate, log and checkpoint on the configured intervals."""
        from tqdm.auto import tqdm

        cfg = self.config
        state = self.state
        progress = tqdm(total=cfg.run.steps, initial=state.step, disable=not (self.info.is_main and cfg.run.progress),
                        desc=f"{cfg.stage} ({self.precision}, {self.device.type})", unit="step", dynamic_ncols=True)
        window: list[torch.Tensor] = []
        window_start, data_wait = time.perf_counter(), 0.0
        clips_per_step = cfg.data.batch_size * cfg.optim.accumulate * self.info.world_size
        train_metrics: dict[str, float] = {}
        val_metrics: dict[str, float] = {}
        batches = self._batches()
        self.model.train()
        try:
            while state.step < cfg.run.steps:
                micro = []
                for _ in range(cfg.optim.accumulate):
                    waited = time.perf_counter()
                    micro.append(next(batches))
                    data_wait += time.perf_counter() - waited
                    state.data_skipped += int(micro[-1]["skipped"])
                lr, wd = self._set_hyperparameters(state.step)
                window.append(self._optimizer_step(micro))
                state.step += 1
                state.samples_seen += clips_per_step
                progress.update(1)
                final = state.step == cfg.run.steps
                if window and (final or (cfg.run.log_every and state.step % cfg.run.log_every == 0)):
                    train_metrics = self._log(window, lr, wd, time.perf_counter() - window_start, data_wait, clips_per_step)
                    progress.set_postfix(loss=f"{train_metrics['train/loss']:.4f}", lr=f"{lr:.2e}",
                                         clips_s=f"{train_metrics['train/clips_per_s']:.1f}")
                    window, window_start, data_wait = [], time.perf_counter(), 0.0
                if self.val_loader is not None and (final or (cfg.run.val_every and state.step % cfg.run.val_every == 0)):
                    val_metrics = self.validate()
                    self.sinks.log(state.step, val_metrics)
                    self._maybe_save_best(val_metrics)
                if final or (cfg.run.checkpoint_every and state.step % cfg.run.checkpoint_every == 0):
                    self.save("last")
        finally:
            progress.close()
        self.sinks.close()
        result = TrainResult(self.out_dir, state, self.checkpoint_dir / "last",
                             self.checkpoint_dir / "best" if (self.checkpoint_dir / "best").exists() else None,
                             train_metrics, val_metrics)
        if self.info.is_main:
            atomic_write_json(self.out_dir / "summary.json", {
                "stage": cfg.stage, "steps": state.step, "samples_seen": state.samples_seen,
                "best_metric": state.best_metric, "best_step": state.best_step,
                "nonfinite_skipped": state.nonfinite_skipped, "data_skipped": state.data_skipped,
                "train": json_safe(train_metrics), "val": json_safe(val_metrics),
            })
        return result

    def _log(self, window: list[torch.Tensor], lr: float, wd: float, seconds: float, data_wait: float,
             clips_per_step: int) -> dict[str, float]:
        stacked = torch.stack(window)
        finite_rows = stacked[torch.isfinite(stacked[:, 0])]
        mean = (finite_rows if len(finite_rows) else stacked).mean(dim=0)
        mean = all_reduce_mean(mean, self.info)
        values = mean.tolist()  # the one host-device sync per log interval
        failed = self.finite.failed_step()
        if failed is not None:
            self._nonfinite(failed)
        metrics = {
            "train/loss": values[0],
            "train/grad_norm": values[1],
            **{f"train/loss_set{i}": v for i, v in enumerate(values[2:])},
            "train/lr": lr,
            "train/weight_decay": wd,
            "train/clips_per_s": len(window) * clips_per_step / max(seconds, 1e-9),
            "train/data_wait_fraction": data_wait / max(seconds, 1e-9),
            "train/epoch": float(self.state.epoch),
            "train/nonfinite_skipped": float(self.state.nonfinite_skipped),
            "data/skipped_videos": float(self.state.data_skipped),
        }
        if self.device.type == "cuda":
            metrics["train/max_memory_gb"] = torch.cuda.max_memory_allocated(self.device) / 2**30
        self.sinks.log(self.state.step, metrics)
        return metrics

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Validation loss and learning diagnostics on ``run.val_batches`` fixed batches (same views and masks)."""
        from salt_vla.diagnostics import mean_target_loss, prediction_diagnostics

        if self.val_loader is None:
            raise RuntimeError("No validation data: set data.val_args.")
        model = unwrap(self.model)
        model.eval()
        inner = model.model if isinstance(model, PixelMAE) else model
        losses, baselines, predictions, targets = [], [], [], []
        for index, batch in enumerate(self.val_loader):
            if index >= self.config.run.val_batches:
                break
            with self.autocast():
                output = (model(batch["video"].to(self.device), batch["masks"].to(self.device), keep_outputs=True)
                          if self.config.stage == "teacher" else self._forward_for_eval(model, batch))
            losses.append(output.loss.float())
            baselines.append(torch.stack([mean_target_loss(t, inner.loss) for t in output.targets]).mean())
            for prediction, target in zip(output.predictions, output.targets):
                keep = slice(0, 256)  # enough tokens per set and batch for stable statistics
                predictions.append(prediction[:, keep].float().reshape(-1, prediction.shape[-1]).cpu())
                targets.append(target[:, keep].float().reshape(-1, target.shape[-1]).cpu())
        model.train()
        loss = float(all_reduce_mean(torch.stack(losses).mean(), self.info))
        baseline = float(all_reduce_mean(torch.stack(baselines).mean(), self.info))
        diagnostics = prediction_diagnostics(torch.cat(predictions), torch.cat(targets), inner.loss)
        metrics = {f"val/{k}": v for k, v in diagnostics.items() if not k.startswith(("loss", "mean_target"))}
        # Loss and its trivial baseline over every target token of the validation batches.
        metrics.update({"val/loss": loss, "val/mean_target_loss": baseline,
                        "val/mean_target_ratio": loss / baseline if baseline > 0 else math.nan})
        return metrics

    def _forward_for_eval(self, model: nn.Module, batch: dict[str, Any]) -> Any:
        video = batch["video"].to(self.device)
        targets = batch["latents"].to(self.device) if "latents" in batch else self.teacher.targets(video)
        return model(video, batch["masks"].to(self.device), targets, keep_outputs=True)

    # -- checkpoints ----------------------------------------------------------------------------------
    @property
    def _sharded(self) -> bool:
        return self.config.run.distributed == "fsdp" and self.info.enabled

    def _split(self, full: dict[str, torch.Tensor]) -> dict[str, tuple[nn.Module, dict[str, torch.Tensor]]]:
        """The full model state dict as one ``(module, state dict)`` per saved model directory."""
        model = unwrap(self.model)
        if self.config.stage == "teacher":
            return {"teacher": (model, full)}

        def part(prefix: str) -> dict[str, torch.Tensor]:
            return {k[len(prefix):]: v for k, v in full.items() if k.startswith(prefix)}

        return {"student": (model.student, part("student.")), "predictor": (model.predictor, part("predictor."))}

    def save(self, tag: str) -> Path:
        """Write ``checkpoints/<tag>`` (collective under distributed training; rank 0 writes)."""
        failed = self.finite.failed_step()  # never save weights updated by a non-finite step
        if failed is not None:
            self._nonfinite(failed)
        model_state, optimizer_state = full_state_dicts(self.model, self.optimizer, sharded=self._sharded)
        models = self._split(model_state)
        rng = [capture_rng()]
        if self.info.enabled:
            import torch.distributed as dist

            gathered: list[Any] = [None] * self.info.world_size
            dist.all_gather_object(gathered, rng[0])
            rng = gathered
        path = self.checkpoint_dir / tag
        if self.info.is_main:
            metadata = {"training_config": to_dict(self.config), "step": self.state.step, "stage": self.config.stage}
            save_checkpoint(path, models=models, optimizer_state=optimizer_state, state=self.state, rng=rng,
                            metadata=metadata, run=self._run_identity())
        barrier(self.info)
        if tag == "last":
            self.last_good_checkpoint = path
        return path

    def _maybe_save_best(self, metrics: dict[str, float]) -> None:
        key = self.config.run.best_metric
        if key not in metrics:
            warnings.warn(f"run.best_metric={key!r} is not among the validation metrics {sorted(metrics)}; "
                          "no best checkpoint is kept.", stacklevel=2)
            return
        value = metrics[key]
        if math.isfinite(value) and (self.state.best_metric is None or value < self.state.best_metric):
            self.state.best_metric, self.state.best_step = value, self.state.step
            self.save("best")

    def _run_identity(self) -> dict[str, Any]:
        """What ``run.json`` stores: the resolved configuration and the identity of the targets."""
        targets: dict[str, Any] = {}
        if self.config.data.latent_cache:
            metadata = self.train_set.cache.metadata
            targets = {"teacher": (metadata.get("teacher") or {}).get("fingerprint"), "grid": list(metadata["grid"]),
                       "latent_dim": int(metadata["latent_dim"]), "dtype": metadata["dtype"]}
        elif self.teacher is not None:
            fingerprint = getattr(self.teacher, "fingerprint", None)
            targets = {"teacher": fingerprint() if callable(fingerprint) else None, "grid": list(self.grid),
                       "latent_dim": int(self.teacher.latent_dim)}
        return json.loads(json.dumps({"config": to_dict(self.config), "targets": targets}, default=str))

    def _restore(self, path: Path) -> None:
        loaded = load_checkpoint(path, self.model_names)
        if loaded.run is not None:
            changed = check_resume(loaded.run, self._run_identity(), checkpoint=str(path),
                                   allow_config_change=self.allow_config_change)
            if changed:
                warnings.warn(f"Resuming {path} with {len(changed)} changed setting(s) (--allow-config-change): "
                              + "; ".join(changed), stacklevel=2)
        model = unwrap(self.model)
        if self.config.stage == "teacher":
            full = loaded.models["teacher"]
        else:
            full = {**{f"student.{k}": v for k, v in loaded.models["student"].items()},
                    **{f"predictor.{k}": v for k, v in loaded.models["predictor"].items()}}
        from salt_vla.weights import check_state_dict

        check_state_dict(model, full, what=f"the model of {self.config.run.out_dir}",
                         hint="The checkpoint was trained with another architecture; use a new run.out_dir.")
        load_full_state_dicts(self.model, self.optimizer, full, loaded.optimizer_state, sharded=self._sharded)
        if len(loaded.rng) == self.info.world_size:
            restore_rng(loaded.rng[self.info.rank])
        else:
            warnings.warn(f"The checkpoint holds RNG states of {len(loaded.rng)} processes; this run has "
                          f"{self.info.world_size}. Data order and masks resume exactly; dropout noise does not.",
                          stacklevel=2)
        self.state = loaded.state
        self.last_good_checkpoint = path


def train(config: TrainConfig, *, resume: bool = True, allow_config_change: bool = False) -> TrainResult:
    """Build a :class:`Trainer` for ``config`` and run it (arguments as :class:`Trainer`'s)."""
    return Trainer(config, resume=resume, allow_config_change=allow_config_change).fit()
