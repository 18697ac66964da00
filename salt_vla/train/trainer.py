"""The training loop: the same for every :class:`~salt_vla.train.tasks.TrainingTask`.

What it does per optimizer step: set the learning rate and weight decay from their (registered) schedules, run
``optim.accumulate`` micro-batches forward and backward through the task (bf16 autocast on CUDA; DDP gradient
sync only on the last micro-batch), clip gradients, step fused AdamW. The hot loop never waits for the GPU:
losses stay on the device and are reduced once per ``log_every`` steps, and the finiteness check of step ``k``
is read from pinned memory while step ``k + 1`` runs. Every validation ends with one plain-language line saying
whether the run is learning (:class:`~salt_vla.diagnostics.LearningMonitor`).

A run directory holds ``config.yaml`` (the resolved configuration), ``metrics.jsonl``, ``learning.log``,
``checkpoints/{last,best}`` (see :mod:`salt_vla.train.state`) and ``summary.json``. Re-running with the same
``out_dir`` resumes from ``checkpoints/last`` exactly: same batches, masks, RNG streams and optimizer state, so
the loss sequence continues as if never interrupted. What is trained, on which targets, lives in the task.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import salt_vla.train.build as build
from salt_vla.config import dump_yaml, to_dict
from salt_vla.diagnostics import LearningMonitor, LearningStatus
from salt_vla.io import atomic_write_text
from salt_vla.optim import make_adamw
from salt_vla.seeding import seed_everything
from salt_vla.train.checkpointing import restore_checkpoint, save_checkpoint
from salt_vla.train.config import TrainConfig
from salt_vla.train.distributed import all_reduce_mean, barrier, init_distributed, unwrap, wrap_model
from salt_vla.train.metrics import MetricSinks, train_metrics, write_summary
from salt_vla.train.state import TrainingState, recover_checkpoints
from salt_vla.train.tasks import TaskContext, TrainBatch, TrainingTask, create_task


class NonFiniteLossError(RuntimeError):
    """The loss or the gradients became NaN/Inf; the message names the step and the last good checkpoint."""


@dataclass
class TrainResult:
    """What a finished run leaves: where, how far, its last metrics and its last learning verdict."""

    out_dir: Path
    state: TrainingState
    last_checkpoint: Path | None
    best_checkpoint: Path | None
    train_metrics: dict[str, float] = field(default_factory=dict)
    val_metrics: dict[str, float] = field(default_factory=dict)
    learning: LearningStatus | None = None


class Trainer:
    """Build everything from a :class:`TrainConfig`; :meth:`fit` trains (resuming when a checkpoint exists).

    Args:
        config: the run's configuration.
        resume: continue from ``<out_dir>/checkpoints/last`` when it exists (``False`` refuses to overwrite it).
        allow_config_change: resume even though fields such as the learning rate or the number of steps differ
            from the checkpoint's run (they are listed in a warning). A change to the model or its targets is
            always refused (see :mod:`salt_vla.train.changes`).
        task: the objective (default: :func:`salt_vla.train.tasks.create_task` of ``config``).
    """

    def __init__(self, config: TrainConfig, *, resume: bool = True, allow_config_change: bool = False,
                 task: TrainingTask | None = None) -> None:
        self.config = cfg = config
        self.allow_config_change = allow_config_change
        self.info = init_distributed(cfg.run.device)
        self.device = self.info.device
        self.out_dir = Path(cfg.run.out_dir)
        self.checkpoint_dir = self.out_dir / "checkpoints"
        if self.info.is_main:  # before looking for `last`: a save killed mid-swap left it as `last.old`
            for action in recover_checkpoints(self.checkpoint_dir):
                warnings.warn(f"Checkpoint recovery: {action}.", stacklevel=2)
        barrier(self.info)
        if not resume and (self.checkpoint_dir / "last").exists():
            raise FileExistsError(f"{self.checkpoint_dir / 'last'} exists; resume, or choose another run.out_dir.")
        seed_everything(cfg.run.seed)  # identical initial weights on every rank (FSDP does not broadcast them)
        self.autocast, self.precision = build.autocast_factory(cfg.run.precision, self.device)
        self.base_train_set, base_val, clip_shape = build.base_datasets(cfg)
        self.task = task if task is not None else create_task(cfg)
        parts = self.task.build(TaskContext(cfg, self.info, self.base_train_set, base_val, clip_shape,
                                            lambda tensor: all_reduce_mean(tensor, self.info)))
        self.train_set, self.val_set, self.grid = parts.train_set, parts.val_set, parts.grid
        model = parts.model.to(self.device)
        self.model = wrap_model(model, self.info, "fsdp" if cfg.run.distributed == "fsdp" else "ddp")
        # After wrapping: FSDP replaces the parameters with sharded ones.
        self.optimizer = make_adamw(unwrap(self.model), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay,
                                    betas=cfg.optim.betas, eps=cfg.optim.eps, fused=cfg.optim.fused)
        if cfg.run.compile:
            build.compile_blocks(unwrap(self.model))
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        seed_everything(cfg.run.seed * 1000 + self.info.rank + 1)  # per-rank streams (drop path) from here on
        self.lr_schedule, self.wd_schedule = build.make_schedules(cfg)
        loaders = build.make_loaders(cfg, self.info, self.train_set, self.val_set, self.grid)
        self.train_loader, self.sampler, self.val_loader = loaders.train, loaders.sampler, loaders.val

        self.state = TrainingState()
        self.finite = build.FiniteCheck(self.device)
        self.monitor = LearningMonitor()
        self.learning: LearningStatus | None = None
        self.last_good_checkpoint: Path | None = None
        resumed = resume and (self.checkpoint_dir / "last").exists()
        if resumed:
            self.state = restore_checkpoint(self.checkpoint_dir / "last", self.task, self.model, self.optimizer,
                                               self.config, self.info, allow_config_change=allow_config_change)
            self.last_good_checkpoint = self.checkpoint_dir / "last"
        if self.info.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.out_dir / "config.yaml", dump_yaml(cfg))
        self.sinks = MetricSinks(self.out_dir, enabled=self.info.is_main, tensorboard=cfg.run.tensorboard,
                                 wandb_project=cfg.run.wandb_project, config=to_dict(cfg),
                                 resume_step=self.state.step if resumed else None)

    # -- one step -------------------------------------------------------------------------------------
    def _set_hyperparameters(self, step: int) -> tuple[float, float]:
        lr, wd = self.lr_schedule(step), self.wd_schedule(step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
            if group.get("name") == "decay":
                group["weight_decay"] = wd
        return lr, wd

    def backward(self, micro_batches: list[TrainBatch | Mapping[str, Any]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward and backward over ``micro_batches`` (gradients averaged; DDP syncs on the last one).

        Returns the mean loss and the mean per-mask-set losses, on the device.
        """
        count = len(micro_batches)
        loss_sum, per_set_sum = None, None
        for index, batch in enumerate(micro_batches):
            batch = TrainBatch.of(batch)
            no_sync = getattr(self.model, "no_sync", None)
            sync_context = no_sync() if (no_sync is not None and index < count - 1) else contextlib.nullcontext()
            with sync_context:
                with self.autocast():
                    output = self.task.loss(self.model, batch.to(self.device, non_blocking=True))
                (output.loss / count).backward()
            per_set = torch.stack([p.detach().float() for p in output.per_set])
            loss_sum = output.loss.detach().float() if loss_sum is None else loss_sum + output.loss.detach().float()
            per_set_sum = per_set if per_set_sum is None else per_set_sum + per_set
        return loss_sum / count, per_set_sum / count

    def _optimizer_step(self, micro_batches: list[TrainBatch | Mapping[str, Any]]) -> torch.Tensor:
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
    def _batches(self) -> Iterator[TrainBatch]:
        """Batches from the current position onward, across epochs, updating the data position."""
        while True:
            self.sampler.set_position(self.state.epoch, self.state.batch)
            self.train_set.set_epoch(self.state.epoch)
            for batch in self.train_loader:
                self.state.batch += 1
                yield TrainBatch.from_collated(batch)
            self.state.epoch += 1
            self.state.batch = 0

    def fit(self) -> TrainResult:
        """Train until ``run.steps``; validate, log and checkpoint on the configured intervals."""
        from tqdm.auto import tqdm

        cfg, state = self.config, self.state
        progress = tqdm(total=cfg.run.steps, initial=state.step, disable=not (self.info.is_main and cfg.run.progress),
                        desc=f"{self.task.name} ({self.precision}, {self.device.type})", unit="step", dynamic_ncols=True)
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
                    state.data_skipped += int(micro[-1].skipped)
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
                    self._report_learning(val_metrics, progress)
                    self._maybe_save_best(val_metrics)
                if final or (cfg.run.checkpoint_every and state.step % cfg.run.checkpoint_every == 0):
                    self.save("last")
        finally:
            progress.close()
            self._release_loader_workers()
        self.sinks.close()
        best = self.checkpoint_dir / "best"
        result = TrainResult(self.out_dir, state, self.checkpoint_dir / "last", best if best.exists() else None,
                             train_metrics, val_metrics, self.learning)
        if self.info.is_main and train_metrics:  # a call on a finished run trains nothing and keeps its summary
            write_summary(self.out_dir, self.task.name, state, train_metrics, val_metrics, self.learning)
        return result

    def _release_loader_workers(self) -> None:
        """Stop persistent loader workers now; shut down later from ``__del__``, each waited out a 5 s timeout."""
        iterator = getattr(self.train_loader, "_iterator", None)
        if iterator is not None and hasattr(iterator, "_shutdown_workers"):
            iterator._shutdown_workers()
            self.train_loader._iterator = None

    def _log(self, window: list[torch.Tensor], lr: float, wd: float, seconds: float, data_wait: float,
             clips_per_step: int) -> dict[str, float]:
        stacked = torch.stack(window)
        finite_rows = stacked[torch.isfinite(stacked[:, 0])]
        mean = (finite_rows if len(finite_rows) else stacked).mean(dim=0)
        values = all_reduce_mean(mean, self.info).tolist()  # the one host-device sync per log interval
        failed = self.finite.failed_step()
        if failed is not None:
            self._nonfinite(failed)
        self.monitor.observe_train(values[0], lr)
        metrics = train_metrics(values, lr, wd, len(window) * clips_per_step, seconds, data_wait, self.state,
                                self.device)
        self.sinks.log(self.state.step, metrics)
        return metrics

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """The task's validation metrics on ``run.val_batches`` fixed batches (same views and masks every time)."""
        if self.val_loader is None:
            raise RuntimeError("No validation data: set data.val_args.")
        model = unwrap(self.model)
        model.eval()

        def batches() -> Iterator[TrainBatch]:
            for index, batch in enumerate(self.val_loader):
                if index >= self.config.run.val_batches:
                    break
                yield TrainBatch.from_collated(batch).to(self.device)

        with self.autocast():
            metrics = self.task.validate(model, batches())
        model.train()
        return metrics

    def _report_learning(self, metrics: dict[str, float], progress: Any) -> None:
        """Log the validation metrics and one line saying whether the run is learning (log, metrics, summary)."""
        self.learning = self.monitor.assess(self.state.step, metrics)
        self.sinks.log(self.state.step, {**metrics, "learning/status": self.learning.code})
        self.sinks.log_line("learning.log", self.learning.line, progress.write if self.config.run.progress else None)

    # -- checkpoints ----------------------------------------------------------------------------------
    def save(self, tag: str) -> Path:
        """Write ``checkpoints/<tag>`` (collective under distributed training; rank 0 writes)."""
        failed = self.finite.failed_step()  # never save weights updated by a non-finite step
        if failed is not None:
            self._nonfinite(failed)
        path = save_checkpoint(self.checkpoint_dir / tag, self.task, self.model, self.optimizer, self.state,
                                  self.config, self.info)
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


def train(config: TrainConfig, *, resume: bool = True, allow_config_change: bool = False,
          task: TrainingTask | None = None) -> TrainResult:
    """Build a :class:`Trainer` for ``config`` and run it (arguments as :class:`Trainer`'s)."""
    return Trainer(config, resume=resume, allow_config_change=allow_config_change, task=task).fit()
